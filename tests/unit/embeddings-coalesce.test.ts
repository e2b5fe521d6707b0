// Embeddings coalescing (src/engines/embeddings/service.ts): concurrent requests to one model run as a few jobs that
// share batches, yet each request gets exactly what it gets alone — its vectors (within 1e-6), its token count, its
// `dimensions` — and a bad request among them fails alone with its own 400 while the others succeed. The real
// engine: onnxruntime-web on wasm in Node, the built-in tiny embedder. There is no fixed coalescing wait: a lone request
// on an idle engine starts on the event loop's next turn, and requests that arrive while a job runs share the next one.
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { HearthError } from '../../src/api/errors';
import { deferred } from '../../src/core/deferred';
import type { Ort } from '../../src/core/session';
import { EmbeddingsService } from '../../src/engines/embeddings/service';
import type { EmbedRequest, EmbedResult } from '../../src/engines/embeddings/types';
import { CATALOG } from '../../src/models/catalog';
import { filesFor } from '../../src/models/store';
import { ROOT } from './node-api';

ort.env.wasm.numThreads = 1;
const entry = CATALOG.find((e) => e.id === 'hearth/tiny-embed')!;
const read = (role: string) => new Uint8Array(readFileSync(`${ROOT}public/${filesFor(entry).find((f) => f.role === role)!.url}`));
const json = (role: string) => JSON.parse(new TextDecoder().decode(read(role))) as object;
const files = async () => ({ model: read('model'), tokenizer: json('tokenizer'), tokenizerConfig: json('tokenizer_config') });
const service = (coalesceMs?: number) => new EmbeddingsService(ort, files, ['wasm'], coalesceMs);
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * onnxruntime-web whose sessions record each run's batch size and hold every run until `open` is called: the real
 * sessions compute, this only decides when, so a test can send requests while a job is known to be running.
 */
function gatedOrt(): { ort: Ort; batches: number[]; open(): void } {
  const gate = deferred();
  const batches: number[] = [];
  const InferenceSession = {
    create: async (...args: Parameters<typeof ort.InferenceSession.create>) => {
      const session = await ort.InferenceSession.create(...args);
      return new Proxy(session, {
        get(target, key) {
          if (key === 'run') {
            return async (feeds: Record<string, ort.Tensor>) => {
              batches.push(Object.values(feeds)[0].dims[0]);
              await gate.promise;
              return target.run(feeds);
            };
          }
          const value = Reflect.get(target, key, target) as unknown;
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
    },
  };
  return { ort: { ...ort, InferenceSession } as unknown as Ort, batches, open: () => gate.resolve() };
}

const requests: EmbedRequest[] = Array.from({ length: 32 }, (_, i) => ({
  entry,
  inputs: i % 5 === 0
    ? [{ text: `sentence number ${i} about the hearth`, param: 'input[0]' }, { text: 'a second, longer sentence that pads the batch further', param: 'input[1]' }]
    : i % 7 === 0 ? [{ ids: [101, 200 + i, 102], param: 'input' }] : [{ text: `request ${i}: ${'word '.repeat(i % 9)}`, param: 'input' }],
  dimensions: i % 3 === 0 ? 16 : undefined,
}));

describe('embeddings coalescing', () => {
  it('32 concurrent requests run as a few jobs and each equals its one-by-one answer', async () => {
    const alone = service(0);
    const expected: EmbedResult[] = [];
    for (const r of requests) expected.push(await alone.run(r));
    expect(alone.counters.jobs).toBe(32);

    const together = service();
    await together.load(entry);
    const got = await Promise.all(requests.map((r) => together.run(r)));
    expect(together.counters.requests).toBe(32);
    expect(together.counters.jobs).toBeLessThanOrEqual(4);
    got.forEach((g, i) => {
      expect(g.promptTokens).toBe(expected[i].promptTokens);
      expect(g.vectors.length).toBe(requests[i].inputs.length);
      g.vectors.forEach((v, k) => {
        expect(v.length).toBe(requests[i].dimensions ?? 64);
        v.forEach((x, d) => expect(Math.abs(x - expected[i].vectors[k][d])).toBeLessThan(1e-6));
      });
    });
  });

  it('a bad request among concurrent ones fails alone with its own 400', async () => {
    const s = service();
    await s.load(entry);
    const bad: EmbedRequest[] = [
      { entry, inputs: [{ text: 'fine', param: 'input' }], dimensions: 1000 },
      { entry, inputs: [{ ids: [101, 999999999], param: 'input[3]' }] },
    ];
    const settled = await Promise.allSettled([requests[1], bad[0], requests[2], bad[1], requests[4]].map((r) => s.run(r)));
    expect(settled.map((x) => x.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
    const errors = settled.filter((x): x is PromiseRejectedResult => x.status === 'rejected').map((x) => x.reason as HearthError);
    expect(errors[0]).toBeInstanceOf(HearthError);
    expect(errors[0].status).toBe(400);
    expect(errors[0].param).toBe('dimensions');
    expect(errors[1].status).toBe(400);
    expect(errors[1].param).toBe('input[3][1]');
    expect(s.counters.jobs).toBe(1);
  });

  it('a lone request on an idle engine starts at once; requests that arrive while it runs share the next job', async () => {
    const alone = service(0);
    const expected: EmbedResult[] = [];
    for (const r of requests.slice(1, 5)) expected.push(await alone.run(r));

    const gated = gatedOrt();
    const s = new EmbeddingsService(gated.ort, files, ['wasm']);
    await s.load(entry);
    const first = s.run(requests[1]);
    // No timer: two turns of the event loop and its run has begun (on its own, nothing else was waiting).
    await nextTurn();
    await nextTurn();
    expect(gated.batches).toEqual([1]);
    // Three more arrive one turn apart while that run is held: they wait, then run together as one job.
    const later: Promise<EmbedResult>[] = [];
    for (const r of requests.slice(2, 5)) {
      later.push(s.run(r));
      await nextTurn();
    }
    expect(gated.batches).toEqual([1]);
    gated.open();
    const got = await Promise.all([first, ...later]);
    expect(gated.batches).toEqual([1, 3]);
    expect(s.counters).toEqual({ jobs: 2, requests: 4 });
    got.forEach((g, i) => {
      expect(g.promptTokens).toBe(expected[i].promptTokens);
      g.vectors.forEach((v, k) => v.forEach((x, d) => expect(Math.abs(x - expected[i].vectors[k][d])).toBeLessThan(1e-6)));
    });
  });
});

// Embeddings coalescing (src/engines/embeddings/service.ts): concurrent requests to one model run as a few jobs that
// share batches, yet each request gets exactly what it gets alone — its vectors (within 1e-6), its token count, its
// `dimensions` — and a bad request among them fails alone with its own 400 while the others succeed. The real
// engine: onnxruntime-web on wasm in Node, the built-in tiny embedder.
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { HearthError } from '../../src/api/errors';
import { EmbeddingsService } from '../../src/engines/embeddings/service';
import type { EmbedRequest, EmbedResult } from '../../src/engines/embeddings/types';
import { CATALOG } from '../../src/models/catalog';
import { filesFor } from '../../src/models/store';
import { ROOT } from './node-api';

ort.env.wasm.numThreads = 1;
const entry = CATALOG.find((e) => e.id === 'hearth/tiny-embed')!;
const read = (role: string) => new Uint8Array(readFileSync(`${ROOT}public/${filesFor(entry).find((f) => f.role === role)!.url}`));
const json = (role: string) => JSON.parse(new TextDecoder().decode(read(role))) as object;
const service = (coalesceMs?: number) => new EmbeddingsService(ort, async () => ({ model: read('model'), tokenizer: json('tokenizer'), tokenizerConfig: json('tokenizer_config') }), ['wasm'], coalesceMs);

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
});

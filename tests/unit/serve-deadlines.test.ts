// `hearth serve`'s job deadlines (src/server/deadlines.ts). The wrapper's rules over scripted engines (a whole-answer
// job that never settles, a stream that stops producing, a stream whose engine took long to start it), each exact;
// then the real server over HTTP with the real tiny Llama on onnxruntime-node: it applies the browser host's default
// deadlines, and with a 5 ms LLM deadline a long streamed generation ends with the same 503 `deadline_exceeded` event
// the browser sends, while the server goes on serving.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HearthError } from '../../src/core/errors';
import type { Engines } from '../../src/engines/kinds';
import { DEFAULT_DEADLINES, engineDeadlines } from '../../src/runtime/deadlines';
import { withDeadlines } from '../../src/server/deadlines';
import { startServer, type RunningServer } from '../../src/server/serve';
import { ROOT } from './node-api';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A scripted engine: `run` as given; records the signal each job got. */
function scripted(run: (signal: AbortSignal) => Promise<unknown>) {
  const signals: AbortSignal[] = [];
  return {
    signals,
    engine: { run: (_job: unknown, signal: AbortSignal) => (signals.push(signal), run(signal)), loaded: async () => [] },
  };
}

function enginesWith(kind: 'embeddings' | 'llm', engine: object, ms: number) {
  const engines = { embeddings: async () => engine, llm: async () => engine, image: async () => engine, loaded: async () => new Map() } as unknown as Engines;
  return withDeadlines(engines, engineDeadlines({ [kind]: ms }))[kind]() as Promise<{ run(job: unknown, signal?: AbortSignal): Promise<unknown> }>;
}

function expectDeadline(e: unknown) {
  expect(e).toBeInstanceOf(HearthError);
  expect((e as HearthError).toJSON().error).toMatchObject({ type: 'service_unavailable', code: 'deadline_exceeded' });
  expect((e as HearthError).status).toBe(503);
}

describe('in-process job deadlines', () => {
  it('a whole-answer job (embeddings) that never settles is answered 503 deadline_exceeded at its deadline, counted from the call; the engine sees its signal aborted', async () => {
    const { engine, signals } = scripted(() => new Promise(() => undefined));
    const timed = await enginesWith('embeddings', engine, 100);
    const t0 = Date.now();
    const error = await timed.run({}).catch((e: unknown) => e);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(95);
    expect(Date.now() - t0).toBeLessThan(1000);
    expectDeadline(error);
    expect(signals[0].aborted).toBe(true);
    expectDeadline(signals[0].reason);
  });

  it('a stream (LLM) is timed from its first read, not from the call: an engine slow to start it is not cut; one that stops producing is ended with the error and cancelled', async () => {
    let cancelled: unknown;
    const { engine, signals } = scripted(async () => {
      await sleep(150); // longer than the deadline: its turn, its model's load
      let n = 0;
      return new ReadableStream<number>({
        async pull(controller) {
          if (n < 2) controller.enqueue(n++);
          else await new Promise(() => undefined); // stuck
        },
        cancel(reason) { cancelled = reason; },
      }, { highWaterMark: 0 });
    });
    const timed = await enginesWith('llm', engine, 100);
    const stream = await timed.run({}) as ReadableStream<number>;
    const reader = stream.getReader();
    const t0 = Date.now();
    expect(await reader.read()).toEqual({ value: 0, done: false });
    expect(await reader.read()).toEqual({ value: 1, done: false });
    const error = await reader.read().catch((e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(1000);
    expectDeadline(error);
    expectDeadline(cancelled);
    expect(signals[0].aborted).toBe(true);
  });

  it('a job within its deadline is untouched, and a caller\'s abort reaches the engine', async () => {
    const { engine, signals } = scripted(async () => 42);
    const timed = await enginesWith('embeddings', engine, 100);
    expect(await timed.run({})).toBe(42);
    await sleep(150);
    expect(signals[0].aborted).toBe(false);
    const caller = new AbortController();
    const { engine: slow, signals: slowSignals } = scripted((signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))));
    const run = (await enginesWith('embeddings', slow, 10_000)).run({}, caller.signal);
    caller.abort(new Error('client gone'));
    await expect(run).rejects.toThrow('client gone');
    expect(slowSignals[0].aborted).toBe(true);
  });
});

describe('hearth serve applies them', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({ port: 0, modelDir: `${ROOT}public`, models: ['hearth/tiny-llama', 'hearth/tiny-embed'], deadlines: { llm: 5 } });
  });
  afterAll(() => server?.close());

  it('the browser host\'s defaults unless overridden', async () => {
    expect(server.deadlines).toEqual({ ...DEFAULT_DEADLINES, llm: 5 });
    const defaults = await startServer({ port: 0, modelDir: `${ROOT}public`, models: ['hearth/tiny-embed'] });
    try {
      expect(defaults.deadlines).toEqual(DEFAULT_DEADLINES);
    } finally {
      await defaults.close();
    }
  });

  it('a streamed generation past its LLM deadline ends with the 503 deadline_exceeded event; the server goes on serving', async () => {
    const res = await fetch(`${server.baseURL}/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'Hi!' }], stream: true, max_tokens: 200, ignore_eos: true, temperature: 0 }),
    });
    expect(res.status).toBe(200);
    const events = (await res.text()).split('\n\n').filter(Boolean);
    const last = events.at(-1)!;
    expect(last.startsWith('data: {"error"'), last).toBe(true);
    expect(JSON.parse(last.slice('data: '.length)).error).toMatchObject({ type: 'service_unavailable', code: 'deadline_exceeded' });
    expect(events.length).toBeLessThan(200);
    const embed = await fetch(`${server.baseURL}/embeddings`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'hearth/tiny-embed', input: 'still here' }),
    });
    expect(embed.status).toBe(200);
  });
});

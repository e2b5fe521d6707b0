// The abort race at its root, on the real tiny Llama (onnxruntime-web wasm in Node): a stream cancelled while a
// session.run is in flight lets the next job in only after that run ends, and a model is never released mid-run.
// session.run is wrapped (a spy that adds 30 ms before the real run) to widen the window the race needs.
import * as ort from 'onnxruntime-web';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeApi, post } from './node-api';

const { handle, engines } = nodeApi();
const proto = (ort.InferenceSession as unknown as { prototype: unknown }).prototype as { run: (...a: unknown[]) => Promise<unknown>; release: () => Promise<void> };
const originalRun = proto.run;
const originalRelease = proto.release;
const log: string[] = [];
let active = 0;
let maxActive = 0;

beforeAll(() => {
  proto.run = async function (this: unknown, ...args: unknown[]) {
    active++;
    maxActive = Math.max(maxActive, active);
    log.push('run');
    try {
      await new Promise((r) => setTimeout(r, 30));
      return await originalRun.apply(this, args);
    } finally {
      active--;
      log.push('ran');
    }
  };
  proto.release = async function (this: unknown) {
    log.push(`release (${active} running)`);
    return originalRelease.apply(this);
  };
});
afterAll(() => {
  proto.run = originalRun;
  proto.release = originalRelease;
});

const chat = (extra: object = {}) => post('/chat/completions', {
  model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'Hi!' }], max_tokens: 30, temperature: 0, ...extra,
});

describe('abort then request', () => {
  it('the next job never runs beside the cancelled one\'s in-flight step', async () => {
    expect((await handle(chat({ max_tokens: 2 }))).status).toBe(200); // loaded
    for (let i = 0; i < 3; i++) {
      maxActive = 0;
      const res = await handle(chat({ stream: true }));
      const reader = res.body!.getReader();
      await reader.read();
      await reader.read();
      // Read on (as the host's read-ahead does), and cancel while that read's step is in flight.
      void reader.read().catch(() => undefined);
      while (active === 0) await new Promise((r) => setTimeout(r, 1));
      void reader.cancel();
      const next = await handle(chat({ max_tokens: 4 }));
      expect(next.status, await next.clone().text()).toBe(200);
      expect(maxActive).toBe(1);
    }
  });

  it('unloading a model mid-stream waits for the step in flight before releasing the session', async () => {
    log.length = 0;
    const res = await handle(chat({ stream: true }));
    const reader = res.body!.getReader();
    await reader.read();
    const reading = reader.read();
    while (active === 0) await new Promise((r) => setTimeout(r, 1));
    await (await engines.engine('llm')).unload('hearth/tiny-llama');
    expect(log.filter((l) => l.startsWith('release'))).toEqual(['release (0 running)']);
    await reading.catch(() => undefined);
    await reader.cancel().catch(() => undefined);
    // The model loads again for the next request.
    expect((await handle(chat({ max_tokens: 2 }))).status).toBe(200);
  });
});

describe('queue depth', () => {
  it('GET /models/{id} shows the jobs waiting for the model', async () => {
    const first = await handle(chat({ stream: true, max_tokens: 50 }));
    const reader = first.body!.getReader();
    await reader.read(); // the first job holds the model while its stream is open
    const waiting = [handle(chat({ max_tokens: 1 })), handle(chat({ max_tokens: 1 }))];
    const queued = async () => ((await (await handle(new Request('http://localhost/inference/v1/models/hearth/tiny-llama'))).json()) as { stats: { queued: number } }).stats.queued;
    for (let i = 0; i < 50 && (await queued()) < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await queued()).toBe(2);
    await reader.cancel();
    expect((await Promise.all(waiting)).map((r) => r.status)).toEqual([200, 200]);
    expect(await queued()).toBe(0);
  });
});

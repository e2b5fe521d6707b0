// Engine supervision in Chromium through the real service worker and real engines on the tiny fixtures: a job made
// to hang (the worker's event loop blocked by a test fault) ends at its deadline and the worker is restarted with 503
// engine_restarted for the job queued behind it, while the embeddings engine keeps serving; on WebGPU, device.destroy() in the engine worker answers the stream in flight with 503 device_lost and the engine
// comes back on a fresh device. Each case ends with a plain request that succeeds at once, and GET /models/{id} shows
// the restart. Faults are injected through the test-only /_hearth/engine-fault route (diagnostics hosts only).
// A worker crashing mid-stream is shown in Node (tests/unit/supervisor.test.ts) and five times over by `npm run soak`.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { launch, openHost, pageFetch, type HostPage } from './browser';
import { streamThenFault } from './faults';

const baseUrl = inject('baseUrl');
let browser: Browser;

beforeAll(async () => { browser = await launch(); });
afterAll(async () => { await browser?.close(); });

async function plainChat(host: HostPage) {
  const t0 = Date.now();
  const res = await pageFetch(host.page, '/inference/v1/chat/completions', {
    body: { model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'Hi!' }], temperature: 0, max_tokens: 2 },
  });
  return { ...res, ms: Date.now() - t0 };
}

async function engineState(host: HostPage) {
  const res = await pageFetch(host.page, '/inference/v1/models/hearth/tiny-llama');
  return (res.body as { engine: { restarts: number; running: boolean; last_restart: { reason: string } | null; jobs_in_flight: number } }).engine;
}

describe('a stuck engine worker (wasm)', () => {
  let host: HostPage;
  beforeAll(async () => {
    host = await openHost(browser, baseUrl, 'devices=wasm&diagnostics=1&deadlines=llm:4000,graceMs:1000');
    const warm = await plainChat(host);
    expect(warm.status, warm.text).toBe(200);
  }, 120_000);
  afterAll(async () => { await host?.context.close(); });

  it('a job made to hang ends at its deadline (503 deadline_exceeded); the worker, not answering, is restarted: the job queued behind it gets 503 engine_restarted; the next request succeeds at once', async () => {
    expect(await engineState(host)).toMatchObject({ restarts: 0, running: true });
    // While the LLM worker is stuck, the embeddings engine (a worker of its own) keeps serving.
    const [{ injected, outcome, queued }, embed] = await Promise.all([
      streamThenFault(host.page, 'hang', { ms: 60_000, queued: true, maxTokens: 240 }),
      new Promise((r) => setTimeout(r, 1500)).then(() => pageFetch(host.page, '/inference/v1/embeddings', { body: { model: 'hearth/tiny-embed', input: 'still here' } })),
    ]);
    expect(embed.status, embed.text).toBe(200);
    expect(injected.injected).toBe(true);
    expect(outcome.error, outcome.text.slice(-300)).toMatchObject({ type: 'service_unavailable', code: 'deadline_exceeded' });
    expect(outcome.endedAfterMs).toBeLessThan(8000); // the 4 s deadline counts from the stream's start
    expect(queued?.status).toBe(503);
    expect(queued?.body.error?.code).toBe('engine_restarted');
    expect(await engineState(host)).toMatchObject({ restarts: 1, last_restart: { reason: 'deadline' }, jobs_in_flight: 0 });
    const next = await plainChat(host);
    expect(next.status, next.text).toBe(200);
    // A fresh worker loads the model again: ~10 s on this 2-core machine when quiet, minutes of CPU under a load of 30.
    expect(next.ms).toBeLessThan(90_000);
    expect(await engineState(host)).toMatchObject({ restarts: 1, running: true });
  }, 240_000);
});

describe('GPU device loss (WebGPU, Hearth\'s WGSL decoder)', () => {
  it('device.destroy() in the engine worker: the stream in flight gets 503 device_lost, the engine comes back on a fresh device, the next request succeeds on WebGPU', async () => {
    const host = await openHost(browser, baseUrl, 'devices=webgpu&diagnostics=1');
    try {
      const warm = await plainChat(host);
      expect(warm.status, warm.text).toBe(200);
      expect(warm.headers['x-hearth-backend']).toBe('wgsl/webgpu');
      const { injected, outcome } = await streamThenFault(host.page, 'device-lost', { maxTokens: 100 });
      expect(injected.injected).toBe(true);
      expect(outcome.error, outcome.text.slice(-300)).toMatchObject({ type: 'service_unavailable', code: 'device_lost' });
      expect(outcome.endedAfterMs).toBeLessThan(1000);
      expect(await engineState(host)).toMatchObject({ restarts: 1, last_restart: { reason: 'device_lost' } });
      const next = await plainChat(host);
      expect(next.status, next.text).toBe(200);
      expect(next.headers['x-hearth-backend']).toBe('wgsl/webgpu');
    } finally {
      await host.context.close();
    }
  }, 180_000);
});

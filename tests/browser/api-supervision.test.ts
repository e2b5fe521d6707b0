// API worker supervision in Chromium, through the real service worker, with the default watch times (a ping each
// second; 5 s unanswered is a hang; 1 s after an `error` event for a crash): the host page's API worker (it runs
// handle() and owns the engine workers) is made to hang, to crash (close itself) and to throw an uncaught error while
// a stream crosses it, with requests queued behind. Faults come from the page's test hook
// (`hearth.apiWorker.injectFault`, diagnostics hosts only). A hang or a crash ends the stream with a last SSE event
// 503 `api_worker_restarted` and the queued requests (through the service worker and the in-page client) with the
// same error, within seconds; the host restarts the worker and hands the service worker its new port, so the next
// request succeeds, a registry edit made in the page before the fault still applies. The engine workers are the API
// worker's nested workers, so they end with it: the embeddings model is unloaded by a restart and loads again on its
// next request. An uncaught error that leaves the worker running restarts nothing: the model stays loaded.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { launch, openHost, pageFetch, type HostPage } from './browser';

const baseUrl = inject('baseUrl');
let browser: Browser;
let host: HostPage;

beforeAll(async () => {
  browser = await launch();
  host = await openHost(browser, baseUrl, 'devices=wasm&diagnostics=1');
  await host.page.evaluate(() => window.hearth!.registry.alias('my-embedder', 'hearth/tiny-embed'));
}, 120_000);
afterAll(async () => {
  await host?.context.close();
  await browser?.close();
});

interface Outcome {
  /** ms from the fault's injection to the stream's end. */
  streamEndedAfterMs: number;
  lastEvent: string;
  /** A request sent through the service worker after the fault, and one through the in-page client. */
  relayed: { status: number; code?: string; ms: number };
  inPage: { status: number; code?: string; ms: number };
}

/**
 * In the page: starts a tick stream through the service worker (it crosses the API worker), reads its first event,
 * injects `fault` into the API worker, sends two requests behind it (GET /models through the service worker and
 * through the in-page client) and reads the stream to its end.
 */
async function streamThenApiFault(fault: 'hang' | 'crash', runId: string): Promise<Outcome> {
  return host.page.evaluate(async ({ fault, runId }) => {
    const res = await fetch('/inference/v1/_hearth/stream', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ run_id: runId, count: 100000, interval_ms: 50 }),
    });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = decoder.decode((await reader.read()).value);
    if (!window.hearth!.apiWorker!.injectFault!(fault, 60_000)) throw new Error('fault not injected');
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 300)); // the fault has taken hold
    const timed = async (answer: Promise<Response>) => {
      const r = await answer;
      const body = await r.json() as { error?: { code: string } };
      return { status: r.status, code: body.error?.code, ms: Date.now() - t0 };
    };
    const relayed = timed(fetch('/inference/v1/models'));
    const inPage = timed(window.hearth!.handle(new Request('/inference/v1/models')));
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
    const streamEndedAfterMs = Date.now() - t0;
    return { streamEndedAfterMs, lastEvent: text.split('\n\n').filter(Boolean).at(-1) ?? '', relayed: await relayed, inPage: await inPage };
  }, { fault, runId });
}

const health = () => host.page.evaluate(() => window.hearth!.apiWorker!.health());

async function embedModel() {
  const res = await pageFetch(host.page, '/inference/v1/models/hearth/tiny-embed');
  return res.body as { loaded: boolean; engine: { running: boolean; restarts: number } };
}

async function embed(model = 'hearth/tiny-embed') {
  const t0 = Date.now();
  const res = await pageFetch(host.page, '/inference/v1/embeddings', { body: { model, input: 'still here' } });
  return { ...res, ms: Date.now() - t0 };
}

function expectRestartError(lastEvent: string) {
  expect(lastEvent.startsWith('data: {"error"'), lastEvent).toBe(true);
  expect(JSON.parse(lastEvent.slice('data: '.length)).error).toMatchObject({ type: 'service_unavailable', code: 'api_worker_restarted', param: null });
}

describe('a crashed or stuck API worker', () => {
  it('an uncaught error that leaves the API worker running restarts nothing: the loaded model stays, the next request is served at once', async () => {
    const warm = await embed();
    expect(warm.status, warm.text).toBe(200);
    expect(await embedModel()).toMatchObject({ loaded: true, engine: { running: true } });
    expect(await host.page.evaluate(() => window.hearth!.apiWorker!.injectFault!('throw'))).toBe(true);
    await host.page.waitForTimeout(2500); // past the crash check (1 s and a moment)
    expect(await health()).toMatchObject({ running: true, restarts: 0 });
    expect(await embedModel()).toMatchObject({ loaded: true, engine: { running: true, restarts: 0 } });
    const next = await embed();
    expect(next.status, next.text).toBe(200);
  });

  it('a hang: the stream in flight ends with 503 api_worker_restarted within seconds, so do requests sent behind it; the worker is restarted and the next request succeeds (the model loads again)', async () => {
    const outcome = await streamThenApiFault('hang', 'api-hang');
    expectRestartError(outcome.lastEvent);
    // Detection: a ping each second, 5 s unanswered, confirmed 250 ms later.
    expect(outcome.streamEndedAfterMs).toBeLessThan(10_000);
    expect(outcome.streamEndedAfterMs).toBeGreaterThan(3000);
    for (const queued of [outcome.relayed, outcome.inPage]) {
      expect(queued).toMatchObject({ status: 503, code: 'api_worker_restarted' });
      expect(queued.ms).toBeLessThan(10_000);
    }
    expect(await health()).toMatchObject({ running: true, restarts: 1, lastRestart: { reason: 'unresponsive' } });
    // The engine workers ended with the API worker: the model is not loaded until the next request loads it.
    expect(await embedModel()).toMatchObject({ loaded: false, engine: { running: false, restarts: 0 } });
    const next = await embed('my-embedder'); // the page's alias was replayed to the new worker
    expect(next.status, next.text).toBe(200);
    expect(next.ms).toBeLessThan(60_000);
    expect(await embedModel()).toMatchObject({ loaded: true });
  }, 120_000);

  it('a crash (the worker gone): the stream ends with 503 api_worker_restarted within ~1 s of the error, the next request succeeds', async () => {
    const outcome = await streamThenApiFault('crash', 'api-crash');
    expectRestartError(outcome.lastEvent);
    expect(outcome.streamEndedAfterMs).toBeLessThan(4000); // the hang path would take over 6 s
    expect(outcome.relayed).toMatchObject({ status: 503, code: 'api_worker_restarted' });
    expect(outcome.inPage).toMatchObject({ status: 503, code: 'api_worker_restarted' });
    expect(await health()).toMatchObject({ running: true, restarts: 2, lastRestart: { reason: 'crashed' } });
    const next = await embed();
    expect(next.status, next.text).toBe(200);
    const stream = await pageFetch(host.page, '/inference/v1/_hearth/stream', { body: { run_id: 'after-crash', count: 3, interval_ms: 10 } });
    expect(stream.status).toBe(200);
    expect(stream.text.trim().endsWith('data: [DONE]')).toBe(true);
  }, 120_000);
});

// The relay itself: streamed bodies cross worker → host → service worker → page incrementally, an aborted fetch
// reaches the worker, other tabs are served by the host tab, the next tab takes over when the host closes, and
// with no host open the service worker answers a spec-shaped 503.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launch, openHost, pageFetch, type HostPage } from './browser';

const baseUrl = inject('baseUrl');
let browser: Browser;

beforeAll(async () => { browser = await launch(); });
afterAll(async () => { await browser?.close(); });

const runState = async (page: Page, runId: string) =>
  (await pageFetch(page, `/inference/v1/_hearth/stream/${runId}`)).body as { produced: number; cancelled: boolean; finished: boolean };

describe('streaming through the service worker', () => {
  let host: HostPage;
  beforeAll(async () => { host = await openHost(browser, baseUrl, 'devices=wasm&diagnostics=1'); });
  afterAll(async () => { await host?.context.close(); });

  it('delivers chunks as the worker produces them', async () => {
    const result = await host.page.evaluate(async () => {
      const t0 = performance.now();
      const res = await fetch('/inference/v1/_hearth/stream', {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ run_id: 'incremental', count: 5, interval_ms: 250 }),
      });
      const headAt = performance.now() - t0;
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      const arrivals: { at: number; text: string }[] = [];
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        arrivals.push({ at: performance.now() - t0, text: decoder.decode(value) });
      }
      return { status: res.status, type: res.headers.get('content-type'), headAt, arrivals, controlled: Boolean(navigator.serviceWorker.controller) };
    });
    expect(result.controlled).toBe(true);
    expect(result.status).toBe(200);
    expect(result.type).toBe('text/event-stream');
    const text = result.arrivals.map((a) => a.text).join('');
    const events = text.split('\n\n').filter(Boolean);
    expect(events).toHaveLength(6);
    expect(events.at(-1)).toBe('data: [DONE]');
    // 5 events 250 ms apart: the first must arrive long before the last (nothing buffered until the end).
    expect(result.headAt).toBeLessThan(900);
    const first = result.arrivals[0].at;
    const last = result.arrivals.at(-1)!.at;
    expect(result.arrivals.length).toBeGreaterThanOrEqual(4);
    expect(last - first).toBeGreaterThan(750);
    expect(await runState(host.page, 'incremental')).toMatchObject({ produced: 5, finished: true, cancelled: false });
  });

  it('an aborted fetch stops the worker', async () => {
    const seen = await host.page.evaluate(async () => {
      const abort = new AbortController();
      const res = await fetch('/inference/v1/_hearth/stream', {
        method: 'POST', headers: { 'content-type': 'application/json' }, signal: abort.signal,
        body: JSON.stringify({ run_id: 'aborted', count: 100000, interval_ms: 20 }),
      });
      const reader = res.body!.getReader();
      let chunks = 0;
      while (chunks < 3) {
        await reader.read();
        chunks++;
      }
      abort.abort();
      return chunks;
    });
    expect(seen).toBe(3);
    let state = await runState(host.page, 'aborted');
    for (let i = 0; i < 20 && !state.cancelled; i++) {
      await host.page.waitForTimeout(100);
      state = await runState(host.page, 'aborted');
    }
    expect(state.cancelled).toBe(true);
    expect(state.finished).toBe(false);
    const producedAtCancel = state.produced;
    await host.page.waitForTimeout(300);
    expect((await runState(host.page, 'aborted')).produced).toBe(producedAtCancel);
    expect(producedAtCancel).toBeLessThan(200);
  });
});

describe('several tabs', () => {
  it('other tabs are served by the host; the next tab takes over when it closes; no host → 503', async () => {
    const first = await openHost(browser, baseUrl, 'devices=wasm');
    const context = first.context;
    try {
      const second = await context.newPage();
      await second.goto(`${baseUrl}/?devices=wasm`);
      await second.waitForFunction(() => window.hearth !== undefined && Boolean(navigator.serviceWorker.controller));
      expect(await first.page.evaluate(() => window.hearth!.host!.isHost())).toBe(true);
      expect(await second.evaluate(() => window.hearth!.host!.isHost())).toBe(false);

      // The second tab's request is answered by the first tab's engines.
      const body = { model: 'hearth/tiny-embed', input: 'relayed from another tab' };
      const viaHost = await pageFetch(second, '/inference/v1/embeddings', { body });
      expect(viaHost.status).toBe(200);
      const hostModels = await pageFetch(first.page, '/inference/v1/models/hearth/tiny-embed');
      expect(hostModels.body).toMatchObject({ loaded: true });

      // Close the host: the second tab wins the lock and loads engines on demand.
      await first.page.close();
      await second.waitForFunction(() => window.hearth!.host!.isHost(), undefined, { timeout: 10_000 });
      const afterTakeover = await pageFetch(second, '/inference/v1/embeddings', { body });
      expect(afterTakeover.status).toBe(200);
      expect((afterTakeover.body as { data: { embedding: number[] }[] }).data[0].embedding)
        .toEqual((viaHost.body as { data: { embedding: number[] }[] }).data[0].embedding);

      // A controlled page that is not a Hearth page, with no host left: 503 from the service worker.
      const plain = await context.newPage();
      await plain.goto(`${baseUrl}/favicon.svg`);
      await second.close();
      const none = await pageFetch(plain, '/inference/v1/models');
      expect(none.status).toBe(503);
      expect(none.body).toMatchObject({ error: { type: 'service_unavailable', code: 'no_host', param: null } });
    } finally {
      await context.close();
    }
  });
});

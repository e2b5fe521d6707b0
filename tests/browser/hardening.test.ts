// Hardening of the relay, in Chromium through the real service worker: another site's form post is refused (403),
// JSON needs application/json, the service worker caps bodies itself (413 with no host to relay to), a rogue
// same-origin page that announces itself as host without the Web Lock gets no request, and a stream relayed for
// another tab errors within a second of its host tab closing.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launch, openHost, pageFetch } from './browser';

const baseUrl = inject('baseUrl');
/** The same server under another origin (127.0.0.1 vs localhost). */
const otherOrigin = baseUrl.replace('127.0.0.1', 'localhost');
let browser: Browser;

beforeAll(async () => { browser = await launch(); });
afterAll(async () => { await browser?.close(); });

async function openTab(page: Page, query: string): Promise<void> {
  await page.goto(`${baseUrl}/?${query}`);
  await page.waitForFunction(() => window.hearth !== undefined && Boolean(navigator.serviceWorker.controller));
}

describe('same origin only', () => {
  it('refuses another site\'s form post and navigations (403), and JSON without application/json', async () => {
    const host = await openHost(browser, baseUrl, 'devices=wasm');
    try {
      const evil = await host.context.newPage();
      await evil.goto(`${otherOrigin}/favicon.svg`);
      expect(new URL(evil.url()).origin).not.toBe(new URL(baseUrl).origin);
      const body = JSON.stringify({ model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
      const navigation = evil.waitForNavigation();
      await evil.evaluate(({ action, body }) => {
        const form = document.createElementNS('http://www.w3.org/1999/xhtml', 'form') as HTMLFormElement;
        form.method = 'POST';
        form.enctype = 'text/plain';
        form.action = action;
        const input = document.createElementNS('http://www.w3.org/1999/xhtml', 'input') as HTMLInputElement;
        // text/plain encodes name=value: the JSON is split so that the posted text is the JSON itself.
        input.name = body.slice(0, -2);
        input.value = `${body.slice(-2)}`;
        form.append(input);
        document.documentElement.append(form);
        form.submit();
      }, { action: `${baseUrl}/inference/v1/chat/completions`, body });
      const response = await navigation;
      expect(response?.status()).toBe(403);
      expect(JSON.parse(await response!.text())).toMatchObject({ error: { type: 'permission_denied', code: 'navigation_refused', param: null } });

      // A plain navigation (the address bar) too.
      const address = await host.context.newPage();
      const typed = await address.goto(`${baseUrl}/inference/v1/models`);
      expect(typed?.status()).toBe(403);

      // Same-origin fetch with a form's content type: refused before any engine work.
      const plain = await pageFetch(host.page, '/inference/v1/chat/completions', { rawBody: body, headers: { 'content-type': 'text/plain' } });
      expect(plain.status).toBe(400);
      expect(plain.body).toMatchObject({ error: { type: 'invalid_request_error', code: 'unsupported_content_type' } });
      const none = await host.page.evaluate(async (b) => {
        const res = await fetch('/inference/v1/chat/completions', { method: 'POST', body: new Blob([b]) });
        return { status: res.status, body: await res.json() };
      }, body);
      expect(none.status).toBe(400);
      expect(none.body.error.code).toBe('unsupported_content_type');
    } finally {
      await host.context.close();
    }
  });

  it('the service worker caps the body itself: 413, not 503, with no host to relay to', async () => {
    const host = await openHost(browser, baseUrl, 'devices=wasm');
    try {
      const plain = await host.context.newPage();
      await plain.goto(`${baseUrl}/favicon.svg`);
      await host.page.close();
      const answers = await plain.evaluate(async () => {
        const post = async (bytes: number) => {
          const res = await fetch('/inference/v1/embeddings', {
            method: 'POST', headers: { 'content-type': 'application/json' }, body: new Uint8Array(bytes).fill(32),
          });
          return { status: res.status, body: await res.json() };
        };
        return { over: await post(8 * 1024 * 1024 + 1), under: await post(1000) };
      });
      expect(answers.over.status).toBe(413);
      expect(answers.over.body).toMatchObject({ error: { type: 'request_too_large', code: 'request_too_large' } });
      expect(answers.under.status).toBe(503);
      expect(answers.under.body.error.code).toBe('no_host');
    } finally {
      await host.context.close();
    }
  });
});

describe('only the Web Lock holder hosts', () => {
  it('a rogue same-origin page announcing itself as host gets no request', async () => {
    const host = await openHost(browser, baseUrl, 'devices=wasm');
    try {
      const rogue = await host.context.newPage();
      await rogue.goto(`${baseUrl}/favicon.svg`);
      await rogue.waitForFunction(() => Boolean(navigator.serviceWorker.controller));
      // The rogue does all a page can: announces a port, answers every challenge by taking the lock it names, and
      // (being same-origin) reads the held locks' names.
      await rogue.evaluate(() => {
        const w = window as unknown as { seen: unknown[] };
        w.seen = [];
        navigator.serviceWorker.addEventListener('message', (e: MessageEvent) => {
          const reply = e.ports[0];
          if (e.data?.type === 'hearth:host-challenge' && reply) {
            void navigator.locks.request(`hearth-host-proof:${e.data.challenge}`, { ifAvailable: true }, (lock) => {
              reply.postMessage({ holding: Boolean(lock) });
              return new Promise<void>(() => undefined);
            });
          } else if (e.data?.type === 'hearth:host-query' && reply) {
            const channel = new MessageChannel();
            channel.port1.onmessage = (m) => w.seen.push(m.data);
            reply.postMessage({ isHost: true }, [channel.port2]);
          }
        });
        navigator.serviceWorker.startMessages();
        const channel = new MessageChannel();
        channel.port1.onmessage = (m) => w.seen.push(m.data);
        navigator.serviceWorker.controller!.postMessage({ type: 'hearth:host-ready' }, [channel.port2]);
      });
      await rogue.waitForTimeout(500);
      for (let i = 0; i < 3; i++) {
        const res = await pageFetch(rogue, '/inference/v1/models/hearth/tiny-embed', { headers: { authorization: 'Bearer secret-of-the-user' } });
        expect(res.status).toBe(200);
      }
      expect(await rogue.evaluate(() => (window as unknown as { seen: unknown[] }).seen)).toEqual([]);
      expect(await host.page.evaluate(() => window.hearth!.host!.isHost())).toBe(true);
    } finally {
      await host.context.close();
    }
  });
});

describe('the host offering a new port', () => {
  it('requests in flight on its old port are still answered (no 503 host_changed, no hang)', async () => {
    const host = await openHost(browser, baseUrl, 'devices=wasm');
    try {
      const statuses = await host.page.evaluate(async () => {
        const post = () => fetch('/inference/v1/chat/completions', {
          method: 'POST', headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 8, temperature: 0 }),
        }).then((r) => r.status);
        await post(); // loaded
        const pending = [post(), post(), post()];
        // What a new service worker taking control makes the host do: announce itself again, on a fresh port.
        await new Promise((r) => setTimeout(r, 20));
        navigator.serviceWorker.dispatchEvent(new Event('controllerchange'));
        return Promise.race([Promise.all(pending), new Promise<string>((r) => setTimeout(() => r('hang'), 20_000))]);
      });
      expect(statuses).toEqual([200, 200, 200]);
    } finally {
      await host.context.close();
    }
  });
});

describe('streams that always end', () => {
  it('a stream relayed for another tab errors within a second of the host tab closing; the next request succeeds', async () => {
    const host = await openHost(browser, baseUrl, 'devices=wasm&diagnostics=1');
    try {
      const other = await host.context.newPage();
      await openTab(other, 'devices=wasm&diagnostics=1');
      expect(await other.evaluate(() => window.hearth!.host!.isHost())).toBe(false);
      await other.evaluate(async () => {
        const res = await fetch('/inference/v1/_hearth/stream', {
          method: 'POST', headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ run_id: 'orphaned', count: 100000, interval_ms: 50 }),
        });
        const reader = res.body!.getReader();
        await reader.read();
        const w = window as unknown as { ended: Promise<{ how: string; at: number }> };
        w.ended = (async () => {
          try {
            for (;;) if ((await reader.read()).done) return { how: 'done', at: Date.now() };
          } catch (e) {
            return { how: `error: ${String(e)}`, at: Date.now() };
          }
        })();
      });
      await other.waitForTimeout(300);
      const closedAt = Date.now();
      await host.page.close();
      const ended = await other.evaluate(() => Promise.race([
        (window as unknown as { ended: Promise<{ how: string; at: number }> }).ended,
        new Promise<{ how: string; at: number }>((r) => setTimeout(() => r({ how: 'still open', at: Date.now() }), 5000)),
      ]));
      expect(ended.how).toMatch(/^error/);
      expect(ended.at - closedAt).toBeLessThan(1000);
      await other.waitForFunction(() => window.hearth!.host!.isHost(), undefined, { timeout: 10_000 });
      const next = await pageFetch(other, '/inference/v1/embeddings', { body: { model: 'hearth/tiny-embed', input: 'after the host closed' } });
      expect(next.status).toBe(200);
    } finally {
      await host.context.close();
    }
  });
});

describe('storage', () => {
  it('a cached model file changed since it was stored is detected at load and fetched again', async () => {
    const host = await openHost(browser, baseUrl, 'devices=wasm');
    try {
      const body = { model: 'hearth/tiny-embed', input: 'a stored file changed under us' };
      const first = await pageFetch(host.page, '/inference/v1/embeddings', { body });
      expect(first.status).toBe(200);
      const poisoned = await host.page.evaluate(async () => {
        const cache = await caches.open('hearth-models-v1');
        const key = (await cache.keys()).find((r) => r.url.endsWith('hearth-tiny-embed/tokenizer.json'))!;
        await cache.put(key, new Response('{"model": {"type": "nonsense"}}'));
        return key.url;
      });
      await host.page.reload();
      await host.page.waitForFunction(() => window.hearth !== undefined);
      await host.page.evaluate(() => window.hearth!.host?.elected);
      const again = await pageFetch(host.page, '/inference/v1/embeddings', { body });
      expect(again.status, again.text).toBe(200);
      expect(again.body).toEqual(first.body);
      const restored = await host.page.evaluate(async (url) => {
        const cached = await (await caches.open('hearth-models-v1')).match(url);
        return (await cached!.text()) === (await (await fetch(url, { cache: 'no-store' })).text());
      }, poisoned);
      expect(restored).toBe(true);
    } finally {
      await host.context.close();
    }
  });
});

describe('abort then request on WebGPU', () => {
  // The race was in onnxruntime-web's session (wgsl=0); Hearth's WGSL decoder (the default on WebGPU) gets the same loop.
  it.each([['onnx/webgpu', 'devices=webgpu&wgsl=0'], ['wgsl/webgpu', 'devices=webgpu']])('a stream aborted mid-way, then a plain request at once: 200 every time, on %s', async (backend, query) => {
    const host = await openHost(browser, baseUrl, query);
    try {
      const results = await host.page.evaluate(async () => {
        const post = (body: object, signal?: AbortSignal) => fetch('/inference/v1/chat/completions', {
          method: 'POST', headers: { 'content-type': 'application/json' }, signal,
          body: JSON.stringify({ model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'Hi!' }], temperature: 0, ...body }),
        });
        const warm = await post({ max_tokens: 1 });
        const out: { status: number; backend: string | null; text: string }[] = [{ status: warm.status, backend: warm.headers.get('x-hearth-backend'), text: await warm.text() }];
        for (let i = 0; i < 2; i++) {
          const abort = new AbortController();
          const res = await post({ stream: true, max_tokens: 200 }, abort.signal);
          const reader = res.body!.getReader();
          await reader.read();
          await reader.read();
          abort.abort();
          const next = await post({ max_tokens: 2 });
          out.push({ status: next.status, backend: next.headers.get('x-hearth-backend'), text: await next.text() });
        }
        return out;
      });
      for (const r of results) {
        expect(r.status, r.text).toBe(200);
        expect(r.backend).toBe(backend);
      }
    } finally {
      await host.context.close();
    }
  }, 180_000);
});

// The library as an app uses it: tests/browser/consumer/ embeds dist-lib/ (startHearth + <hearth-chat>, on wasm) and
// serves it with its own static server (library at /dist-lib/, hearth-sw.js at the root, built-in models at /models/);
// the page starts with no console errors, the service worker controls it, the chat streams from hearth/tiny-llama,
// plain fetch('/inference/v1/…') answers, and the engine workers and onnxruntime-web's wasm load from dist-lib/assets/.
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launch, chatStreamLengths } from './browser';
import { serveConsumer } from './consumer/serve';

let server: Server;
let url: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const errors: string[] = [];
/** Every URL the page, its workers and the service worker requested. */
const urls: string[] = [];
const paths = () => urls.filter((u) => u.startsWith(url)).map((u) => new URL(u).pathname);
const failed: string[] = [];

beforeAll(async () => {
  ({ server, url } = await serveConsumer());
  browser = await launch();
  context = await browser.newContext({ serviceWorkers: 'allow' });
  // Requests of the page, its engine workers and the service worker, as paths.
  context.on('request', (r) => { urls.push(r.url()); });
  context.on('response', (r) => { if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`); });
  page = await context.newPage();
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(`${url}/`);
  await page.waitForFunction(() => window.hearth !== undefined, undefined, { timeout: 60_000 });
  await page.evaluate(() => window.hearth!.host?.elected);
  await page.waitForFunction(() => Boolean(navigator.serviceWorker.controller), undefined, { timeout: 30_000 });
});

afterAll(async () => {
  await browser?.close();
  await new Promise((ok) => server?.close(ok));
});

describe('Hearth as a library (tests/browser/consumer)', () => {
  it('starts from dist-lib: this page is host and /hearth-sw.js controls it', async () => {
    const state = await page.evaluate(() => ({
      host: window.hearth!.host!.isHost(),
      script: navigator.serviceWorker.controller?.scriptURL,
      isolated: self.crossOriginIsolated,
    }));
    expect(state).toEqual({ host: true, script: `${url}/hearth-sw.js`, isolated: true });
    // The service worker is one file, with nothing to import beside it at the site root.
    const sw = readFileSync('dist-lib/hearth-sw.js', 'utf8');
    expect(sw).not.toMatch(/^\s*(import|export)\b|\bimport\s*\(|importScripts/m);
    expect(sw).toContain('installRelay(');
  });

  it('defines every element; hearth/components alone exports the same classes; <hearth-chat> renders', async () => {
    const defined = await page.evaluate(() => ['hearth-chat', 'hearth-completion', 'hearth-embeddings', 'hearth-image', 'hearth-models']
      .map((tag) => Boolean(customElements.get(tag))));
    expect(defined).toEqual([true, true, true, true, true]);
    // A string, so the test runner does not rewrite the dynamic imports.
    expect(await page.evaluate(`Promise.all([import('/dist-lib/components.js'), import('/dist-lib/index.js')])
      .then(([c, i]) => c.HearthChat === customElements.get('hearth-chat') && i.HearthChat === c.HearthChat && typeof i.startHearth)`))
      .toBe('function');
    const chat = page.locator('hearth-chat');
    await expect.poll(() => chat.locator('hearth-model-select select option').count(), { timeout: 30_000 }).toBeGreaterThan(0);
    expect(await chat.locator('hearth-model-select select').inputValue()).toBe('hearth/tiny-llama');
    expect(await chat.locator('#message').isVisible()).toBe(true);
  });

  it('a message streams text from hearth/tiny-llama', async () => {
    const chat = page.locator('hearth-chat');
    await chat.locator('#message').fill('Hi!');
    await chat.locator('button.send').click();
    const lengths = await chatStreamLengths(page);
    expect(lengths.length, `lengths seen: ${lengths.join(',')}`).toBeGreaterThan(3);
    expect(await chat.locator('.msg.user').count()).toBe(1);
  });

  it("plain fetch('/inference/v1/…') answers through the service worker, on wasm", async () => {
    const out = await page.evaluate(async () => {
      const models = await fetch('/inference/v1/models');
      const chat = await fetch('/inference/v1/chat/completions', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'hearth/tiny-llama', max_tokens: 4, messages: [{ role: 'user', content: 'Hi' }] }),
      });
      const body = await models.json() as { object: string; data: { id: string; built_in: boolean }[] };
      const answer = await chat.json() as { choices: { message: { content: string } }[] };
      return {
        status: [models.status, chat.status],
        object: body.object,
        builtIn: body.data.filter((m) => m.built_in).map((m) => m.id).sort(),
        backend: chat.headers.get('x-hearth-backend'),
        text: typeof answer.choices[0].message.content,
      };
    });
    expect(out.status).toEqual([200, 200]);
    expect(out.object).toBe('list');
    expect(out.builtIn).toEqual(expect.arrayContaining(['hearth/tiny-embed', 'hearth/tiny-llama', 'hearth/tiny-sdxl']));
    expect(out.backend).toBe('onnx/wasm');
    expect(out.text).toBe('string');
  });

  it('loads the engine worker and onnxruntime-web wasm from dist-lib/assets and the model from /models/', () => {
    expect(paths()).toEqual(expect.arrayContaining([
      expect.stringMatching(/^\/dist-lib\/assets\/llm\.worker-[\w-]+\.js$/),
      expect.stringMatching(/^\/dist-lib\/assets\/ort-wasm-simd-threaded\.asyncify-[\w-]+\.wasm$/),
      expect.stringMatching(/^\/models\/hearth-tiny-llama\//),
    ]));
    // Nothing else on the site was asked for, nothing failed, and no worker or wasm came inlined as a data: URL.
    expect(paths().filter((p) => !/^\/($|hearth-sw\.js$|dist-lib\/|models\/|inference\/v1\/)/.test(p))).toEqual([]);
    expect(failed).toEqual([]);
    expect(urls.filter((u) => /^data:(application\/wasm|[a-z]+\/javascript)/.test(u))).toEqual([]);
  });

  it('logged no console errors', () => {
    expect(errors).toEqual([]);
  });
});

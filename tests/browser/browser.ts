/**
 * Launching Chromium (headless, WebGPU through SwiftShader) with playwright-core, and opening the Hearth demo page as
 * host. The binary is found by scripts/find-chromium.mjs's rules (CHROMIUM_PATH, /usr/bin/chromium, Playwright's
 * own), which `npm test`'s pretest step also uses to install one where none is found.
 */
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { locateChromium } from '../../scripts/find-chromium.mjs';

export const CHROMIUM_FLAGS = [
  '--enable-unsafe-webgpu',
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The Chromium to drive; throws one line saying how to get one when there is none. */
export async function chromiumPath(): Promise<string> {
  const path = await locateChromium();
  if (!path) throw new Error('No Chromium for the browser tests: run `node scripts/find-chromium.mjs` (npm test runs it first) or set CHROMIUM_PATH');
  return path;
}

export async function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: await chromiumPath(), headless: true, args: CHROMIUM_FLAGS });
}

export interface HostPage {
  context: BrowserContext;
  page: Page;
  /** Console errors and uncaught page errors seen so far. */
  errors: string[];
}

/**
 * Opens the demo page with the given query (e.g. `devices=wasm&diagnostics=1`), waits until Hearth is running,
 * this tab is host and the service worker controls the page.
 */
export async function openHost(browser: Browser, baseUrl: string, query = '', options: { serviceWorker?: boolean } = {}): Promise<HostPage> {
  const noWorker = options.serviceWorker === false;
  const context = await browser.newContext({ serviceWorkers: noWorker ? 'block' : 'allow' });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(`${baseUrl}/?${query}${noWorker ? '&sw=0' : ''}`);
  await page.waitForFunction(() => window.hearth !== undefined, undefined, { timeout: 60_000 });
  await page.evaluate(() => window.hearth!.host?.elected);
  if (options.serviceWorker !== false) {
    await page.waitForFunction(() => Boolean(navigator.serviceWorker.controller), undefined, { timeout: 30_000 });
  }
  return { context, page, errors };
}

export interface FetchResult { status: number; headers: Record<string, string>; body: unknown; text: string }

/** `fetch` run inside the page (so it goes through the service worker, as a user's code would). */
export async function pageFetch(page: Page, path: string, init: { method?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {}): Promise<FetchResult> {
  return page.evaluate(async ({ path, init }) => {
    const headers: Record<string, string> = { ...(init.headers ?? {}) };
    let body: string | undefined;
    if (init.rawBody !== undefined) body = init.rawBody;
    else if (init.body !== undefined) {
      body = JSON.stringify(init.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(path, { method: init.method ?? (body === undefined ? 'GET' : 'POST'), headers, body });
    const text = await res.text();
    let parsed: unknown = null;
    try { parsed = JSON.parse(text); } catch { /* not JSON */ }
    return { status: res.status, headers: Object.fromEntries(res.headers), body: parsed, text };
  }, { path, init });
}

/**
 * Runs in the page while <hearth-chat> streams an answer: the lengths its last assistant message went through,
 * sampled every 15 ms until the Send button is enabled again (the answer is done).
 */
export async function chatStreamLengths(page: Page): Promise<number[]> {
  return page.evaluate(async () => {
    const root = document.querySelector('hearth-chat')!.shadowRoot!;
    const seen = new Set<number>();
    const t0 = performance.now();
    while (performance.now() - t0 < 60_000) {
      const text = root.querySelector('.msg.assistant:last-child .content')?.textContent ?? '';
      if (text) seen.add(text.length);
      if (!(root.querySelector('button.send') as HTMLButtonElement).disabled) break;
      await new Promise((r) => setTimeout(r, 15));
    }
    return [...seen];
  });
}

/**
 * Puts a file into the artifact store as a finished download would (Cache Storage bytes plus its IndexedDB record):
 * a crafted file for a user's model, which no catalog sha256 refuses. `path` is relative to the page.
 */
export async function seedStoredFile(page: Page, path: string, text: string): Promise<void> {
  await page.evaluate(async ({ path, text }) => {
    const url = new URL(path, location.href).href;
    const body = new TextEncoder().encode(text);
    await (await caches.open('hearth-models-v1')).put(url, new Response(body));
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const open = indexedDB.open('hearth-models');
      open.onupgradeneeded = () => open.result.createObjectStore('files');
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error);
    });
    await new Promise<void>((resolve, reject) => {
      const tx = db.transaction('files', 'readwrite');
      tx.objectStore('files').put({ url, size: body.length, sha256: '', storedAt: Date.now() }, url);
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
    });
    db.close();
  }, { path, text });
}

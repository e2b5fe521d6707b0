// Chromium for benches: the flags and host-page opening of tests/browser/browser.ts, in plain ESM (keep them in step).
import { chromium } from 'playwright-core';
import { preview } from 'vite';
import { locateChromium } from '../scripts/find-chromium.mjs';
import { ROOT } from './build.mjs';

export const CHROMIUM_FLAGS = [
  '--enable-unsafe-webgpu',
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Found by the rules of scripts/find-chromium.mjs (CHROMIUM_PATH, /usr/bin/chromium, Playwright's own). */
export const chromiumPath = () => locateChromium();

export const launch = async () => chromium.launch({ executablePath: await chromiumPath(), headless: true, args: CHROMIUM_FLAGS });

/** `vite preview` (with the project's COOP/COEP headers) of `outDir` on a free port. */
export async function serve(outDir) {
  const server = await preview({
    root: ROOT,
    logLevel: 'warn',
    build: { outDir },
    preview: { port: 0, strictPort: false, host: '127.0.0.1' },
  });
  const address = server.httpServer.address();
  if (!address || typeof address === 'string') throw new Error('preview server has no port');
  return { server, baseUrl: `http://127.0.0.1:${address.port}` };
}

/** Opens the demo page as host and waits until `window.hearth` is there and the service worker controls the page. */
export async function openHost(browser, baseUrl, query) {
  const context = await browser.newContext({ serviceWorkers: 'allow' });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(`${baseUrl}/?${query}`);
  await page.waitForFunction(() => window.hearth !== undefined, undefined, { timeout: 60_000 });
  await page.evaluate(() => window.hearth.host?.elected);
  await page.waitForFunction(() => Boolean(navigator.serviceWorker.controller), undefined, { timeout: 30_000 });
  return { context, page, errors };
}

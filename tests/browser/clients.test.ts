// The clients people already use, unchanged, in the page through the service worker (wasm, one page): every call of
// tests/clients/cases.ts (bundled into dist/test-sdk/clients.js), checked by tests/clients/checks.ts — the same cases
// tests/unit/clients.test.ts runs in Node. The AI SDK's Fireworks image id reaches the tiny SDXL through the demo
// page's `alias=` query parameter.
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, inject, it } from 'vitest';
import { readJson } from '../unit/node-api';
import { CASE_NAMES, IMAGE_ALIASES, type CaseName, type clientCases } from '../clients/cases';
import { clientChecks, type CheckContext } from '../clients/checks';
import { launch, openHost, type HostPage } from './browser';

declare global {
  interface Window { hearthClientCases?: typeof clientCases }
}

const ref = readJson<Record<string, { cases: { text: string; embedding: number[] }[] }>>('tests/fixtures/embeddings/reference.json');
const embedCases = ref['hearth-tiny-embed'].cases.slice(0, 3);
const ctx: CheckContext = { embeddings: embedCases.map((c) => c.embedding) };
const query = ['devices=wasm', ...Object.entries(IMAGE_ALIASES).map(([from, to]) => `alias=${from}=${to}`)].join('&');

const baseUrl = inject('baseUrl');
let browser: Browser;
let host: HostPage;
beforeAll(async () => {
  browser = await launch();
  host = await openHost(browser, baseUrl, query);
  // A module script (not import() inside evaluate, which the test runner would rewrite) loads the bundled cases.
  await host.page.addScriptTag({ type: 'module', content: "import { clientCases } from '/test-sdk/clients.js'; window.hearthClientCases = clientCases;" });
  await host.page.waitForFunction(() => window.hearthClientCases !== undefined);
});
afterAll(async () => {
  await host?.context.close();
  await browser?.close();
});

async function run(name: CaseName): Promise<void> {
  const observed: unknown = await host.page.evaluate(({ name, embedTexts }): Promise<unknown> =>
    window.hearthClientCases![name]({ baseURL: new URL('/inference/v1', location.href).href, embedTexts }),
  { name, embedTexts: embedCases.map((c) => c.text) });
  (clientChecks[name] as (o: unknown, c: CheckContext) => void)(observed, ctx);
}

describe('clients, unchanged, in the page through the service worker', () => {
  for (const name of CASE_NAMES) it(name, () => run(name), 60_000);
});

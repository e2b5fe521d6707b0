// stories260K (a real trained Llama, imported by scripts/import_llama2c.py) through the service worker: greedy
// /completions from "Once upon a time", 30 tokens, is exactly the story llama2.c's author published, on WebGPU
// (one streamed request: SwiftShader compiles every shader on the CPU) and on wasm (streamed = not streamed; the q4
// variant's MatMulNBits too).
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { readJson } from '../unit/node-api';
import { launch, openHost, pageFetch, type HostPage } from './browser';

interface Ref { prompt: string; published: string; q4: { text: string } }
const ref = readJson<Ref>('tests/fixtures/stories260k/reference.json');
const GREEDY = { prompt: 'Once upon a time', max_tokens: 30, temperature: 0 };

const baseUrl = inject('baseUrl');
let browser: Browser;
beforeAll(async () => { browser = await launch(); });
afterAll(async () => { await browser?.close(); });

/** A streamed /completions through the service worker: the joined text, its SSE events (one per token with text), the backend. */
async function streamed(page: Page, body: object) {
  return page.evaluate(async (body) => {
    const res = await fetch('/inference/v1/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, stream: true }) });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let raw = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      raw += decoder.decode(value, { stream: true });
    }
    const events = raw.split('\n\n').filter(Boolean).map((e) => e.replace(/^data: /, ''));
    const pieces = events.filter((e) => e.startsWith('{')).map((e) => JSON.parse(e).choices[0]?.text ?? '');
    return { status: res.status, text: pieces.join(''), pieces: pieces.filter(Boolean).length, done: events.at(-1) === '[DONE]', backend: res.headers.get('x-hearth-backend') };
  }, body);
}

for (const [label, query, backend] of [
  ["Hearth's WGSL decoder (the default on WebGPU)", 'devices=webgpu', 'wgsl/webgpu'],
  ['onnxruntime-web (wgsl=0)', 'devices=webgpu&wgsl=0', 'onnx/webgpu'],
] as const) {
  describe(`stories260K on WebGPU, ${label}`, () => {
    let host: HostPage;
    beforeAll(async () => { host = await openHost(browser, baseUrl, query); });
    afterAll(async () => { await host?.context.close(); });

    it('greedy "Once upon a time" streams the published story', async () => {
      const r = await streamed(host.page, { model: 'hearth/stories260k', ...GREEDY });
      expect(r.status).toBe(200);
      expect(r.backend).toBe(backend);
      expect(r.done).toBe(true);
      expect(r.pieces).toBeGreaterThan(20);
      expect(ref.prompt + r.text).toBe(ref.published);
    }, 300_000);

    // Through onnxruntime-web opt-in (another ~12 s of SwiftShader shader compiles):
    // HEARTH_WEBGPU_Q4=1 npx vitest run --config vitest.browser.config.ts tests/browser/stories260k.test.ts
    it.runIf(backend === 'wgsl/webgpu' || process.env.HEARTH_WEBGPU_Q4 === '1')('the q4 variant (MatMulNBits) on WebGPU tells its own reference story', async () => {
      const r = await streamed(host.page, { model: 'hearth/stories260k-q4', ...GREEDY });
      expect(r.backend).toBe(backend);
      expect(ref.prompt + r.text).toBe(ref.q4.text);
    }, 300_000);
  });
}

describe('stories260K on wasm', () => {
  let host: HostPage;
  beforeAll(async () => { host = await openHost(browser, baseUrl, 'devices=wasm'); });
  afterAll(async () => { await host?.context.close(); });

  it('greedy "Once upon a time" is the published story, streamed and not', async () => {
    const whole = await pageFetch(host.page, '/inference/v1/completions', { body: { model: 'hearth/stories260k', ...GREEDY } });
    expect(whole.status, whole.text).toBe(200);
    expect(whole.headers['x-hearth-backend']).toBe('onnx/wasm');
    const text = (whole.body as { choices: { text: string }[] }).choices[0].text;
    expect(ref.prompt + text).toBe(ref.published);
    const s = await streamed(host.page, { model: 'hearth/stories260k', ...GREEDY });
    expect(s.done).toBe(true);
    expect(s.pieces).toBeGreaterThan(20);
    expect(s.text).toBe(text);
  });

  it('the q4 variant tells its own reference story', async () => {
    const r = await pageFetch(host.page, '/inference/v1/completions', { body: { model: 'hearth/stories260k-q4', ...GREEDY } });
    expect(r.status, r.text).toBe(200);
    expect(ref.prompt + (r.body as { choices: { text: string }[] }).choices[0].text).toBe(ref.q4.text);
  });
});

// Embeddings through the real path: page fetch → service worker → host page → engine worker → onnxruntime-web,
// on WebGPU (SwiftShader) and on wasm, against the torch reference; errors are spec-shaped and the engine keeps
// serving; the in-page client without a service worker gives the same answers.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { readJson } from '../unit/node-api';
import { launch, openHost, pageFetch, type HostPage } from './browser';

interface RefCase { text: string; input_ids: number[]; embedding: number[] }
interface RefModel { cases: RefCase[]; batch: { texts: string[]; embeddings: number[][] } }
const ref = readJson<Record<string, RefModel>>('tests/fixtures/embeddings/reference.json');
const tiny = ref['hearth-tiny-embed'];
const cls = ref['hearth-tiny-embed-cls'];

const baseUrl = inject('baseUrl');
let browser: Browser;

beforeAll(async () => { browser = await launch(); });
afterAll(async () => { await browser?.close(); });

function maxDiff(a: number[], b: number[]) {
  expect(a.length).toBe(b.length);
  return Math.max(...a.map((v, i) => Math.abs(v - b[i])));
}

const embed = (host: HostPage, body: unknown) => pageFetch(host.page, '/inference/v1/embeddings', { body });

describe('on WebGPU', () => {
  let host: HostPage;
  beforeAll(async () => { host = await openHost(browser, baseUrl, 'devices=webgpu'); });
  afterAll(async () => { await host?.context.close(); });

  it('the service worker answers and vectors equal torch within 1e-4', async () => {
    const r = await embed(host, { model: 'hearth/tiny-embed', input: tiny.cases.map((c) => c.text) });
    expect(r.status, r.text).toBe(200);
    expect(r.headers['x-hearth-backend']).toBe('webgpu');
    const data = (r.body as { data: { embedding: number[] }[] }).data;
    data.forEach((d, i) => expect(maxDiff(d.embedding, tiny.cases[i].embedding)).toBeLessThan(1e-4));
  });

  it('GET /models/{id} shows the model loaded on webgpu', async () => {
    const r = await pageFetch(host.page, '/inference/v1/models/hearth/tiny-embed');
    expect(r.body).toMatchObject({ id: 'hearth/tiny-embed', loaded: true, downloaded: true, device: 'webgpu' });
  });
});

describe('on wasm', () => {
  let host: HostPage;
  beforeAll(async () => { host = await openHost(browser, baseUrl, 'devices=wasm'); });
  afterAll(async () => { await host?.context.close(); });

  it('GET /models lists the built-in models', async () => {
    const r = await pageFetch(host.page, '/inference/v1/models');
    expect(r.status).toBe(200);
    const ids = (r.body as { data: { id: string }[] }).data.map((m) => m.id);
    expect(ids).toEqual(expect.arrayContaining(['hearth/tiny-embed', 'hearth/tiny-embed-cls', 'nomic-ai/nomic-embed-text-v1.5', 'thenlper/gte-base']));
  });

  it('both models equal torch within 1e-4, one input at a time', async () => {
    for (const [model, cases] of [['hearth/tiny-embed', tiny.cases], ['hearth/tiny-embed-cls', cls.cases]] as const) {
      for (const c of cases) {
        const r = await embed(host, { model, input: c.text });
        expect(r.status, r.text).toBe(200);
        expect(r.headers['x-hearth-backend']).toBe('wasm');
        const body = r.body as { data: { embedding: number[] }[]; usage: { prompt_tokens: number } };
        expect(maxDiff(body.data[0].embedding, c.embedding), `${model}: ${c.text.slice(0, 40)}`).toBeLessThan(1e-4);
        expect(body.usage.prompt_tokens).toBe(c.input_ids.length);
      }
    }
  });

  it('a batch equals the single results', async () => {
    const r = await embed(host, { model: 'hearth/tiny-embed', input: tiny.batch.texts });
    const data = (r.body as { data: { index: number; embedding: number[] }[] }).data;
    expect(data.map((d) => d.index)).toEqual(tiny.batch.texts.map((_, i) => i));
    data.forEach((d, i) => expect(maxDiff(d.embedding, tiny.batch.embeddings[i])).toBeLessThan(1e-4));
  });

  it('bad requests get the right 4xx ErrorResponse and the next good one still succeeds', async () => {
    const cases: { init: Parameters<typeof pageFetch>[2]; status: number; param: string | null }[] = [
      { init: { rawBody: '{"model": "hearth/tiny-embed", ', headers: { 'content-type': 'application/json' } }, status: 400, param: null },
      { init: { body: { model: 'hearth/tiny-embed' } }, status: 400, param: 'input' },
      { init: { body: { input: 'hello' } }, status: 400, param: 'model' },
      { init: { body: { model: 'hearth/tiny-embed', input: 7 } }, status: 400, param: 'input' },
      { init: { body: { model: 'hearth/tiny-embed', input: '' } }, status: 400, param: 'input' },
      { init: { body: { model: 'hearth/tiny-embed', input: ['fine', ''] } }, status: 400, param: 'input[1]' },
      { init: { body: { model: 'no-such/model', input: 'hello' } }, status: 404, param: 'model' },
      { init: { body: { model: 'hearth/tiny-embed-cls', input: 'hello', dimensions: 8 } }, status: 400, param: 'dimensions' },
      { init: { body: { model: 'hearth/tiny-embed', input: 'x'.repeat(9 * 1024 * 1024) } }, status: 413, param: null },
      { init: { method: 'GET' }, status: 405, param: null },
    ];
    for (const { init, status, param } of cases) {
      const r = await pageFetch(host.page, '/inference/v1/embeddings', init);
      expect(r.status, JSON.stringify(init).slice(0, 80)).toBe(status);
      expect(r.headers['content-type']).toBe('application/json');
      const err = (r.body as { error: Record<string, unknown> }).error;
      expect(Object.keys(err).sort()).toEqual(['code', 'message', 'param', 'type']);
      expect(err.param).toBe(param);
    }
    const unknownPath = await pageFetch(host.page, '/inference/v1/nothing-here');
    expect(unknownPath.status).toBe(404);
    const ok = await embed(host, { model: 'hearth/tiny-embed', input: tiny.cases[0].text });
    expect(ok.status).toBe(200);
    expect(maxDiff((ok.body as { data: { embedding: number[] }[] }).data[0].embedding, tiny.cases[0].embedding)).toBeLessThan(1e-4);
  });

  it('dimensions and base64 through the service worker', async () => {
    const r = await embed(host, { model: 'hearth/tiny-embed', input: tiny.cases[1].text, dimensions: 32, encoding_format: 'base64' });
    expect(r.status).toBe(200);
    const b64 = (r.body as { data: { embedding: string }[] }).data[0].embedding;
    const bytes = Buffer.from(b64, 'base64');
    const got = Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readFloatLE(i * 4));
    const cut = tiny.cases[1].embedding.slice(0, 32);
    const norm = Math.hypot(...cut);
    expect(maxDiff(got, cut.map((v) => v / norm))).toBeLessThan(1e-4);
  });

  it('no console errors on the host page', () => {
    expect(host.errors.filter((e) => !/status of (4\d\d|501)/.test(e))).toEqual([]);
  });
});

describe('in-page client without a service worker', () => {
  it('gives the same answers', async () => {
    const host = await openHost(browser, baseUrl, 'devices=wasm', { serviceWorker: false });
    try {
      const result = await host.page.evaluate(async (input) => {
        const res = await window.hearth!.fetch('/inference/v1/embeddings', {
          method: 'POST', headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'hearth/tiny-embed', input }),
        });
        return { status: res.status, controlled: Boolean(navigator.serviceWorker?.controller), body: await res.json() };
      }, tiny.cases[0].text);
      expect(result.controlled).toBe(false);
      expect(result.status).toBe(200);
      expect(maxDiff(result.body.data[0].embedding, tiny.cases[0].embedding)).toBeLessThan(1e-4);
    } finally {
      await host.context.close();
    }
  });
});

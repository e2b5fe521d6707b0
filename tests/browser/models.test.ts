// The artifact store in the browser: downloads with byte progress into the Cache API, integrity checks (size and
// sha256), clear errors for missing and corrupt files, nothing incomplete ever used, and GET /models reporting it.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser } from 'playwright-core';
import type { CatalogEntry } from '../../src/models/types';
import { ROOT } from '../unit/node-api';
import { launch, openHost, pageFetch, type HostPage } from './browser';

const baseUrl = inject('baseUrl');
let browser: Browser;
let host: HostPage;

beforeAll(async () => {
  browser = await launch();
  host = await openHost(browser, baseUrl, 'devices=wasm');
});
afterAll(async () => { await browser?.close(); });

const fixture = (name: string) => readFileSync(`${ROOT}public/models/hearth-tiny-embed/${name}`);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A catalog entry for the tiny model's files under a distinct URL (a query string), so it has its own cache slots. */
function entry(id: string, tag: string, overrides: { role: string; sha256?: string; size?: number; url?: string }[] = []): CatalogEntry {
  const files = [['model', 'model.onnx'], ['tokenizer', 'tokenizer.json'], ['tokenizer_config', 'tokenizer_config.json']].map(([role, name]) => {
    const bytes = fixture(name);
    const o = overrides.find((x) => x.role === role);
    return { role, url: o?.url ?? `models/hearth-tiny-embed/${name}?v=${tag}`, size: o && 'size' in o ? o.size : bytes.length, sha256: o && 'sha256' in o ? o.sha256 : sha(bytes) };
  });
  return {
    id, aliases: [], kind: 'embeddings', backend: 'onnx', ownedBy: 'test', description: 'store test', builtIn: false, created: 0, files,
    embeddings: { hiddenSize: 64, maxTokens: 128, pooling: 'mean', normalize: true, matryoshka: true,
      inputs: { inputIds: 'input_ids', attentionMask: 'attention_mask', tokenTypeIds: 'token_type_ids' }, output: 'last_hidden_state' },
  };
}

const register = (e: CatalogEntry) => host.page.evaluate((e) => window.hearth!.registry.register(e), e);
const embed = (model: string) => pageFetch(host.page, '/inference/v1/embeddings', { body: { model, input: 'hello there' } });
const describeModel = async (id: string) => (await pageFetch(host.page, `/inference/v1/models/${id}`)).body as { downloaded: boolean; size_bytes: number | null };

describe('artifact store', () => {
  it('downloads with byte progress, verifies, stores, and reports downloaded', async () => {
    const good = entry('test/good', 'good');
    await register(good);
    expect(await describeModel('test/good')).toMatchObject({ downloaded: false });
    const events = await host.page.evaluate(async (id) => {
      const hearth = window.hearth!;
      const progress: { loadedBytes: number; totalBytes: number | null; done: boolean }[] = [];
      await hearth.store.ensure(hearth.registry.find(id)!, { onProgress: (p) => progress.push({ ...p }) });
      return progress;
    }, 'test/good');
    const total = good.files.reduce((s, f) => s + f.size!, 0);
    expect(events.at(-1)).toMatchObject({ done: true, loadedBytes: total, totalBytes: total });
    const loaded = events.map((e) => e.loadedBytes);
    expect(loaded).toEqual([...loaded].sort((a, b) => a - b));
    expect(events.every((e) => e.totalBytes === total)).toBe(true);
    expect(await describeModel('test/good')).toMatchObject({ downloaded: true, size_bytes: total });
    const r = await embed('test/good');
    expect(r.status, r.text).toBe(200);
    const usage = await host.page.evaluate(() => window.hearth!.store.usage());
    expect(usage).toBeGreaterThanOrEqual(total);
  });

  it('refuses a file whose sha256 does not match, stores nothing of it, and keeps serving', async () => {
    await register(entry('test/corrupt', 'corrupt', [{ role: 'tokenizer_config', sha256: '0'.repeat(64) }]));
    const r = await embed('test/corrupt');
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({ error: { type: 'service_unavailable', code: 'integrity_check_failed' } });
    expect(await describeModel('test/corrupt')).toMatchObject({ downloaded: false });
    const cached = await host.page.evaluate(async () => {
      const cache = await caches.open('hearth-models-v1');
      return (await cache.keys()).map((k) => k.url).filter((u) => u.includes('v=corrupt'));
    });
    expect(cached.some((u) => u.includes('tokenizer_config'))).toBe(false);
    expect((await embed('hearth/tiny-embed')).status).toBe(200);
  });

  it('refuses a file of the wrong size (truncated download)', async () => {
    const size = fixture('model.onnx').length + 10;
    await register(entry('test/short', 'short', [{ role: 'model', size }]));
    const r = await embed('test/short');
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({ error: { code: 'integrity_check_failed' } });
  });

  it('refuses a model that cannot fit before downloading it: 503 naming the file, its size and the device limits', async () => {
    const big = entry('test/too-big', 'too-big');
    big.files.push({ role: 'model_data', url: 'models/hearth-tiny-embed/model.onnx_data?v=too-big', size: 5_000_000_000, externalDataOf: 'model' });
    await register(big);
    const r = await embed('test/too-big');
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({ error: { type: 'service_unavailable', code: 'model_too_large' } });
    const message = (r.body as { error: { message: string } }).error.message;
    expect(message).toContain('hearth-tiny-embed/model.onnx_data?v=too-big is 5.00 GB');
    expect(message).toMatch(/maxBufferSize \d/); // SwiftShader's adapter limits
    const cached = await host.page.evaluate(async () => (await (await caches.open('hearth-models-v1')).keys()).map((k) => k.url).filter((u) => u.includes('v=too-big')));
    expect(cached).toEqual([]); // not even the small files were fetched
    expect((await embed('hearth/tiny-embed')).status).toBe(200);
  });

  it('hands external data over by the name the catalog declares: bytes, or over the limit a blob: URL with its length', async () => {
    const out = await host.page.evaluate(async () => {
      const hearth = window.hearth!;
      const entry = hearth.registry.find('hearth/tiny-sd-turbo')!;
      const small = await hearth.store.readExternalData(entry, 'unet');
      const big = await hearth.store.readExternalData(entry, 'unet', { inMemoryBytes: 0 });
      const url = big[0].data as string;
      const res = await fetch(url);
      const bytes = new Uint8Array(await res.arrayBuffer());
      const same = small[0].data instanceof Uint8Array && bytes.length === small[0].data.length && bytes.every((b, i) => b === (small[0].data as Uint8Array)[i]);
      return { paths: [small[0].path, big[0].path], kind: typeof url, scheme: url.slice(0, 5), length: res.headers.get('content-length'), size: bytes.length, same };
    });
    expect(out.paths).toEqual(['weights.pb', 'weights.pb']);
    expect(out.scheme).toBe('blob:');
    expect(out.same).toBe(true);
    expect(Number(out.length)).toBe(out.size); // onnxruntime-web streams files over 1 GiB by this header
  });

  it('reports a missing file clearly, and succeeds once it is fixed', async () => {
    await register(entry('test/missing', 'missing', [{ role: 'model', url: 'models/nowhere/model.onnx', sha256: undefined, size: undefined }]));
    const r = await embed('test/missing');
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({ error: { code: 'download_failed' } });
    expect((r.body as { error: { message: string } }).error.message).toContain('HTTP 404');
    await register(entry('test/missing', 'missing'));
    expect((await embed('test/missing')).status).toBe(200);
  });
});

// A local GGUF file in Chromium (WebGPU on SwiftShader): opened with the model manager's file picker (the path a user
// takes; hearth.models.add underneath), stored in the Cache API, then a greedy completion through the service worker
// on Hearth's WGSL decoder gives stories260K's published story from its Q8_0 GGUF, and the file is registered again
// after a reload; a Qwen2 Q4_K file added with hearth.models.add gives torch's greedy tokens and chats; a truncated file and a tensor in
// an unsupported block type are refused by hearth.models.add with a 400 naming the problem.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { ROOT } from '../unit/node-api';
import { launch, openHost, pageFetch, type HostPage } from './browser';

const baseUrl = inject('baseUrl');
const FIXTURE = `${ROOT}tests/fixtures/gguf/stories260k-q8_0.gguf`;
const ref = JSON.parse(readFileSync(`${ROOT}tests/fixtures/gguf/reference.json`, 'utf8')) as
  { models: Record<string, { greedy: { prompt: string; input_ids: number[]; new_tokens: number[] }[] }> };
const PUBLISHED = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day,';
let browser: Browser;
let host: HostPage;
beforeAll(async () => {
  browser = await launch();
  host = await openHost(browser, baseUrl, 'devices=webgpu#models');
});
afterAll(async () => { await browser?.close(); });

describe('a local GGUF file', () => {
  it('opened in the model manager, answers through the service worker on wgsl/webgpu with the published story', async () => {
    await host.page.locator('hearth-models input[type=file]').setInputFiles(FIXTURE);
    const status = host.page.locator('hearth-models .opened');
    await status.waitFor({ timeout: 60_000 });
    expect(await status.textContent()).toContain('is ready as local/stories260k-q8_0');
    await host.page.locator('hearth-models tr[data-model="local/stories260k-q8_0"]').waitFor({ timeout: 30_000 });

    const r = await pageFetch(host.page, '/inference/v1/completions', {
      body: { model: 'local/stories260k-q8_0', prompt: 'Once upon a time', max_tokens: 30, temperature: 0 },
    });
    expect(r.status, r.text).toBe(200);
    expect(r.headers['x-hearth-backend']).toBe('wgsl/webgpu');
    expect('Once upon a time' + (r.body as { choices: { text: string }[] }).choices[0].text).toBe(PUBLISHED);
    const model = await pageFetch(host.page, '/inference/v1/models/local/stories260k-q8_0', { method: 'GET' });
    expect(model.body).toMatchObject({ downloaded: true, loaded_variant: 'wgsl:gguf', device: 'webgpu' });
  }, 300_000);

  it('is remembered: after a reload it is registered again from storage', async () => {
    await host.page.reload();
    await host.page.waitForFunction(() => window.hearth !== undefined, undefined, { timeout: 60_000 });
    await host.page.evaluate(() => window.hearth!.models.ready);
    const model = await pageFetch(host.page, '/inference/v1/models/local/stories260k-q8_0', { method: 'GET' });
    expect(model.status, model.text).toBe(200);
    expect(model.body).toMatchObject({ downloaded: true, kind: 'llm' });
  }, 120_000);

  it('a Qwen2 Q4_K file added with hearth.models.add: greedy tokens equal torch, and it chats (ChatML)', async () => {
    const bytes = Array.from(readFileSync(`${ROOT}tests/fixtures/gguf/tiny-qwen2-q4_k.gguf`));
    const id = await host.page.evaluate(async (bytes) =>
      (await window.hearth!.models.add(new File([Uint8Array.from(bytes)], 'tiny-qwen2-q4_k.gguf'))).id, bytes);
    expect(id).toBe('local/tiny-qwen2-q4_k');
    const g = ref.models['tiny-qwen2-q4_k'].greedy.find((x) => x.prompt === 'chat')!;
    const r = await pageFetch(host.page, '/inference/v1/completions', {
      body: { model: id, prompt: g.input_ids, max_tokens: g.new_tokens.length, temperature: 0, return_token_ids: true },
    });
    expect(r.status, r.text).toBe(200);
    expect(r.headers['x-hearth-backend']).toBe('wgsl/webgpu');
    const got = (r.body as { choices: { token_ids: number[] }[] }).choices[0].token_ids;
    expect(got.length).toBeGreaterThan(0);
    expect(got).toEqual(g.new_tokens.slice(0, got.length));
    const chat = await pageFetch(host.page, '/inference/v1/chat/completions', {
      body: { model: id, messages: [{ role: 'user', content: 'Hello' }], max_tokens: 4, temperature: 0 },
    });
    expect(chat.status, chat.text).toBe(200);
  }, 240_000);

  it('hearth.models.add refuses a truncated file and an unsupported block type with 400s naming the problem', async () => {
    const bytes = Array.from(readFileSync(FIXTURE));
    const result = await host.page.evaluate(async (bytes) => {
      const add = async (data: Uint8Array<ArrayBuffer>, name: string) => {
        try {
          await window.hearth!.models.add(new File([data], name));
          return null;
        } catch (e) {
          const err = e as { status?: number; code?: string; message: string };
          return { status: err.status, code: err.code, message: err.message };
        }
      };
      const all = Uint8Array.from(bytes);
      const truncated = await add(all.subarray(0, all.length - 5000), 'cut.gguf');
      // blk.0.attn_q.weight's type (Q8_0 = 8) → Q5_K (13)
      const name = new TextEncoder().encode('blk.0.attn_q.weight');
      let at = -1;
      for (let i = 0; i < 65536 && at < 0; i++) if (name.every((c, j) => all[i + j] === c)) at = i;
      const changed = all.slice();
      changed[at + name.length + 4 + 16] = 13;
      const unsupported = await add(changed, 'q5k.gguf');
      return { truncated, unsupported };
    }, bytes);
    expect(result.truncated).toMatchObject({ status: 400, code: 'invalid_gguf' });
    expect(result.truncated?.message).toMatch(/truncated/);
    expect(result.unsupported).toMatchObject({ status: 400, code: 'unsupported_gguf_type' });
    expect(result.unsupported?.message).toContain('Q5_K');
    expect(result.unsupported?.message).toContain('supported: F32, F16, Q4_0, Q8_0, Q4_K, Q6_K');
  });
});

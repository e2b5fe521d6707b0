// Chat and completions through the service worker, on the tiny Llama: greedy tokens equal torch's on WebGPU (Hearth's
// WGSL decoder on the 4-bit model and on the q4f16 layout, and onnxruntime-web with `wgsl=0`) and on wasm, SSE chunks arrive incrementally and join to the non-streamed answer, the OpenAI SDK works unchanged in the
// page, an aborted stream stops the engine (and on WebGPU a request right after an aborted stream is served: the abort
// race), concurrent requests never interleave, and bad input gets 4xx.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { LlmTokenizer } from '../../src/engines/llm/tokenizer';
import { readJson } from '../unit/node-api';
import { launch, openHost, pageFetch, type HostPage } from './browser';

interface Ref {
  prompts: { name: string; input_ids: number[] }[];
  greedy: { prompt: string; new_tokens: number[] }[];
  q4: { greedy: { prompt: string; new_tokens: number[] }[] };
}
const ref = readJson<Ref>('tests/fixtures/llm/reference.json');
const refQ4f16 = readJson<Pick<Ref, 'greedy'>>('tests/fixtures/llm/reference-q4f16.json');
const tokenizer = new LlmTokenizer(readJson('public/models/hearth-tiny-llama/tokenizer.json'), readJson('public/models/hearth-tiny-llama/tokenizer_config.json'));
const ids = (name: string) => ref.prompts.find((p) => p.name === name)!.input_ids;
const greedyText = (name: string) => tokenizer.decode(ref.greedy.find((g) => g.prompt === name)!.new_tokens);
const greedyTextQ4 = (name: string) => tokenizer.decode(ref.q4.greedy.find((g) => g.prompt === name)!.new_tokens);

const baseUrl = inject('baseUrl');
let browser: Browser;
beforeAll(async () => { browser = await launch(); });
afterAll(async () => { await browser?.close(); });

/**
 * The WebGPU abort race (README, "The WebGPU abort race"): on `page`, a warm-up request, then twice a stream aborted
 * after two reads followed at once by a plain request. Every answer must be a 200 from `backend`. Runs on the WebGPU
 * hosts below so that their engine workers' compiled kernels serve it too.
 */
async function expectAbortThenRequestServed(host: HostPage, backend: string): Promise<void> {
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
}

describe('on WebGPU, Hearth\'s WGSL decoder', () => {
  let host: HostPage;
  beforeAll(async () => { host = await openHost(browser, baseUrl, 'devices=webgpu'); });
  afterAll(async () => { await host?.context.close(); });

  it('greedy chat through the service worker runs on wgsl/webgpu and equals torch', async () => {
    const r = await pageFetch(host.page, '/inference/v1/chat/completions', {
      body: { model: 'hearth/tiny-llama-q4', messages: [{ role: 'user', content: 'Hi!' }], max_tokens: 24, temperature: 0 },
    });
    expect(r.status, r.text).toBe(200);
    expect(r.headers['x-hearth-backend']).toBe('wgsl/webgpu');
    expect((r.body as { choices: { message: { content: string } }[] }).choices[0].message.content).toBe(greedyTextQ4('chat'));
    const model = await pageFetch(host.page, '/inference/v1/models/hearth/tiny-llama-q4', { method: 'GET' });
    expect((model.body as { loaded_variant: string }).loaded_variant).toBe('wgsl:q4');
  }, 240_000);

  it('the q4f16 layout (fp16 embedding behind a Cast) runs on wgsl/webgpu without shader-f16 and equals torch', async () => {
    const want = refQ4f16.greedy.find((g) => g.prompt === 'chat')!.new_tokens;
    const r = await pageFetch(host.page, '/inference/v1/completions', { body: { model: 'hearth/tiny-llama-q4f16', prompt: ids('chat'), max_tokens: want.length, temperature: 0 } });
    expect(r.status, r.text).toBe(200);
    expect(r.headers['x-hearth-backend']).toBe('wgsl/webgpu');
    expect((r.body as { choices: { text: string }[] }).choices[0].text).toBe(tokenizer.decode(want));
  }, 240_000);

  it('a stream aborted mid-way, then a plain request at once: 200 every time, on wgsl/webgpu', async () => {
    await expectAbortThenRequestServed(host, 'wgsl/webgpu');
  }, 180_000);
});

describe('on WebGPU, onnxruntime-web (wgsl=0)', () => {
  let host: HostPage;
  beforeAll(async () => { host = await openHost(browser, baseUrl, 'devices=webgpu&wgsl=0'); });
  afterAll(async () => { await host?.context.close(); });

  it('greedy completion equals torch', async () => {
    const r = await pageFetch(host.page, '/inference/v1/completions', { body: { model: 'hearth/tiny-llama', prompt: ids('text'), max_tokens: 24, temperature: 0 } });
    expect(r.status, r.text).toBe(200);
    expect(r.headers['x-hearth-backend']).toBe('onnx/webgpu');
    expect((r.body as { choices: { text: string }[] }).choices[0].text).toBe(greedyText('text'));
  }, 240_000);

  it('the q4f16 layout is refused on an adapter without shader-f16, saying so (SwiftShader has none)', async () => {
    const r = await pageFetch(host.page, '/inference/v1/completions', { body: { model: 'hearth/tiny-llama-q4f16', prompt: ids('text'), max_tokens: 4, temperature: 0 } });
    expect(r.status, r.text).toBe(503);
    expect(r.text).toContain('shader-f16');
  });

  it('a stream aborted mid-way, then a plain request at once: 200 every time, on onnx/webgpu', async () => {
    await expectAbortThenRequestServed(host, 'onnx/webgpu');
  }, 180_000);
});

describe('on wasm', () => {
  let host: HostPage;
  beforeAll(async () => { host = await openHost(browser, baseUrl, 'devices=wasm'); });
  afterAll(async () => { await host?.context.close(); });

  it('greedy chat equals torch through the service worker', async () => {
    const r = await pageFetch(host.page, '/inference/v1/chat/completions', {
      body: { model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'Hi!' }], max_tokens: 24, temperature: 0 },
    });
    expect(r.status, r.text).toBe(200);
    expect(r.headers['x-hearth-backend']).toBe('onnx/wasm');
    expect((r.body as { choices: { message: { content: string } }[] }).choices[0].message.content).toBe(greedyText('chat'));
  });

  it('the q4f16 layout (float16 KV cache and logits) equals torch through the service worker', async () => {
    const want = refQ4f16.greedy.find((g) => g.prompt === 'ids20')!.new_tokens;
    const r = await pageFetch(host.page, '/inference/v1/completions', { body: { model: 'hearth/tiny-llama-q4f16', prompt: ids('ids20'), max_tokens: want.length, temperature: 0 } });
    expect(r.status, r.text).toBe(200);
    expect(r.headers['x-hearth-backend']).toBe('onnx/wasm');
    expect((r.body as { choices: { text: string }[] }).choices[0].text).toBe(tokenizer.decode(want));
  });

  it('SSE chunks arrive one by one and join to the non-streamed answer', async () => {
    const body = { model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'Hi!' }], max_tokens: 40, temperature: 0.9, seed: 11 };
    const result = await host.page.evaluate(async (body) => {
      const post = (b: object) => fetch('/inference/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(b) });
      const whole = await (await post(body)).json();
      const res = await post({ ...body, stream: true });
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let reads = 0;
      let text = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        reads++;
        text += decoder.decode(value);
      }
      return { whole, text, reads, type: res.headers.get('content-type') };
    }, body);
    expect(result.type).toBe('text/event-stream');
    const events = result.text.split('\n\n').filter(Boolean).map((e) => e.replace(/^data: /, ''));
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    expect(result.reads).toBeGreaterThan(5);
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('')).toBe(result.whole.choices[0].message.content);
    expect(chunks.at(-1).usage).toEqual(result.whole.usage);
  });

  it('the OpenAI SDK works unchanged in the page (chat, chat stream, completions)', async () => {
    // A module script (not import() inside evaluate, which the test runner would rewrite) loads the bundled SDK.
    await host.page.addScriptTag({ type: 'module', content: "import OpenAI from '/test-sdk/openai.js'; window.OpenAI = OpenAI;" });
    await host.page.waitForFunction(() => 'OpenAI' in window);
    const out = await host.page.evaluate(async () => {
      const OpenAI = (window as unknown as { OpenAI: typeof import('openai').default }).OpenAI;
      const openai = new OpenAI({ baseURL: new URL('/inference/v1', location.href).href, apiKey: 'any', dangerouslyAllowBrowser: true, maxRetries: 0 });
      const chat = await openai.chat.completions.create({ model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'Hi!' }], max_tokens: 24, temperature: 0 });
      const stream = await openai.chat.completions.create({ model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'Hi!' }], max_tokens: 24, temperature: 0, stream: true });
      let streamed = '';
      for await (const chunk of stream) streamed += chunk.choices[0]?.delta?.content ?? '';
      const completion = await openai.completions.create({ model: 'hearth/tiny-llama', prompt: 'The quick brown fox', max_tokens: 24, temperature: 0 });
      let error = '';
      try {
        await openai.chat.completions.create({ model: 'no/such-model', messages: [{ role: 'user', content: 'x' }] });
      } catch (e) {
        error = `${(e as { status: number }).status}`;
      }
      return { chat: chat.choices[0].message.content, streamed, completion: completion.choices[0].text, error };
    });
    expect(out.chat).toBe(greedyText('chat'));
    expect(out.streamed).toBe(greedyText('chat'));
    expect(out.completion).toBe(greedyText('text'));
    expect(out.error).toBe('404');
  });

  const stats = async () => ((await pageFetch(host.page, '/inference/v1/models/hearth/tiny-llama')).body as { stats: { cancelled: number; generated_tokens: number } }).stats;
  /** The engine counts one more cancelled request (it may take a moment to reach it) and stopped before 250 tokens. */
  const expectCancelled = async (before: { cancelled: number; generated_tokens: number }) => {
    let after = await stats();
    for (let i = 0; i < 30 && after.cancelled === before.cancelled; i++) {
      await host.page.waitForTimeout(100);
      after = await stats();
    }
    expect(after.cancelled).toBe(before.cancelled + 1);
    expect(after.generated_tokens - before.generated_tokens).toBeLessThan(250);
  };

  it('aborting a stream stops generation in the engine', async () => {
    const before = await stats();
    await host.page.evaluate(async () => {
      const abort = new AbortController();
      const res = await fetch('/inference/v1/completions', {
        method: 'POST', headers: { 'content-type': 'application/json' }, signal: abort.signal,
        body: JSON.stringify({ model: 'hearth/tiny-llama', prompt: [128000], max_tokens: 250, temperature: 0, stream: true }),
      });
      const reader = res.body!.getReader();
      await reader.read();
      abort.abort();
    });
    await expectCancelled(before);
    const next = await pageFetch(host.page, '/inference/v1/completions', { body: { model: 'hearth/tiny-llama', prompt: ids('text'), max_tokens: 24, temperature: 0 } });
    expect((next.body as { choices: { text: string }[] }).choices[0].text).toBe(greedyText('text'));
  });

  // Through the service worker only streamed answers can be aborted: Chromium does not tell FetchEvent.request.signal
  // that the page aborted (w3c/ServiceWorker#1544), so a whole-body answer runs to its end there.
  it('aborting a whole-body (non-streamed) request in the host page stops generation too', async () => {
    const before = await stats();
    const outcome = await host.page.evaluate(async () => {
      const abort = new AbortController();
      setTimeout(() => abort.abort(), 40);
      try {
        const res = await window.hearth!.handle(new Request(new URL('/inference/v1/completions', location.href), {
          method: 'POST', headers: { 'content-type': 'application/json' }, signal: abort.signal,
          body: JSON.stringify({ model: 'hearth/tiny-llama', prompt: [128000], max_tokens: 250, temperature: 0 }),
        }));
        return `HTTP ${res.status}`;
      } catch (e) {
        return (e as Error).name;
      }
    });
    expect(outcome).toMatch(/AbortError|HTTP 499/);
    await expectCancelled(before);
  });

  it('concurrent requests queue and never interleave', async () => {
    const bodies = [1, 2, 3].map((seed) => ({ model: 'hearth/tiny-llama', prompt: 'Once upon a time', max_tokens: 20, temperature: 1, seed, stream: true }));
    const texts = await host.page.evaluate(async (bodies) => Promise.all(bodies.map(async (b) => {
      const res = await fetch('/inference/v1/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(b) });
      const raw = await res.text();
      return raw.split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)).choices[0]?.text ?? '').join('');
    })), bodies);
    for (const [i, b] of bodies.entries()) {
      const alone = await pageFetch(host.page, '/inference/v1/completions', { body: { ...b, stream: false } });
      expect(texts[i]).toBe((alone.body as { choices: { text: string }[] }).choices[0].text);
    }
  });

  it('bad requests get the right 4xx and the engine keeps serving', async () => {
    const cases: [string, object, number, string | null][] = [
      ['/inference/v1/chat/completions', { model: 'hearth/tiny-llama', messages: [{ role: 'robot', content: 'x' }] }, 400, 'messages[0].role'],
      ['/inference/v1/chat/completions', { model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'x' }], n: 0 }, 400, 'n'],
      ['/inference/v1/chat/completions', { model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'x' }], stop: ['a', 'b', 'c', 'd', 'e'] }, 400, 'stop'],
      ['/inference/v1/completions', { model: 'hearth/tiny-llama', prompt: 'x', bogus: true }, 400, 'bogus'],
      ['/inference/v1/completions', { model: 'hearth/tiny-llama', prompt: 'word '.repeat(400) }, 400, 'prompt'],
      ['/inference/v1/completions', { model: 'unknown', prompt: 'x' }, 404, 'model'],
    ];
    for (const [path, body, status, param] of cases) {
      const r = await pageFetch(host.page, path, { body });
      expect(r.status, r.text).toBe(status);
      expect((r.body as { error: { param: string | null } }).error.param).toBe(param);
    }
    const ok = await pageFetch(host.page, '/inference/v1/completions', { body: { model: 'hearth/tiny-llama', prompt: ids('text'), max_tokens: 24, temperature: 0 } });
    expect((ok.body as { choices: { text: string }[] }).choices[0].text).toBe(greedyText('text'));
  });
});

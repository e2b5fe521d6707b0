// `hearth serve` over real HTTP (node:http on a free port, the Node engines on the tiny built-in models, on
// onnxruntime-node's CPU execution provider — its default here, where the CUDA provider is not installed): the shared
// API cases (tests/api-cases.ts) pass as they do in the browser; greedy tokens, logprobs, embeddings and images equal
// the torch references; backends are labelled honestly (`onnx/cpu`; embeddings `cpu`, `wasm` with --device wasm); an explicit
// device that cannot run is refused at start; CORS answers preflights for allowed origins only; `models` limits the
// catalog; an API key is required when set; a client that disconnects mid-stream, or before a whole-body answer,
// cancels the engine job.
import { decode as decodePng } from 'fast-png';
import jpeg from 'jpeg-js';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/server/serve';
import { API_CASES, expectAnswer, fetchCase } from '../api-cases';
import { readJson, ROOT } from './node-api';

interface LlmRef {
  prompts: { name: string; input_ids: number[] }[];
  greedy: { prompt: string; new_tokens: number[] }[];
  logits_first_step: { prompt: string; greedy_logprobs: number[] }[];
  q4: { greedy: { prompt: string; new_tokens: number[] }[] };
}
const llmRef = readJson<LlmRef>('tests/fixtures/llm/reference.json');
const embedRef = readJson<Record<string, { cases: { text: string; embedding: number[] }[] }>>('tests/fixtures/embeddings/reference.json');
const postJson = (url: string, body: unknown) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

const SDXL = '/image_generation/accounts/fireworks/models/stable-diffusion-xl-1024-v1-0';
const PAGE = 'http://page.example';

let server: RunningServer;
beforeAll(async () => {
  server = await startServer({ port: 0, modelDir: `${ROOT}public`, cors: [PAGE] });
});
afterAll(() => server?.close());

describe('hearth serve answers the shared API cases', () => {
  for (const c of API_CASES) {
    it(c.name, async () => expectAnswer(c, await fetchCase(server.baseURL, c)));
  }
});

describe('hearth serve on onnxruntime-node', () => {
  it('runs on onnxruntime-node, CPU last (CUDA first only where its provider is installed)', () => {
    const { runtime } = server.engines;
    expect(runtime.name).toMatch(/^onnxruntime-node 1\./);
    expect(runtime.devices.at(-1)).toBe('cpu');
    expect(runtime.devices.every((d) => d === 'cuda' || d === 'cpu')).toBe(true);
  });

  it('greedy tokens (fp32 and q4) equal torch for every reference prompt, labelled onnx/cpu', async () => {
    const device = server.engines.runtime.devices[0];
    for (const [model, table] of [['hearth/tiny-llama', llmRef.greedy], ['hearth/tiny-llama-q4', llmRef.q4.greedy]] as const) {
      for (const p of llmRef.prompts) {
        const expected = table.find((g) => g.prompt === p.name)?.new_tokens;
        if (!expected) continue;
        const res = await postJson(`${server.baseURL}/completions`, { model, prompt: p.input_ids, max_tokens: expected.length, temperature: 0, return_token_ids: true });
        expect(res.status).toBe(200);
        expect(res.headers.get('x-hearth-backend')).toBe(`onnx/${device}`);
        const body = await res.json() as { choices: { token_ids: number[] }[] };
        expect(body.choices[0].token_ids, `${model} ${p.name}`).toEqual(expected);
      }
    }
  });

  it('greedy logprobs equal torch (1e-3), embeddings equal torch (1e-4), GET /models says where they run', async () => {
    const device = server.engines.runtime.devices[0];
    const bos = llmRef.prompts.find((p) => p.name === 'bos')!;
    const res = await postJson(`${server.baseURL}/completions`, { model: 'hearth/tiny-llama', prompt: bos.input_ids, max_tokens: 8, temperature: 0, logprobs: 1 });
    const lp = ((await res.json()) as { choices: { logprobs: { token_logprobs: number[] } }[] }).choices[0].logprobs.token_logprobs;
    const expected = llmRef.logits_first_step.find((x) => x.prompt === 'bos')!.greedy_logprobs.slice(0, 8);
    expect(Math.max(...lp.map((v, i) => Math.abs(v - expected[i])))).toBeLessThan(1e-3);
    for (const [model, key] of [['hearth/tiny-embed', 'hearth-tiny-embed'], ['hearth/tiny-embed-cls', 'hearth-tiny-embed-cls']]) {
      const cases = embedRef[key].cases;
      const r = await postJson(`${server.baseURL}/embeddings`, { model, input: cases.map((c) => c.text) });
      expect(r.headers.get('x-hearth-backend')).toBe(device);
      const { data } = await r.json() as { data: { embedding: number[] }[] };
      cases.forEach((c, i) => expect(Math.max(...c.embedding.map((x, j) => Math.abs(x - data[i].embedding[j]))), `${model} ${i}`).toBeLessThan(1e-4));
    }
    for (const id of ['hearth/tiny-llama', 'hearth/tiny-embed']) {
      const info = await (await fetch(`${server.baseURL}/models/${id}`)).json() as { loaded: boolean; device: string };
      expect([id, info.loaded, info.device]).toEqual([id, true, device]);
    }
  });

  it('--device wasm runs onnxruntime-web and says so; an explicit device that cannot run is refused at start', async () => {
    const wasm = await startServer({ port: 0, modelDir: `${ROOT}public`, models: ['hearth/tiny-embed'], device: 'wasm' });
    try {
      expect(wasm.engines.runtime.devices).toEqual(['wasm']);
      const [c] = embedRef['hearth-tiny-embed'].cases;
      const res = await postJson(`${wasm.baseURL}/embeddings`, { model: 'hearth/tiny-embed', input: c.text });
      expect(res.headers.get('x-hearth-backend')).toBe('wasm');
      const v = ((await res.json()) as { data: { embedding: number[] }[] }).data[0].embedding;
      expect(Math.max(...c.embedding.map((x, j) => Math.abs(x - v[j])))).toBeLessThan(1e-4);
      expect(((await (await fetch(`${wasm.baseURL}/models/hearth/tiny-embed`)).json()) as { device: string }).device).toBe('wasm');
    } finally {
      await wasm.close();
    }
    if (!server.engines.runtime.devices.includes('cuda')) {
      await expect(startServer({ port: 0, modelDir: `${ROOT}public`, device: 'cuda' })).rejects.toThrow(/CUDA execution provider/);
    }
  });
});

describe('hearth serve', () => {
  it('sends the seeded image the torch reference made (PNG decoded here)', async () => {
    const ref = readJson<{ seeded: { seed: number; width: number; height: number; steps: number; cfg_scale: number; prompt: string; negative_prompt: string; txt2img: { samples_1: { image: { b64: string } } } } }>('tests/fixtures/sdxl/reference.json').seeded;
    const res = await fetch(`${server.baseURL}${SDXL}`, {
      method: 'POST', headers: { 'content-type': 'application/json', accept: 'image/png' },
      body: JSON.stringify({
        model: 'hearth/tiny-sdxl', seed: ref.seed, width: ref.width, height: ref.height, steps: ref.steps, cfg_scale: ref.cfg_scale,
        text_prompts: [{ text: ref.prompt, weight: 1 }, { text: ref.negative_prompt, weight: -1 }],
      }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-hearth-backend')).toBe(`onnx/${server.engines.runtime.devices[0]}`);
    const png = decodePng(new Uint8Array(await res.arrayBuffer()));
    expect([png.width, png.height, png.channels]).toEqual([ref.width, ref.height, 4]);
    const rgb = new Uint8Array(Buffer.from(ref.txt2img.samples_1.image.b64, 'base64'));
    let far = 0;
    for (let p = 0; p < rgb.length / 3; p++) for (let c = 0; c < 3; c++) if (Math.abs(png.data[p * 4 + c] - rgb[p * 3 + c]) > 1) far++;
    expect(far).toBe(0);
  });

  it('sends JPEG when asked, and decodes an uploaded JPEG for image_to_image', async () => {
    const body = { model: 'hearth/tiny-sdxl', text_prompts: [{ text: 'a hearth' }], seed: 5, steps: 10 };
    const res = await fetch(`${server.baseURL}${SDXL}`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'image/jpeg' }, body: JSON.stringify(body) });
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    const bytes = new Uint8Array(await res.arrayBuffer());
    const image = jpeg.decode(bytes, { useTArray: true });
    expect([image.width, image.height]).toEqual([64, 64]);
    const form = new FormData();
    form.set('model', 'hearth/tiny-sdxl');
    form.set('text_prompts', JSON.stringify([{ text: 'again' }]));
    form.set('init_image', new Blob([bytes], { type: 'image/jpeg' }), 'init.jpg');
    form.set('steps', '10');
    const again = await fetch(`${server.baseURL}${SDXL}/image_to_image`, { method: 'POST', headers: { accept: 'image/png' }, body: form });
    expect(again.status, await again.clone().text()).toBe(200);
    expect(decodePng(new Uint8Array(await again.arrayBuffer())).width).toBe(64);
    form.set('init_image', new Blob([new Uint8Array([1, 2, 3])], { type: 'image/png' }), 'broken.png');
    const broken = await fetch(`${server.baseURL}${SDXL}/image_to_image`, { method: 'POST', headers: { accept: 'image/png' }, body: form });
    expect(broken.status).toBe(400);
    expect(((await broken.json()) as { error: { param: string } }).error.param).toBe('init_image');
  });

  it('answers a CORS preflight for an allowed origin and refuses others', async () => {
    const ok = await fetch(`${server.baseURL}/chat/completions`, {
      method: 'OPTIONS', headers: { origin: PAGE, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, authorization' },
    });
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe(PAGE);
    expect(ok.headers.get('access-control-allow-headers')).toContain('authorization');
    const other = await fetch(`${server.baseURL}/chat/completions`, {
      method: 'OPTIONS', headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(other.status).toBe(403);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    const answer = await fetch(`${server.baseURL}/models`, { headers: { origin: PAGE } });
    expect(answer.headers.get('access-control-allow-origin')).toBe(PAGE);
    expect(answer.headers.get('access-control-expose-headers')).toContain('x-hearth-backend');
    const noCors = await fetch(`${server.baseURL}/models`, { headers: { origin: 'http://evil.example' } });
    expect(noCors.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('serves only the models it is told to, and requires its API key', async () => {
    const small = await startServer({ port: 0, modelDir: `${ROOT}public`, models: ['hearth/tiny-embed*'], apiKey: 'sekrit' });
    try {
      const auth = { authorization: 'Bearer sekrit' };
      const list = await (await fetch(`${small.baseURL}/models`, { headers: auth })).json() as { data: { id: string }[] };
      expect(list.data.map((m) => m.id).sort()).toEqual(['hearth/tiny-embed', 'hearth/tiny-embed-cls']);
      const chat = await fetch(`${small.baseURL}/chat/completions`, {
        method: 'POST', headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'hi' }] }),
      });
      expect(chat.status).toBe(404);
      const anonymous = await fetch(`${small.baseURL}/models`);
      expect(anonymous.status).toBe(401);
      const wrong = await fetch(`${small.baseURL}/models`, { headers: { authorization: 'Bearer nope' } });
      expect(wrong.status).toBe(401);
      expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe('invalid_api_key');
    } finally {
      await small.close();
    }
    await expect(startServer({ port: 0, modelDir: '.', models: ['no/such-model'] })).rejects.toThrow(/no\/such-model/);
  });

  it('cancels the engine job when the client disconnects mid-stream', async () => {
    const cancelled = () => server.engines.engine('llm').then((llm) => llm.loaded()).then((l) => l.find((m) => m.id === 'hearth/tiny-llama')?.stats?.cancelled ?? 0);
    await fetchCase(server.baseURL, API_CASES.find((c) => c.path === '/completions')!); // loaded
    const before = await cancelled();
    const abort = new AbortController();
    const res = await fetch(`${server.baseURL}/chat/completions`, {
      method: 'POST', signal: abort.signal, headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'Tell me a long story' }], max_tokens: 2000, stream: true }),
    });
    const reader = res.body!.getReader();
    await reader.read();
    abort.abort();
    await expect.poll(cancelled, { timeout: 5000 }).toBe(before + 1);

    // A whole-body answer: the socket closes before the JSON is ready.
    await new Promise<void>((resolve) => {
      const req = httpRequest(`${server.baseURL}/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } });
      req.on('error', () => resolve());
      req.end(JSON.stringify({ model: 'hearth/tiny-llama', prompt: 'Once', max_tokens: 2000 }));
      setTimeout(() => { req.destroy(); resolve(); }, 300);
    });
    await expect.poll(cancelled, { timeout: 5000 }).toBe(before + 2);
  });
});

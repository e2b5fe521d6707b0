// The API function end to end in Node, on the real embeddings engine (onnxruntime-web wasm) and the tiny fixtures:
// routing, errors (shape, status, param), body limits, auth, models listing, and embeddings against torch.
import { describe, expect, it } from 'vitest';
import { base64ToFloat32 } from '../../src/api/embedding-encoding';
import { CATALOG } from '../../src/models/catalog';
import { ModelRegistry } from '../../src/models/registry';
import { get, nodeApi, post, readJson } from './node-api';

interface RefCase { text: string; input_ids: number[]; embedding: number[] }
const ref = readJson<Record<string, { cases: RefCase[] }>>('tests/fixtures/embeddings/reference.json');
const tiny = ref['hearth-tiny-embed'].cases;

const { handle } = nodeApi();
const SDXL = '/image_generation/accounts/fireworks/models/stable-diffusion-xl-1024-v1-0';

async function call(req: Request) {
  const res = await handle(req);
  return { res, body: (await res.json()) as any };
}

function expectError(body: any, type: string, param: string | null) {
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(body.error.type).toBe(type);
  expect(body.error.param).toBe(param);
  expect(typeof body.error.message).toBe('string');
}

function expectClose(actual: number[], expected: number[], tol = 1e-4) {
  expect(actual.length).toBe(expected.length);
  const worst = Math.max(...actual.map((v, i) => Math.abs(v - expected[i])));
  expect(worst).toBeLessThan(tol);
}

describe('routing and errors', () => {
  it('answers unknown paths with 404 ErrorResponse', async () => {
    const { res, body } = await call(get('/nope'));
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toBe('application/json');
    expectError(body, 'not_found_error', null);
  });

  it('answers a wrong method with 405 and Allow', async () => {
    const { res, body } = await call(get('/embeddings'));
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
    expectError(body, 'method_not_allowed', null);
  });

  it('refuses bodies over the limit with 413', async () => {
    const { handle: small } = nodeApi({ maxBodyBytes: 1000 });
    const res = await small(post('/embeddings', { model: 'hearth/tiny-embed', input: 'x'.repeat(2000) }));
    expect(res.status).toBe(413);
    expectError(await res.json(), 'request_too_large', null);
  });

  it('refuses malformed JSON and non-JSON content types', async () => {
    let r = await call(post('/embeddings', '{"model": '));
    expect(r.res.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_json');
    r = await call(post('/embeddings', 'a=b', { 'content-type': 'application/x-www-form-urlencoded' }));
    expect(r.res.status).toBe(400);
  });

  it('answers 503 when an engine cannot run (a model whose files are not on this machine)', async () => {
    const { res, body } = await call(post(SDXL, { text_prompts: [{ text: 'a hearth' }] }));
    expect(res.status).toBe(503);
    expectError(body, 'service_unavailable', null);
    expect(body.error.code).toBe('model_not_downloaded');
  });

  it('refuses image requests it cannot honour, naming the field', async () => {
    const cases: [object, string, Record<string, string>?][] = [
      [{ model: 'hearth/tiny-sdxl', text_prompts: [{ text: 'x' }], width: 96, height: 64 }, 'width'],
      [{ model: 'hearth/tiny-sdxl', text_prompts: [{ text: 'x' }], lora_adapter_name: 'not-a-repo' }, 'lora_adapter_name'],
      [{ model: 'hearth/tiny-sdxl', text_prompts: [{ text: 'x' }], lora_weight_filename: 'lora.safetensors' }, 'lora_adapter_name'],
      [{ model: 'hearth/tiny-sdxl', text_prompts: [{ text: 'x' }], lora_adapter_name: 'a/b', lora_weight_filename: 'lora.bin' }, 'lora_weight_filename'],
      [{ model: 'hearth/tiny-sdxl', text_prompts: [{ text: 'x', weight: 0.5 }] }, 'text_prompts[0].weight'],
      [{ model: 'hearth/tiny-sdxl', text_prompts: [{ text: 'x', weight: -1 }] }, 'text_prompts'],
      [{ model: 'hearth/tiny-sdxl', text_prompts: [{ text: 'x' }], samples: 2 }, 'samples', { accept: 'image/png' }],
      [{ model: 'hearth/tiny-sdxl', text_prompts: [{ text: 'x' }], samples: 11 }, 'samples'],
      [{ model: 'hearth/tiny-sdxl', text_prompts: [{ text: 'x' }], sampler: 'K_EULER' }, 'sampler'],
      [{ model: 'hearth/tiny-llama', text_prompts: [{ text: 'x' }] }, 'model'],
    ];
    for (const [body, param, headers] of cases) {
      const r = await call(post(SDXL, body, headers));
      expect(r.res.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.param).toBe(param);
    }
    const multipart = new Request(`http://localhost/inference/v1${SDXL}/image_to_image`, {
      method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=x' }, body: '--x\r\nbroken',
    });
    const broken = await call(multipart);
    expect(broken.res.status).toBe(400);
    expect(broken.body.error.code).toBe('invalid_multipart');
  });

  it('refuses safety_check for a model without a safety checker', async () => {
    const registry = new ModelRegistry();
    const tiny = registry.find('hearth/tiny-sdxl')!;
    registry.register({ ...tiny, id: 'me/sdxl-unchecked', aliases: [], files: tiny.files.filter((f) => !f.role.startsWith('safety_checker')) });
    const { handle: h } = nodeApi({ registry });
    const res = await h(post(SDXL, { model: 'me/sdxl-unchecked', text_prompts: [{ text: 'x' }], safety_check: true }));
    expect(res.status).toBe(400);
    expect((await res.json()).error).toMatchObject({ param: 'safety_check', code: 'unsupported_parameter' });
  });

  it('checks the API key when one is configured', async () => {
    const { handle: locked } = nodeApi({ apiKey: 'sekrit' });
    expect((await locked(get('/models'))).status).toBe(401);
    expect((await locked(get('/models', { authorization: 'Bearer nope' }))).status).toBe(401);
    expect((await locked(get('/models', { authorization: 'Bearer sekrit' }))).status).toBe(200);
  });
});

describe('GET /models', () => {
  it('lists the catalog with state', async () => {
    const { res, body } = await call(get('/models'));
    expect(res.status).toBe(200);
    expect(body.object).toBe('list');
    const tinyModel = body.data.find((m: any) => m.id === 'hearth/tiny-embed');
    expect(tinyModel).toMatchObject({ object: 'model', owned_by: 'hearth', kind: 'embeddings', built_in: true });
    expect(typeof tinyModel.created).toBe('number');
    expect(body.data.map((m: any) => m.id)).toContain('nomic-ai/nomic-embed-text-v1.5');
  });

  it('sizes: exact where the catalog knows every file, approximate where some are known only by their listed (rounded) size', async () => {
    const { body } = await call(get('/models'));
    for (const m of body.data as any[]) {
      const entry = CATALOG.find((e) => e.id === m.id)!;
      const needed = entry.files.filter((f) => !f.optional);
      if (needed.every((f) => f.size !== undefined)) {
        expect(m.size_bytes, m.id).toBe(needed.reduce((s, f) => s + f.size!, 0));
        expect(m.approx_size_bytes, m.id).toBeUndefined();
      } else if (needed.some((f) => f.listedSize !== undefined)) {
        expect(m.size_bytes, m.id).toBeNull();
        expect(m.approx_size_bytes, m.id).toBe(needed.reduce((s, f) => s + (f.size ?? f.listedSize ?? 0), 0));
      } else {
        expect([m.size_bytes, m.approx_size_bytes], m.id).toEqual([null, undefined]);
      }
    }
    // SDXL-Turbo's files are known by their listed sizes (~2.5 GB download).
    expect(body.data.find((m: any) => m.id === 'stabilityai/sdxl-turbo').approx_size_bytes).toBeGreaterThan(2e9);
  });

  it('describes one model by id or alias, 404 otherwise', async () => {
    expect((await call(get('/models/nomic-ai/nomic-embed-text-v1.5'))).body.id).toBe('nomic-ai/nomic-embed-text-v1.5');
    const { res, body } = await call(get('/models/does/not-exist'));
    expect(res.status).toBe(404);
    expectError(body, 'not_found_error', 'model');
  });
});

describe('POST /embeddings on the real engine (wasm in Node)', () => {
  it('matches the torch reference for every case', async () => {
    const { res, body } = await call(post('/embeddings', { model: 'hearth/tiny-embed', input: tiny.map((c) => c.text) }));
    expect(res.status).toBe(200);
    expect(res.headers.get('x-hearth-backend')).toBe('wasm');
    expect(body.object).toBe('list');
    expect(body.model).toBe('hearth/tiny-embed');
    body.data.forEach((d: any, i: number) => {
      expect(d).toMatchObject({ object: 'embedding', index: i });
      expectClose(d.embedding, tiny[i].embedding);
    });
    const tokens = tiny.reduce((s, c) => s + c.input_ids.length, 0);
    expect(body.usage).toEqual({ prompt_tokens: tokens, total_tokens: tokens });
  });

  it('takes token ids and gives the same vectors as text', async () => {
    const { body } = await call(post('/embeddings', { model: 'hearth/tiny-embed', input: [tiny[0].input_ids, tiny[1].input_ids] }));
    expectClose(body.data[0].embedding, tiny[0].embedding);
    expectClose(body.data[1].embedding, tiny[1].embedding);
    const single = await call(post('/embeddings', { model: 'hearth/tiny-embed', input: tiny[2].input_ids }));
    expectClose(single.body.data[0].embedding, tiny[2].embedding);
  });

  it('truncates to dimensions and renormalises (Matryoshka)', async () => {
    const { body } = await call(post('/embeddings', { model: 'hearth/tiny-embed', input: tiny[0].text, dimensions: 16 }));
    const cut = tiny[0].embedding.slice(0, 16);
    const norm = Math.hypot(...cut);
    expectClose(body.data[0].embedding, cut.map((v) => v / norm));
  });

  it('encodes base64 as little-endian float32', async () => {
    const { body } = await call(post('/embeddings', { model: 'hearth/tiny-embed', input: tiny[0].text, encoding_format: 'base64' }));
    expect(typeof body.data[0].embedding).toBe('string');
    expectClose(Array.from(base64ToFloat32(body.data[0].embedding)), tiny[0].embedding);
  });

  it('refuses dimensions on a model without Matryoshka, and beyond the width', async () => {
    let r = await call(post('/embeddings', { model: 'hearth/tiny-embed-cls', input: 'hi', dimensions: 8 }));
    expect(r.res.status).toBe(400);
    expectError(r.body, 'invalid_request_error', 'dimensions');
    r = await call(post('/embeddings', { model: 'hearth/tiny-embed', input: 'hi', dimensions: 65 }));
    expect(r.res.status).toBe(400);
    expectError(r.body, 'invalid_request_error', 'dimensions');
  });

  it('refuses unknown models (404), other kinds and token ids outside the vocabulary (400)', async () => {
    let r = await call(post('/embeddings', { model: 'no/such-model', input: 'hi' }));
    expect(r.res.status).toBe(404);
    expectError(r.body, 'not_found_error', 'model');
    r = await call(post('/embeddings', { model: 'hearth/tiny-embed', input: [[2, 99999, 3]] }));
    expect(r.res.status).toBe(400);
    expectError(r.body, 'invalid_request_error', 'input[0][1]');
  });

  it('validates the body against the spec, then still serves', async () => {
    for (const [body, param] of [
      [{ input: 'hi' }, 'model'],
      [{ model: 'hearth/tiny-embed' }, 'input'],
      [{ model: 'hearth/tiny-embed', input: '' }, 'input'],
      [{ model: 'hearth/tiny-embed', input: 42 }, 'input'],
      [{ model: 'hearth/tiny-embed', input: ['ok', ''] }, 'input[1]'],
      [{ model: 'hearth/tiny-embed', input: 'hi', encoding_format: 'hex' }, 'encoding_format'],
      [{ model: 'hearth/tiny-embed', input: 'hi', bogus: 1 }, 'bogus'],
    ] as const) {
      const r = await call(post('/embeddings', body));
      expect(r.res.status, JSON.stringify(body)).toBe(400);
      expectError(r.body, 'invalid_request_error', param);
    }
    const ok = await call(post('/embeddings', { model: 'hearth/tiny-embed', input: tiny[0].text }));
    expect(ok.res.status).toBe(200);
    expectClose(ok.body.data[0].embedding, tiny[0].embedding);
  });
});

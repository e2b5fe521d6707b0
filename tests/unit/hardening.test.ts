// Hardening checks that need no browser: the service worker's door check (refuseForeign), JSON bodies only as
// application/json, and the cheap limits that answer before any engine work.
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { readImageSize } from '../../src/api/image-header';
import { fitMessages } from '../../src/engines/llm/prompt-fit';
import { refuseForeign } from '../../src/runtime/sw-guard';
import { nodeApi, post } from './node-api';

const ORIGIN = 'https://hearth.example';
/** A Request as a service worker sees it (Node's Request refuses mode 'navigate'). */
const seen = (mode: RequestMode, headers: Record<string, string> = {}) => ({ mode, headers: new Headers(headers) }) as Request;

describe('refuseForeign', () => {
  it('refuses navigations, other origins and cross-site fetch metadata with 403', () => {
    for (const request of [
      seen('navigate'),
      seen('navigate', { origin: ORIGIN }),
      seen('cors', { origin: 'https://evil.example' }),
      seen('no-cors', { origin: 'null' }),
      seen('cors', { 'sec-fetch-site': 'cross-site' }),
      seen('cors', { 'sec-fetch-site': 'same-site' }),
    ]) {
      const refusal = refuseForeign(request, ORIGIN);
      expect(refusal?.status).toBe(403);
      expect(refusal?.toJSON().error).toMatchObject({ type: 'permission_denied', param: null });
    }
  });

  it('lets this site\'s own fetches through', () => {
    expect(refuseForeign(seen('cors'), ORIGIN)).toBeNull();
    expect(refuseForeign(seen('cors', { origin: ORIGIN, 'sec-fetch-site': 'same-origin' }), ORIGIN)).toBeNull();
    expect(refuseForeign(seen('same-origin'), ORIGIN)).toBeNull();
  });
});

describe('JSON bodies need application/json', () => {
  const { handle } = nodeApi();
  const body = { model: 'hearth/tiny-embed', input: 'x' };

  it('refuses text/plain (what another site\'s form sends) and a missing type', async () => {
    for (const headers of [{ 'content-type': 'text/plain' }, { 'content-type': 'text/plain;charset=UTF-8' }, { 'content-type': '' }, { 'content-type': 'application/jsonp' }]) {
      const res = await handle(post('/embeddings', body, headers));
      expect(res.status, JSON.stringify(headers)).toBe(400);
      expect((await res.json()).error).toMatchObject({ type: 'invalid_request_error', code: 'unsupported_content_type' });
    }
  });

  it('accepts application/json with parameters and +json types', async () => {
    for (const type of ['application/json', 'application/json; charset=utf-8', 'application/vnd.api+json']) {
      const res = await handle(post('/embeddings', body, { 'content-type': type }));
      expect(res.status, type).toBe(200);
    }
  });
});

describe('image bodies that are not JSON objects', () => {
  const { handle } = nodeApi();
  it('null, a list or a number: the spec\'s 400, not a 500 (found by the full soak)', async () => {
    for (const raw of ['null', '[]', '42']) {
      const res = await handle(post('/image_generation/accounts/fireworks/models/stable-diffusion-xl-1024-v1-0', raw));
      expect(res.status, raw).toBe(400);
      expect((await res.json()).error.type, raw).toBe('invalid_request_error');
    }
  });
});

describe('cheap checks before heavy work', () => {
  const { handle } = nodeApi();
  const chat = (extra: object) => post('/chat/completions', { model: 'hearth/tiny-llama', max_tokens: 2, temperature: 0, ...extra });
  const user = (content: string) => ({ role: 'user', content });
  const timed = async (req: Request) => {
    const t0 = performance.now();
    const res = await handle(req);
    return { status: res.status, body: await res.json(), ms: performance.now() - t0 };
  };
  const nest = (depth: number) => {
    let schema: object = { type: 'string' };
    for (let i = 0; i < depth; i++) schema = { type: 'object', properties: { a: schema } };
    return schema;
  };

  it('refuses what cannot be served with a 400 naming the field, each in well under a second', async () => {
    const cases: [string, Request, string][] = [
      ['too many messages', chat({ messages: Array.from({ length: 10_000 }, (_, i) => user(`m${i}`)) }), 'messages'],
      ['user content null', chat({ messages: [{ role: 'user', content: null }] }), 'messages[0].content'],
      ['system content null', chat({ messages: [{ role: 'system', content: null }, user('x')] }), 'messages[0].content'],
      ['prompt_truncate_len -1', chat({ messages: [user('x')], prompt_truncate_len: -1 }), 'prompt_truncate_len'],
      ['prompt_truncate_len 0', chat({ messages: [user('x')], prompt_truncate_len: 0 }), 'prompt_truncate_len'],
      ['schema 1,000 deep', chat({ messages: [user('x')], response_format: { type: 'json_object', schema: nest(1000) } }), null as unknown as string],
      ['schema 20 levels of properties (41 deep)', chat({ messages: [user('x')], response_format: { type: 'json_object', schema: nest(20) } }), 'response_format.schema'],
      ['schema with 20,000 values', chat({ messages: [user('x')], response_format: { type: 'json_object', schema: { enum: Array.from({ length: 20_000 }, (_, i) => i) } } }), 'response_format.schema'],
      ['too many tools', chat({ messages: [user('x')], tools: Array.from({ length: 200 }, (_, i) => ({ type: 'function', function: { name: `f${i}`, parameters: { type: 'object' } } })) }), 'tools'],
      ['a long stop sequence', chat({ messages: [user('x')], stop: ['x'.repeat(1000)] }), 'stop[0]'],
      ['a 1 MB message', chat({ messages: [user('word '.repeat(200_000))] }), 'messages[0].content'],
      ['2,049 prompts', post('/completions', { model: 'hearth/tiny-llama', prompt: Array.from({ length: 2049 }, () => 'x'), max_tokens: 1 }), 'prompt'],
      ['prompts × n', post('/completions', { model: 'hearth/tiny-llama', prompt: Array.from({ length: 100 }, () => 'x'), n: 8, max_tokens: 1 }), 'n'],
      ['a 1 MB prompt', post('/completions', { model: 'hearth/tiny-llama', prompt: 'word '.repeat(200_000), max_tokens: 1 }), 'prompt'],
    ];
    await handle(chat({ messages: [user('warm')] })); // the model loads once, outside the timings
    for (const [what, req, param] of cases) {
      const r = await timed(req);
      expect(r.status, `${what}: ${JSON.stringify(r.body)}`).toBe(400);
      expect(r.body.error.type, what).toBe('invalid_request_error');
      if (param !== null) expect(r.body.error.param, what).toBe(param);
      expect(r.ms, what).toBeLessThan(1000);
    }
  });

  it('a schema 100,000 deep is a 400, not a stack overflow', async () => {
    const text = `{"model":"hearth/tiny-llama","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_object","schema":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}}`;
    const r = await timed(post('/chat/completions', text));
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('limit_exceeded');
  });

  it('GET /models/%ZZ is a 400, not a 500', async () => {
    const res = await handle(new Request('http://localhost/inference/v1/models/%ZZ'));
    expect(res.status).toBe(400);
    expect((await res.json()).error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_path' });
  });

  it('prompt_truncate_len evicts whole earlier messages (system and newest kept) without tokenizing each prefix', async () => {
    const messages = [{ role: 'system', content: 'You are terse.' }];
    for (let i = 0; i < 1000; i++) messages.push(user(`Message number ${i} says hello.`), { role: 'assistant', content: `Reply ${i}.` });
    messages.push(user('The last question?'));
    const r = await timed(chat({ messages, prompt_truncate_len: 100 }));
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.usage.prompt_tokens).toBeLessThanOrEqual(100);
    expect(r.body.usage.prompt_tokens).toBeGreaterThan(50);
    expect(r.ms).toBeLessThan(3000);
  });
});

describe('fitMessages', () => {
  const words = (text: string) => text.split(' ').length;
  const m = (role: 'system' | 'user' | 'assistant', content: string) => ({ role, content });
  const convo = [m('system', 'be brief'), m('user', 'one two three'), m('assistant', 'four five'), m('user', 'six seven eight nine'), m('assistant', 'ten'), m('user', 'last one')];

  it('keeps the system message and the newest ones that fit, evicting whole earlier messages', () => {
    const fit = (truncateLen: number | null) => fitMessages(convo, { truncateLen, contextLength: 100, longestPiece: 10, countTokens: words });
    expect(fit(null)).toEqual(convo);
    expect(fit(100)).toEqual(convo);
    expect(fit(9)).toEqual([convo[0], convo[3], convo[4], convo[5]]);
    expect(fit(8)).toEqual([convo[0], convo[4], convo[5]]);
    expect(fit(1)).toEqual([convo[0], convo[5]]);
  });

  it('refuses a message longer than context × longest piece before counting its tokens', () => {
    let counted = 0;
    const options = { truncateLen: 50, contextLength: 4, longestPiece: 2, countTokens: (t: string) => (counted++, words(t)) };
    expect(() => fitMessages([m('user', 'x'.repeat(9))], options)).toThrow(/more than the model's 4-token context/);
    expect(() => fitMessages([m('system', 'x'.repeat(9)), m('user', 'hi')], options)).toThrow(/Message 0/);
    expect(counted).toBe(0);
    expect(() => fitMessages([m('user', 'abcde'), m('user', 'efgh')], { ...options, truncateLen: null })).toThrow(/conversation is 9/);
  });
});

describe('image uploads: size from the header, before decoding', () => {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc32 = (bytes: Uint8Array) => {
    let c = 0xffffffff;
    for (const b of bytes) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Uint8Array) => {
    const out = new Uint8Array(12 + data.length);
    const view = new DataView(out.buffer);
    view.setUint32(0, data.length);
    out.set(new TextEncoder().encode(type), 4);
    out.set(data, 8);
    view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
    return out;
  };
  /** A real greyscale PNG of width × height (zero pixels, deflated: 20000² compresses to ~400 KB, a bomb). */
  const png = (width: number, height: number) => {
    const ihdr = new Uint8Array(13);
    new DataView(ihdr.buffer).setUint32(0, width);
    new DataView(ihdr.buffer).setUint32(4, height);
    ihdr.set([8, 0, 0, 0, 0], 8);
    const raw = new Uint8Array((width + 1) * Math.min(height, 64)); // the rows a test needs; the header says the rest
    const parts = [new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0))];
    return new Blob(parts.map((p) => p.slice().buffer), { type: 'image/png' });
  };
  const jpegHeader = (width: number, height: number) => new Uint8Array([
    0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00,
    0xff, 0xc0, 0x00, 0x11, 0x08, height >> 8, height & 0xff, width >> 8, width & 0xff, 0x03, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1,
  ]);

  it('reads PNG and JPEG sizes from their headers', async () => {
    expect(readImageSize(new Uint8Array(await png(640, 480).arrayBuffer()))).toEqual({ format: 'png', width: 640, height: 480 });
    expect(readImageSize(jpegHeader(1024, 768))).toEqual({ format: 'jpeg', width: 1024, height: 768 });
    expect(readImageSize(new TextEncoder().encode('not an image at all'))).toBeNull();
  });

  it('image_to_image refuses a 20000×20000 PNG (400) before any decoding; a fitting one passes the check', async () => {
    const { handle } = nodeApi();
    const send = (image: Blob) => {
      const form = new FormData();
      form.set('model', 'hearth/tiny-sdxl');
      form.set('text_prompts', JSON.stringify([{ text: 'x' }]));
      form.set('init_image', image, 'init.png');
      return handle(new Request('http://localhost/inference/v1/image_generation/accounts/fireworks/models/stable-diffusion-xl-1024-v1-0/image_to_image', { method: 'POST', body: form }));
    };
    const bomb = await send(png(20000, 20000));
    const bombBody = await bomb.clone().json();
    expect(bomb.status, JSON.stringify(bombBody)).toBe(400);
    expect(bombBody.error).toMatchObject({ param: 'init_image', code: 'image_too_large' });
    const text = await send(new Blob(['hello'], { type: 'image/png' }));
    expect((await text.json()).error).toMatchObject({ param: 'init_image', code: 'invalid_image' });
    // The fitting upload passes every check and the Node image engine runs the job.
    const fits = await send(png(64, 64));
    expect(fits.status, fits.status === 200 ? '' : await fits.text()).toBe(200);
  });
});

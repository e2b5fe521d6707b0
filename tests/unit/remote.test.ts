// Remote backends against real servers (no mocks): a `hearth serve` on a free port is the remote of a Node-built
// Hearth API. Answers through the remote equal calling it directly (byte for byte where the remote is deterministic),
// streams are relayed as they come and cancelling them cancels the remote's engine, bad requests are refused
// without touching the network, upstream errors keep their status and body, and failures of the remote itself
// (refused, flaky, silent, dropping mid-stream) become 502/503/504 ErrorResponses naming it, with retries only
// before the first byte and a circuit breaker.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RemoteBackendOptions } from '../../src/api/remote/backend';
import { Remotes } from '../../src/api/remote/remotes';
import type { RemoteConfig } from '../../src/api/remote/types';
import { CATALOG } from '../../src/models/catalog';
import { ModelRegistry } from '../../src/models/registry';
import { startServer, type RunningServer } from '../../src/server/serve';
import { sseEvents } from '../api-cases';
import { nodeEngines, ROOT } from './node-api';
import { createApi } from '../../src/api/handle';
import type { ApiDeps } from '../../src/api/types';
import type { NodeEngines } from '../../src/server/node-engines';

const SDXL = '/image_generation/accounts/fireworks/models/stable-diffusion-xl-1024-v1-0';
const KEY = 'remote-key';
const fast: RemoteBackendOptions = { backoffMs: 10, breaker: { threshold: 3, cooldownMs: 60_000 } };

let upstream: RunningServer;
const seen: string[] = [];
beforeAll(async () => {
  upstream = await startServer({ port: 0, modelDir: `${ROOT}public`, apiKey: KEY, log: (line) => seen.push(line) });
});
afterAll(() => upstream?.close());

/** The local side: one set of Node engines shared by every API built here (each model loads once). */
let local: NodeEngines;
function viaRemote(config: Partial<RemoteConfig> = {}, overrides: Partial<ApiDeps> = {}, options = fast) {
  const remote: RemoteConfig = { name: 'srv', baseURL: upstream.baseURL, apiKey: KEY, models: ['*'], policy: 'remote', ...config };
  local ??= nodeEngines();
  return { handle: createApi({ registry: new ModelRegistry(), ...local.deps, remotes: new Remotes([remote], options), ...overrides }) };
}

const json = (path: string, body: unknown, headers: Record<string, string> = {}) => ({
  path, init: { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) },
});
const direct = (r: { path: string; init: RequestInit }) =>
  fetch(`${upstream.baseURL}${r.path}`, { ...r.init, headers: { ...(r.init.headers as Record<string, string>), authorization: `Bearer ${KEY}` } });
const through = (handle: (req: Request) => Promise<Response>, r: { path: string; init: RequestInit }) =>
  handle(new Request(`http://localhost/inference/v1${r.path}`, r.init));
/** Ids and timestamps differ per call; everything else must not. */
const normalise = (text: string) => text.replace(/"id":"[a-z]+-[0-9a-f]+"/g, '"id":"x"').replace(/"created":\d+/g, '"created":0');

describe('a remote answers as if called directly', () => {
  let handle: (req: Request) => Promise<Response>;
  beforeAll(() => { handle = viaRemote().handle; });

  it('embeddings: the same bytes, with x-hearth-backend: remote/srv', async () => {
    const r = json('/embeddings', { model: 'hearth/tiny-embed', input: ['a hearth', 'a fire'] });
    const [a, b] = await Promise.all([through(handle, r), direct(r)]);
    expect(a.status).toBe(200);
    expect(a.headers.get('x-hearth-backend')).toBe('remote/srv');
    expect(a.headers.get('x-hearth-remote-backend')).toBe(b.headers.get('x-hearth-backend'));
    expect(a.headers.get('x-remote-request-id')).toMatch(/^req_/);
    expect(a.headers.get('x-request-id')).not.toBe(a.headers.get('x-remote-request-id'));
    expect(await a.text()).toBe(await b.text());
  });

  it('chat, streamed: the same events, relayed as the remote sends them', async () => {
    const r = json('/chat/completions', { model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 12, seed: 5, stream: true });
    const res = await through(handle, r);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('x-hearth-seed')).toBe('5');
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    let reads = 0;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
      reads++;
    }
    expect(reads).toBeGreaterThan(3); // chunk by chunk, not one buffered body
    expect(sseEvents(text).at(-1)).toBe('[DONE]');
    expect(normalise(text)).toBe(normalise(await (await direct(r)).text()));
  });

  it('completions (JSON): the same answer', async () => {
    const r = json('/completions', { model: 'hearth/tiny-llama', prompt: 'Once upon', max_tokens: 6, seed: 9 });
    const a = await through(handle, r);
    expect(a.status).toBe(200);
    expect(normalise(await a.text())).toBe(normalise(await (await direct(r)).text()));
  });

  it('an image: the same PNG bytes and Finish-Reason / Seed headers', async () => {
    const r = json(SDXL, { model: 'hearth/tiny-sdxl', text_prompts: [{ text: 'a hearth' }], seed: 11, steps: 10 }, { accept: 'image/png' });
    const [a, b] = [await through(handle, r), await direct(r)];
    expect(a.status).toBe(200);
    for (const h of ['content-type', 'finish-reason', 'seed']) expect(a.headers.get(h)).toBe(b.headers.get(h));
    expect(Buffer.from(await a.arrayBuffer()).equals(Buffer.from(await b.arrayBuffer()))).toBe(true);
  });

  it('multipart (image_to_image): forwarded as sent, the same image back', async () => {
    const png = await (await direct(json(SDXL, { model: 'hearth/tiny-sdxl', text_prompts: [{ text: 'init' }], seed: 3, steps: 10 }, { accept: 'image/png' }))).arrayBuffer();
    const form = () => {
      const f = new FormData();
      f.set('model', 'hearth/tiny-sdxl');
      f.set('text_prompts', JSON.stringify([{ text: 'a hearth at night' }]));
      f.set('init_image', new Blob([png], { type: 'image/png' }), 'init.png');
      f.set('seed', '4');
      f.set('steps', '10');
      return f;
    };
    const a = await handle(new Request(`http://localhost/inference/v1${SDXL}/image_to_image`, { method: 'POST', body: form(), headers: { accept: 'image/png' } }));
    const b = await fetch(`${upstream.baseURL}${SDXL}/image_to_image`, { method: 'POST', body: form(), headers: { accept: 'image/png', authorization: `Bearer ${KEY}` } });
    expect(a.status, await a.clone().text()).toBe(200);
    expect(a.headers.get('x-hearth-backend')).toBe('remote/srv');
    expect(Buffer.from(await a.arrayBuffer()).equals(Buffer.from(await b.arrayBuffer()))).toBe(true);
  });

  it('a bad request is refused here: no request reaches the remote', async () => {
    const before = seen.length;
    const res = await through(handle, json('/chat/completions', { model: 'hearth/tiny-llama', messages: 'not a list' }));
    expect(res.status).toBe(400);
    expect(res.headers.get('x-hearth-backend')).toBeNull();
    expect(seen.length).toBe(before);
  });

  it('GET /models lists the remote models and where each runs', async () => {
    const { handle: partial } = viaRemote({ models: ['hearth/tiny-llama*', 'accounts/fireworks/models/*'], policy: 'local-first' },
      { registry: new ModelRegistry(CATALOG.filter((e) => !e.id.startsWith('hearth/tiny-llama'))) });
    const list = (await (await partial(new Request('http://localhost/inference/v1/models'))).json()) as { data: { id: string; runs_on: string[]; remote?: { name: string } }[] };
    const byId = new Map(list.data.map((m) => [m.id, m]));
    expect(byId.get('hearth/tiny-llama')?.runs_on).toEqual(['remote/srv']);
    expect(byId.get('hearth/tiny-llama')?.remote?.name).toBe('srv');
    expect(byId.get('hearth/tiny-embed')?.runs_on).toEqual(['local']);
    expect(byId.get('meta-llama/Llama-3.2-1B-Instruct')?.runs_on).toEqual(['local', 'remote/srv']); // its alias is a Fireworks id
    const one = await partial(new Request('http://localhost/inference/v1/models/hearth/tiny-llama-q4'));
    expect(one.headers.get('x-hearth-backend')).toBe('remote/srv');
    expect(((await one.json()) as { id: string }).id).toBe('hearth/tiny-llama-q4');
  });
});

describe('policies', () => {
  const chat = json('/chat/completions', { model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2, seed: 1 });

  it('local-first runs locally when it can, remotely when there is no local engine or no local model', async () => {
    const local = await through(viaRemote({ policy: 'local-first' }).handle, chat);
    expect(local.status).toBe(200);
    expect(local.headers.get('x-hearth-backend')).not.toMatch(/^remote\//);
    const noEngine = await through(viaRemote({ policy: 'local-first' }, { localEngines: false }).handle, chat);
    expect(noEngine.headers.get('x-hearth-backend')).toBe('remote/srv');
    const noModel = await through(viaRemote({ policy: 'local-first' }, { registry: new ModelRegistry(CATALOG.filter((e) => e.id !== 'hearth/tiny-llama')) }).handle, chat);
    expect(noModel.status).toBe(200);
    expect(noModel.headers.get('x-hearth-backend')).toBe('remote/srv');
  });

  it('local-first falls back to the remote when the local engine answers 503', async () => {
    const { handle } = viaRemote({ policy: 'local-first' }, {
      ...nodeEngines().deps, // engines of its own, with nothing loaded yet
      isDownloaded: async () => true,
      registry: new ModelRegistry(CATALOG.map((e) => (e.id === 'hearth/tiny-llama' ? { ...e, builtIn: false, files: e.files.map((f) => ({ ...f, url: `https://nowhere.invalid/${f.url}` })) } : e))),
    });
    const res = await through(handle, chat);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-hearth-backend')).toBe('remote/srv');
  });

  it('local never goes remote; models outside the patterns stay local', async () => {
    const res = await through(viaRemote({ policy: 'local' }, { localEngines: false }).handle, chat);
    expect(res.headers.get('x-hearth-backend')).not.toBe('remote/srv');
    const other = await through(viaRemote({ models: ['accounts/fireworks/models/*'] }).handle, chat);
    expect(other.headers.get('x-hearth-backend')).not.toBe('remote/srv');
  });
});

describe('errors and failures', () => {
  it("the remote's own errors keep their status and body (401 for a wrong key)", async () => {
    const { handle } = viaRemote({ apiKey: 'wrong' });
    const res = await through(handle, json('/embeddings', { model: 'hearth/tiny-embed', input: 'x' }));
    expect(res.status).toBe(401);
    expect(res.headers.get('x-hearth-backend')).toBe('remote/srv');
    const body = (await res.json()) as { error: { code: string } };
    expect(body.error.code).toBe('invalid_api_key');
  });

  it('a remote that cannot be reached is a 502 naming it; the breaker then opens (503, Retry-After)', async () => {
    const closed = await listen((_req, res) => res.end());
    await new Promise<void>((r) => closed.server.close(() => r()));
    const { handle } = viaRemote({ name: 'gone', baseURL: closed.url }, {}, { backoffMs: 5, breaker: { threshold: 3, cooldownMs: 60_000 } });
    const first = await through(handle, json('/embeddings', { model: 'hearth/tiny-embed', input: 'x' }));
    expect(first.status).toBe(502);
    expect(first.headers.get('x-hearth-backend')).toBe('remote/gone');
    const err = ((await first.json()) as { error: { code: string; message: string } }).error;
    expect(err.code).toBe('remote_unreachable');
    expect(err.message).toContain('"gone"');
    const second = await through(handle, json('/embeddings', { model: 'hearth/tiny-embed', input: 'x' }));
    expect(second.status).toBe(503);
    expect(((await second.json()) as { error: { code: string } }).error.code).toBe('remote_circuit_open');
    expect(Number(second.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('retries 503s before the first byte, with backoff, then answers', async () => {
    let calls = 0;
    const flaky = await listen((req, res) => {
      calls++;
      if (calls <= 2) return void res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":{"type":"service_unavailable","message":"busy","param":null,"code":"busy"}}');
      req.pipe(res);
    });
    try {
      const { handle } = viaRemote({ name: 'flaky', baseURL: flaky.url });
      const res = await through(handle, json('/embeddings', { model: 'hearth/tiny-embed', input: 'echo' }));
      expect(res.status).toBe(200);
      expect(calls).toBe(3);
      expect(JSON.parse(await res.text())).toEqual({ model: 'hearth/tiny-embed', input: 'echo' });
      // Always busy: after the retries, the remote's own 503 ErrorResponse is what the caller gets.
      calls = -100;
      const busy = await through(handle, json('/embeddings', { model: 'hearth/tiny-embed', input: 'x' }));
      expect(busy.status).toBe(503);
      expect(((await busy.json()) as { error: { code: string } }).error.code).toBe('busy');
      expect(calls).toBe(-97);
    } finally {
      flaky.server.close();
    }
  });

  it('a remote that sends no headers in time is a 504', async () => {
    const silent = await listen(() => undefined);
    try {
      const { handle } = viaRemote({ name: 'silent', baseURL: silent.url }, {}, { backoffMs: 5, headersTimeoutMs: 300, retries: 0 });
      const res = await through(handle, json('/embeddings', { model: 'hearth/tiny-embed', input: 'x' }));
      expect(res.status).toBe(504);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('remote_timeout');
    } finally {
      silent.server.closeAllConnections();
      silent.server.close();
    }
  });

  it('a stream the remote drops midway errors for the caller, and is not retried', async () => {
    let calls = 0;
    const dropping = await listen((_req, res) => {
      calls++;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {"choices":[]}\n\n');
      setTimeout(() => res.destroy(), 50);
    });
    try {
      const { handle } = viaRemote({ name: 'dropping', baseURL: dropping.url });
      const res = await through(handle, json('/chat/completions', { model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'Hi' }], stream: true }));
      expect(res.status).toBe(200);
      const t0 = Date.now();
      await expect(res.text()).rejects.toThrow();
      expect(Date.now() - t0).toBeLessThan(1000);
      expect(calls).toBe(1);
    } finally {
      dropping.server.close();
    }
  });

  it("cancelling a relayed stream cancels the remote's engine job", async () => {
    const { handle } = viaRemote();
    const cancelled = () => upstream.engines.engine('llm').then((llm) => llm.loaded()).then((l) => l.find((m) => m.id === 'hearth/tiny-llama')?.stats?.cancelled ?? 0);
    const before = await cancelled();
    const abort = new AbortController();
    const res = await handle(new Request('http://localhost/inference/v1/chat/completions', {
      method: 'POST', signal: abort.signal, headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'A long story' }], max_tokens: 2000, stream: true }),
    }));
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    abort.abort();
    await expect.poll(cancelled, { timeout: 5000 }).toBe(before + 1);
  });
});

async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/inference/v1` };
}

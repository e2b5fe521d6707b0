/**
 * API test cases shared by every host of `handle()`: each is a request and the answer it must get. The same table
 * runs against `hearth serve` over real HTTP (tests/unit/serve.test.ts), against the browser host page through its
 * service worker, and against a page whose only backend is a `hearth serve` remote (tests/browser/remote.test.ts).
 * Checks run in the test process on what came back (status, headers, parsed JSON, raw text).
 */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';

export interface ApiAnswer { status: number; headers: Record<string, string>; body: any; text: string }

export interface ApiCase {
  name: string;
  method?: 'GET' | 'POST';
  /** Below the API base, e.g. `/embeddings`. */
  path: string;
  body?: unknown;
  /** Sent as is instead of `body` (malformed JSON). */
  rawBody?: string;
  headers?: Record<string, string>;
  status: number;
  /** For error answers: the ErrorResponse's type, code and param. */
  error?: { type: string; code?: string; param?: string | null };
  check?(answer: ApiAnswer): void;
}

const SDXL = '/image_generation/accounts/fireworks/models/stable-diffusion-xl-1024-v1-0';
const embedRef = JSON.parse(readFileSync(new URL('./fixtures/embeddings/reference.json', import.meta.url), 'utf8')) as
  Record<string, { cases: { text: string; embedding: number[] }[] }>;
const tinyEmbed = embedRef['hearth-tiny-embed'].cases[0];

/** SSE `data:` payloads in order (the last is `[DONE]`). */
export function sseEvents(text: string): string[] {
  return text.split('\n\n').filter((block) => block.startsWith('data: ')).map((block) => block.slice(6));
}

export const API_CASES: ApiCase[] = [
  {
    name: 'GET /models lists the built-in models',
    path: '/models', status: 200,
    check: ({ body }) => {
      expect(body.object).toBe('list');
      expect(body.data.map((m: { id: string }) => m.id)).toEqual(expect.arrayContaining(['hearth/tiny-llama', 'hearth/tiny-embed', 'hearth/tiny-sdxl']));
    },
  },
  {
    name: 'embeddings equal the torch reference',
    path: '/embeddings', body: { model: 'hearth/tiny-embed', input: tinyEmbed.text }, status: 200,
    check: ({ body }) => {
      expect(body.object).toBe('list');
      const v = body.data[0].embedding as number[];
      expect(v.length).toBe(tinyEmbed.embedding.length);
      expect(Math.max(...v.map((x, i) => Math.abs(x - tinyEmbed.embedding[i])))).toBeLessThan(1e-4);
      expect(body.usage.prompt_tokens).toBeGreaterThan(0);
    },
  },
  {
    name: 'chat completion (JSON)',
    path: '/chat/completions', status: 200,
    body: { model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 4, seed: 7 },
    check: ({ body, headers }) => {
      expect(body.object).toBe('chat.completion');
      expect(body.choices[0].message.role).toBe('assistant');
      expect(typeof body.choices[0].message.content).toBe('string');
      expect(body.usage.completion_tokens).toBeLessThanOrEqual(4);
      expect(headers['x-hearth-seed']).toBe('7');
    },
  },
  {
    name: 'chat completion streamed (SSE, usage in the last chunk, then [DONE])',
    path: '/chat/completions', status: 200,
    body: { model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 4, seed: 7, stream: true },
    check: ({ text, headers }) => {
      expect(headers['content-type']).toMatch(/^text\/event-stream/);
      const events = sseEvents(text);
      expect(events.at(-1)).toBe('[DONE]');
      const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
      expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
      expect(chunks[0].choices[0].delta.role).toBe('assistant');
      expect(chunks.at(-1).usage.completion_tokens).toBeLessThanOrEqual(4);
    },
  },
  {
    name: 'completion (JSON)',
    path: '/completions', status: 200,
    body: { model: 'hearth/tiny-llama', prompt: 'Once upon a time', max_tokens: 3, seed: 3 },
    check: ({ body }) => {
      expect(body.object).toBe('text_completion');
      expect(typeof body.choices[0].text).toBe('string');
      expect(body.usage.completion_tokens).toBeLessThanOrEqual(3);
    },
  },
  {
    name: 'an image (PNG bytes with Finish-Reason and Seed headers)',
    path: SDXL, status: 200, headers: { accept: 'image/png' },
    body: { model: 'hearth/tiny-sdxl', text_prompts: [{ text: 'a hearth' }], seed: 42, steps: 10 },
    check: ({ headers }) => {
      expect(headers['content-type']).toBe('image/png');
      expect(headers['finish-reason']).toBe('SUCCESS');
      expect(headers.seed).toBe('42');
    },
  },
  {
    name: 'malformed JSON is a 400',
    path: '/embeddings', rawBody: '{"model": ', headers: { 'content-type': 'application/json' }, status: 400,
    error: { type: 'invalid_request_error', code: 'invalid_json', param: null },
  },
  {
    name: 'an unknown model is a 404 naming the field',
    path: '/embeddings', body: { model: 'nobody/nothing', input: 'x' }, status: 404,
    error: { type: 'not_found_error', code: 'model_not_found', param: 'model' },
  },
  {
    name: 'a model of the wrong kind is a 400',
    path: '/embeddings', body: { model: 'hearth/tiny-llama', input: 'x' }, status: 400,
    error: { type: 'invalid_request_error', code: 'wrong_model_kind', param: 'model' },
  },
  {
    name: 'a wrong method is a 405 with Allow',
    method: 'GET', path: '/chat/completions', status: 405,
    error: { type: 'method_not_allowed' },
    check: ({ headers }) => expect(headers.allow).toBe('POST'),
  },
  {
    name: 'an unknown path is a 404',
    path: '/nowhere', body: {}, status: 404,
    error: { type: 'not_found_error', code: 'unknown_route' },
  },
];

/** Asserts an answer against its case (status, ErrorResponse shape, the case's own checks). */
export function expectAnswer(c: ApiCase, answer: ApiAnswer): void {
  expect(answer.status, `${c.name}: ${answer.text.slice(0, 300)}`).toBe(c.status);
  if (c.error) {
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
    expect(Object.keys(answer.body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
    expect(answer.body.error.type).toBe(c.error.type);
    if (c.error.code !== undefined) expect(answer.body.error.code).toBe(c.error.code);
    if (c.error.param !== undefined) expect(answer.body.error.param).toBe(c.error.param);
  }
  c.check?.(answer);
}

/** The request init a case sends (the same in Node's fetch and in the page). */
export function caseInit(c: ApiCase): { method: string; headers: Record<string, string>; body?: string } {
  const headers: Record<string, string> = { ...(c.headers ?? {}) };
  let body: string | undefined;
  if (c.rawBody !== undefined) body = c.rawBody;
  else if (c.body !== undefined) {
    body = JSON.stringify(c.body);
    headers['content-type'] ??= 'application/json';
  }
  return { method: c.method ?? (body === undefined ? 'GET' : 'POST'), headers, body };
}

/** Sends a case with `fetch` to an API base URL and reads the whole answer. */
export async function fetchCase(baseURL: string, c: ApiCase, extraHeaders: Record<string, string> = {}): Promise<ApiAnswer> {
  const init = caseInit(c);
  const res = await fetch(`${baseURL}${c.path}`, { ...init, headers: { ...init.headers, ...extraHeaders } });
  const text = await res.text();
  let body: unknown = null;
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: Object.fromEntries(res.headers), body, text };
}

/**
 * Small helpers for building responses and reading bounded request bodies.
 */
import { concatBytes } from '../util/bytes';
import { HearthError, invalidRequest } from './errors';
import { LIMITS } from './limits';
import { measureJson } from './precheck';

export function jsonResponse(body: unknown, init: { status?: number; headers?: Record<string, string> } = {}): Response {
  return new Response(JSON.stringify(body), {
    status: init.status ?? 200,
    headers: { 'content-type': 'application/json', ...init.headers },
  });
}

export const tooLarge = (limit: number) => new HearthError({
  status: 413, type: 'request_too_large', code: 'request_too_large', param: null,
  message: `Request body is larger than the ${limit}-byte limit`,
});

/** Reads at most `limit` bytes of the body, failing with 413 as soon as it is exceeded. */
export async function readBody(request: Request, limit: number): Promise<Uint8Array> {
  const declared = Number(request.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  return concatBytes(chunks, total);
}

export function parseJsonBody(request: Request, bytes: Uint8Array): unknown {
  // application/json only: text/plain (or no type) is what another site's <form> or a no-cors fetch can send.
  const type = request.headers.get('content-type') ?? '';
  if (!/^application\/(.+\+)?json\s*(;|$)/i.test(type)) {
    throw invalidRequest(`Content-Type must be application/json (got ${type || 'none'})`, null, 'unsupported_content_type');
  }
  if (bytes.length === 0) throw invalidRequest('Request body is empty; expected a JSON object', null, 'invalid_json');
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw invalidRequest(`Request body is not valid JSON: ${(e as Error).message}`, null, 'invalid_json');
  }
  // Nothing later walks a value nested past this (no recursion can overflow); per-field limits are in precheck.ts.
  if (measureJson(value, LIMITS.maxBodyDepth, Infinity).depth > LIMITS.maxBodyDepth) {
    throw invalidRequest(`The request body nests deeper than ${LIMITS.maxBodyDepth} levels`, null, 'limit_exceeded');
  }
  return value;
}

/** The client gave up on the request (status 499, as nginx logs it: nobody receives this answer). */
export const cancelledByClient = () => new HearthError({
  status: 499, type: 'invalid_request_error', message: 'The client aborted the request', param: null, code: 'cancelled',
});

/**
 * Reads every item of an engine's stream for a whole-body answer (JSON, PNG). If the request is aborted meanwhile, the
 * stream is cancelled — the engine stops at its next token or step and frees its queue — and this throws 499.
 */
export async function readAll<T>(stream: ReadableStream<T>, signal: AbortSignal | undefined, onItem: (item: T) => void): Promise<void> {
  const reader = stream.getReader();
  const stop = () => void reader.cancel(cancelledByClient()).catch(() => undefined);
  if (signal?.aborted) stop();
  signal?.addEventListener('abort', stop, { once: true });
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      onItem(value);
    }
  } finally {
    signal?.removeEventListener('abort', stop);
  }
  if (signal?.aborted) throw cancelledByClient();
}

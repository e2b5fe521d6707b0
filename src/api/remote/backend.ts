/**
 * One remote backend: forwards an already validated request to the remote and hands its answer back faithfully —
 * status, ErrorResponse bodies, image bytes, `Finish-Reason`/`Seed` headers, and streamed bodies chunk by chunk (the
 * upstream body itself is the answer's body, so cancelling it aborts the upstream request). Failures of the remote
 * become ErrorResponses that name it: 502 (unreachable, or a non-API error page), 503 (circuit open), 504 (no answer
 * in time). Failures before the first byte that left the remote unchanged (connection refused or reset, 502/503/504,
 * 429) are retried with exponential backoff; nothing is retried once a byte of the answer has been used.
 */
import { cancelledByClient } from '../http';
import { HearthError } from '../errors';
import { CircuitBreaker, type BreakerOptions } from './breaker';
import type { RemoteConfig } from './types';

export interface RemoteBackendOptions {
  /** Retries after the first try (default 2). */
  retries?: number;
  /** First backoff; doubled per retry, with jitter (default 250 ms). */
  backoffMs?: number;
  /** Time allowed until the answer's headers arrive (default 120 s: a long prompt may take a while to start). */
  headersTimeoutMs?: number;
  breaker?: BreakerOptions;
  fetch?: typeof fetch;
}

/** Request headers a remote gets from the caller; the caller's own Authorization is never passed on. */
const FORWARDED_REQUEST_HEADERS = ['accept', 'content-type', 'huggingface-access-key'];
/** Answer headers that describe one hop, not the answer (fetch has already decoded the body). */
const HOP_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-encoding', 'content-length', 'set-cookie', 'vary']);
const RETRIED_STATUSES = new Set([429, 502, 503, 504]);
const MAX_RETRY_AFTER_MS = 5_000;

export interface ForwardRequest {
  method: 'GET' | 'POST';
  /** Path below the API base (with its query), e.g. `/chat/completions`. */
  path: string;
  headers: Headers;
  body: Uint8Array | null;
  signal: AbortSignal;
}

export class RemoteBackend {
  readonly breaker: CircuitBreaker;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly headersTimeoutMs: number;
  private readonly fetch: typeof fetch;

  constructor(readonly config: RemoteConfig, options: RemoteBackendOptions = {}) {
    this.breaker = new CircuitBreaker(options.breaker);
    this.retries = options.retries ?? 2;
    this.backoffMs = options.backoffMs ?? 250;
    this.headersTimeoutMs = options.headersTimeoutMs ?? 120_000;
    this.fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  get tag(): string {
    return `remote/${this.config.name}`;
  }

  url(path: string): string {
    return `${this.config.baseURL.replace(/\/+$/, '')}${path}`;
  }

  /** The remote's answer with `x-hearth-backend: remote/<name>`, or an ErrorResponse-shaped HearthError thrown. */
  async forward(req: ForwardRequest): Promise<Response> {
    const headers = new Headers();
    for (const name of FORWARDED_REQUEST_HEADERS) {
      const value = req.headers.get(name);
      if (value !== null) headers.set(name, value);
    }
    if (this.config.apiKey) headers.set('authorization', `Bearer ${this.config.apiKey}`);

    for (let attempt = 0; ; attempt++) {
      if (req.signal.aborted) throw cancelledByClient();
      if (!this.breaker.tryAcquire()) {
        const wait = Math.ceil(this.breaker.retryAfterMs() / 1000);
        const e = this.error(503, 'remote_circuit_open', `failed repeatedly and is paused; Hearth tries it again in ${wait} s`);
        e.headers['retry-after'] = String(wait);
        throw e;
      }
      const last = attempt >= this.retries;
      let upstream: Response;
      try {
        upstream = await this.attempt(req, headers);
      } catch (e) {
        if (req.signal.aborted) {
          this.breaker.release();
          throw cancelledByClient();
        }
        this.breaker.failure();
        const timedOut = (e as Error).name === 'TimeoutError';
        if (!last) {
          await this.backoff(attempt, null, req.signal);
          continue;
        }
        throw timedOut
          ? this.error(504, 'remote_timeout', `did not answer within ${Math.round(this.headersTimeoutMs / 1000)} s`)
          : this.error(502, 'remote_unreachable', `could not be reached: ${describeNetworkError(e)}`);
      }
      if (upstream.status >= 500) this.breaker.failure();
      else this.breaker.success();
      if (RETRIED_STATUSES.has(upstream.status) && !last) {
        await upstream.body?.cancel().catch(() => undefined);
        await this.backoff(attempt, upstream.headers.get('retry-after'), req.signal);
        continue;
      }
      return this.answer(upstream);
    }
  }

  private async attempt(req: ForwardRequest, headers: Headers): Promise<Response> {
    // The timeout only counts until the headers arrive: a long stream afterwards is fine.
    const timer = new AbortController();
    const timeout = setTimeout(() => timer.abort(new DOMException('No answer in time', 'TimeoutError')), this.headersTimeoutMs);
    try {
      return await this.fetch(this.url(req.path), {
        method: req.method,
        headers,
        body: req.body as BodyInit | null,
        signal: AbortSignal.any([req.signal, timer.signal]),
        credentials: 'omit',
        cache: 'no-store',
      });
    } finally {
      clearTimeout(timeout);
    }
  }

  private async answer(upstream: Response): Promise<Response> {
    const headers = new Headers();
    upstream.headers.forEach((value, name) => {
      if (HOP_HEADERS.has(name) || name.startsWith('access-control-')) return;
      // The remote's own backend and request id are kept under names of their own (this runtime sets both).
      if (name === 'x-hearth-backend') headers.set('x-hearth-remote-backend', value);
      else if (name === 'x-request-id') headers.set('x-remote-request-id', value);
      else headers.set(name, value);
    });
    headers.set('x-hearth-backend', this.tag);
    const type = upstream.headers.get('content-type') ?? '';
    if (upstream.ok || /\bjson\b/i.test(type) && await isErrorResponse(upstream.clone())) {
      return new Response(upstream.body, { status: upstream.status, statusText: upstream.statusText, headers });
    }
    // An error that is not an API ErrorResponse (a proxy's HTML page): shaped, status kept when it says the remote
    // is down or slow, else a 502.
    const text = (await upstream.text().catch(() => '')).slice(0, 200).replace(/\s+/g, ' ').trim();
    const status = [502, 503, 504].includes(upstream.status) ? upstream.status : upstream.status >= 500 ? 502 : upstream.status;
    throw this.error(status, 'remote_error', `answered ${upstream.status}${text ? `: ${text}` : ''}`);
  }

  /** An ErrorResponse naming the remote, answered with `x-hearth-backend: remote/<name>`. */
  private error(status: number, code: string, what: string): HearthError & { headers: Record<string, string> } {
    const type = status === 502 ? 'internal_server_error' : status === 504 || status === 503 ? 'service_unavailable' : 'invalid_request_error';
    const e = new HearthError({ status, type, code, param: null, message: `Remote "${this.config.name}" (${this.config.baseURL}) ${what}` });
    return Object.assign(e, { headers: { 'x-hearth-backend': this.tag } as Record<string, string> });
  }

  private async backoff(attempt: number, retryAfter: string | null, signal: AbortSignal): Promise<void> {
    const hinted = retryAfter && /^\d+$/.test(retryAfter) ? Number(retryAfter) * 1000 : null;
    const ms = Math.min(hinted ?? this.backoffMs * 2 ** attempt * (0.75 + Math.random() * 0.5), MAX_RETRY_AFTER_MS);
    await new Promise<void>((resolve) => {
      const done = () => { clearTimeout(timer); signal.removeEventListener('abort', done); resolve(); };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

async function isErrorResponse(response: Response): Promise<boolean> {
  try {
    const body = (await response.json()) as { error?: unknown };
    return typeof body?.error === 'object' && body.error !== null;
  } catch {
    return false;
  }
}

function describeNetworkError(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (e instanceof Error ? e.message : String(e));
}

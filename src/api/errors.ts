/**
 * Spec-shaped errors: every failure the API reports is an `ErrorResponse`
 * (`{"error": {"type", "message", "param", "code"}}`) with the HTTP status that fits it.
 * Code anywhere (engines, models, validation) throws `HearthError`; `errorResponse` turns any thrown value into a Response.
 */

export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_denied'
  | 'not_found_error'
  | 'method_not_allowed'
  | 'request_too_large'
  | 'internal_server_error'
  | 'not_implemented'
  | 'service_unavailable'
  | 'insufficient_storage';

export interface ErrorBody {
  error: { type: ErrorType | string; message: string; param: string | null; code: string | null };
}

export interface HearthErrorInit {
  status: number;
  type: ErrorType;
  message: string;
  param?: string | null;
  code?: string | null;
  cause?: unknown;
}

export class HearthError extends Error {
  readonly status: number;
  readonly type: ErrorType;
  readonly param: string | null;
  readonly code: string | null;

  constructor(init: HearthErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'HearthError';
    this.status = init.status;
    this.type = init.type;
    this.param = init.param ?? null;
    this.code = init.code ?? null;
  }

  toJSON(): ErrorBody {
    return { error: { type: this.type, message: this.message, param: this.param, code: this.code } };
  }

  /** Rebuilds an error that crossed a worker boundary (structured clone drops the class). */
  static fromBody(status: number, body: ErrorBody): HearthError {
    const e = body.error;
    return new HearthError({ status, type: e.type as ErrorType, message: e.message, param: e.param, code: e.code });
  }
}

export const invalidRequest = (message: string, param: string | null = null, code: string | null = 'invalid_value') =>
  new HearthError({ status: 400, type: 'invalid_request_error', message, param, code });

export const notFound = (message: string, param: string | null = null, code: string | null = 'not_found') =>
  new HearthError({ status: 404, type: 'not_found_error', message, param, code });

/** 403: the request came from somewhere that may not use this API (another site, a navigation, a rogue host). */
export const forbidden = (message: string, code: string | null = 'forbidden') =>
  new HearthError({ status: 403, type: 'permission_denied', message, param: null, code });

export const unavailable = (message: string, code: string | null = 'service_unavailable', cause?: unknown) =>
  new HearthError({ status: 503, type: 'service_unavailable', message, code, cause });

/** 507: the browser's storage quota cannot hold what a model needs (the message gives the bytes needed and available). */
export const insufficientStorage = (message: string, code: string | null = 'storage_quota_exceeded', cause?: unknown) =>
  new HearthError({ status: 507, type: 'insufficient_storage', message, code, cause });

export const internal = (message: string, code: string | null = 'engine_error', cause?: unknown) =>
  new HearthError({ status: 500, type: 'internal_server_error', message, code, cause });

/** Anything thrown becomes a HearthError; unknown errors are 500s carrying their message. */
export function toHearthError(thrown: unknown): HearthError {
  if (thrown instanceof HearthError) return thrown;
  if (isErrorBodyLike(thrown)) return HearthError.fromBody(thrown.status, { error: thrown.error });
  const message = thrown instanceof Error ? thrown.message : String(thrown);
  return internal(message || 'Unknown engine failure', 'engine_error', thrown);
}

function isErrorBodyLike(v: unknown): v is { status: number; error: ErrorBody['error'] } {
  return typeof v === 'object' && v !== null && 'status' in v && 'error' in v &&
    typeof (v as { status: unknown }).status === 'number';
}

export function errorResponse(thrown: unknown, extraHeaders: Record<string, string> = {}): Response {
  const err = toHearthError(thrown);
  return new Response(JSON.stringify(err.toJSON()), {
    status: err.status,
    headers: { 'content-type': 'application/json', ...extraHeaders },
  });
}

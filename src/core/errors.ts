/**
 * Coded errors: what every layer throws. A `HearthError` carries a code from the catalogue (`./error-codes.ts`),
 * which gives its spec `type` and the HTTP status src/api answers with; its JSON is the spec's ErrorResponse
 * (`{"error": {"type", "message", "param", "code"}}`). Engines and models throw `hearthError(code, …)` or the
 * helpers below and never choose a status; src/api/errors.ts turns any thrown value into a Response.
 */
import { errorCodeEntry, STATUS_OF_TYPE, type ErrorCode, type ErrorType } from './error-codes';

export type { ErrorCode, ErrorType } from './error-codes';

export interface ErrorBody {
  error: { type: ErrorType | string; message: string; param: string | null; code: string | null };
}

export interface HearthErrorInit {
  message: string;
  /** A catalogue code; a code it does not list (a remote's) needs `type`. */
  code?: string | null;
  /** Defaults to the code's type in the catalogue. */
  type?: ErrorType;
  /** Only for errors that arrive with a status (a remote's answer, a clone from a worker); else from the catalogue. */
  status?: number;
  param?: string | null;
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
    const entry = errorCodeEntry(init.code);
    this.type = init.type ?? entry?.type ?? 'internal_server_error';
    this.status = init.status ?? (entry?.type === this.type ? entry.status : undefined) ?? STATUS_OF_TYPE[this.type] ?? 500;
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

export interface CodedErrorOptions {
  param?: string | null;
  cause?: unknown;
  /** Values for the catalogue message's `{name}` placeholders. */
  details?: Record<string, string | number>;
}

/** The error for a catalogue code; the message defaults to the catalogue's (placeholders filled from details). */
export function hearthError(code: ErrorCode, message?: string, options: CodedErrorOptions = {}): HearthError {
  const template = errorCodeEntry(code)?.message ?? code;
  const text = message ?? template.replace(/\{(\w+)\}/g, (whole, name: string) =>
    String(options.details?.[name] ?? (name === 'param' ? options.param : undefined) ?? whole));
  return new HearthError({ code, message: text, param: options.param, cause: options.cause });
}

// Shorthands by type, for codes whose message is always written at the throw site.
export const invalidRequest = (message: string, param: string | null = null, code: string | null = 'invalid_value') =>
  new HearthError({ type: 'invalid_request_error', message, param, code });

export const notFound = (message: string, param: string | null = null, code: string | null = 'not_found') =>
  new HearthError({ type: 'not_found_error', message, param, code });

/** The request came from somewhere that may not use this API (another site, a navigation, a rogue host). */
export const forbidden = (message: string, code: string | null = 'forbidden') =>
  new HearthError({ type: 'permission_denied', message, param: null, code });

export const unavailable = (message: string, code: string | null = 'service_unavailable', cause?: unknown) =>
  new HearthError({ type: 'service_unavailable', message, code, cause });

/** 507: the browser's storage quota cannot hold what a model needs (the message gives the bytes needed and available). */
export const insufficientStorage = (message: string, code: string | null = 'storage_quota_exceeded', cause?: unknown) =>
  new HearthError({ type: 'insufficient_storage', message, code, cause });

export const internal = (message: string, code: string | null = 'engine_error', cause?: unknown) =>
  new HearthError({ type: 'internal_server_error', message, code, cause });

/** Anything thrown becomes a HearthError; unknown errors are `engine_error`s carrying their message. */
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

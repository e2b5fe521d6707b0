/**
 * Request bodies in, by the rules of the live API surface (./live-surface.ts): the run-time coercions the schema
 * cannot express (numeric strings in JSON image bodies), validation against the generated validators, and the list
 * of accepted-but-ignored fields a request carried, which `handle` reports in the `x-hearth-ignored` header so that
 * nothing is dropped silently.
 */
import { LIVE_SURFACE, type LiveOperation } from './live-surface';
import type { RequestContext } from './types';
import { validateRequest, type RequestOperation } from './validate';

/** Fields of JSON image bodies that may come as numeric strings (`"width": "1024"`, as the AI SDK sends). */
const NUMERIC_STRING_FIELDS: Partial<Record<RequestOperation, readonly string[]>> = {
  'images.generate': ['width', 'height', 'steps', 'seed', 'samples', 'cfg_scale'],
};
const NUMERIC = /^\s*-?(\d+(\.\d*)?|\.\d+)\s*$/;

const IGNORED: Record<LiveOperation, readonly string[]> = (() => {
  const out = {} as Record<LiveOperation, string[]>;
  for (const f of LIVE_SURFACE) {
    if (f.kind !== 'ignored') continue;
    for (const op of f.operations) (out[op] ??= []).push(f.name);
  }
  return out;
})();

/**
 * Validates `body` for `operation` (after coercing numeric strings where the live API allows them) and records in
 * `ctx.ignored` the accepted fields that have no local effect. Throws the validator's 400 otherwise.
 */
export function acceptRequest(ctx: Pick<RequestContext, 'ignored'>, operation: RequestOperation, body: unknown): void {
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) coerceNumericStrings(operation, body as Record<string, unknown>);
  validateRequest(operation, body);
  for (const name of IGNORED[operation] ?? []) {
    const value = (body as Record<string, unknown>)[name];
    if (value !== undefined && value !== null && !ctx.ignored.includes(name)) ctx.ignored.push(name);
  }
}

function coerceNumericStrings(operation: RequestOperation, body: Record<string, unknown>): void {
  for (const name of NUMERIC_STRING_FIELDS[operation] ?? []) {
    const value = body[name];
    if (typeof value === 'string' && NUMERIC.test(value)) body[name] = Number(value);
  }
}

/**
 * Request validation against the spec: `validateRequest(operation, body)` checks a request body with the validator
 * precompiled from spec/openapi3.yml (scripts/build-validators.mjs → ./generated/validators.js; no code generation
 * at run time) and throws one 400 `invalid_request_error` naming the most relevant problem:
 * `param` is the offending field as a dotted path with indices (`messages[0].content`), `code` one of
 * `missing_required_field`, `unknown_field`, `invalid_type`, `invalid_value`.
 *
 * Multipart operations (`images.image_to_image`, `images.control_net`) take the form fields as a plain object
 * (strings, or Blob for files); their number/integer/boolean fields are coerced IN PLACE, so once validateRequest
 * returns, e.g. `body.steps` is a number. `text_prompts` stays the JSON-encoded string (the handler parses it).
 */

import { invalidRequest } from './errors';
import { alternatives, validators, type OperationName, type ValidationError } from './generated/validators.js';

export type RequestOperation =
  | 'chat.completions'
  | 'completions'
  | 'embeddings'
  | 'images.generate'
  | 'images.image_to_image'
  | 'images.control_net';

/** Compile-time check that the generated validators cover exactly these operations. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
export type _GeneratedOperationsMatch = Assert<Same<RequestOperation, OperationName>>;

export type ValidationCode = 'missing_required_field' | 'unknown_field' | 'invalid_type' | 'invalid_value';

type Segment = string | number;

interface Issue {
  path: Segment[];
  code: ValidationCode;
  message: string;
}

/** Throws `invalidRequest(message, param, code)` unless `body` is a valid request body for `operation`. */
export function validateRequest(operation: RequestOperation, body: unknown): void {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalidRequest('Request body must be a JSON object', null, 'invalid_type');
  }
  const validate = validators[operation];
  if (validate(body)) return;
  const ctx: Context = { body, alternatives: alternatives[operation] };
  const issue = pickBest(resolve(validate.errors ?? [], ctx));
  if (!issue) throw invalidRequest('Request body is invalid', null, 'invalid_value');
  throw invalidRequest(issue.message, toParam(issue.path), issue.code);
}

// ---------------------------------------------------------------------------------------------------------------
// Choosing the error. Ajv (allErrors) reports every failure, and for a failed oneOf/anyOf every branch's failures
// followed by the combinator's own error. Each combinator is reduced to ONE issue: the branch the value "went
// deepest" into (its shape diverges latest from the data), or, when the value's own type fits no branch,
// "must be a string or an array of strings" (wording generated from the schema).

interface Context {
  body: unknown;
  alternatives: Readonly<Record<string, string>>;
}

const COMBINATORS = new Set(['oneOf', 'anyOf']);
const RANK: Record<ValidationCode, number> = {
  missing_required_field: 0,
  unknown_field: 1,
  invalid_type: 2,
  invalid_value: 2,
};

/** Is `e` an error of one of combinator `c`'s branches (same place in the schema, within the same data)? */
const isUnder = (e: ValidationError, c: ValidationError) =>
  e.schemaPath.startsWith(`${c.schemaPath}/`) &&
  (e.instancePath === c.instancePath || e.instancePath.startsWith(`${c.instancePath}/`));

/** An error, or a combinator already reduced to one issue. */
interface Item {
  error: ValidationError;
  issue?: Issue;
}

/**
 * Reduces Ajv's errors to issues, one per failure, every combinator reduced to one. Ajv appends a combinator's
 * branch errors just before the combinator's own error, so one pass with a stack finds them (linear in the number
 * of errors, whatever the body).
 */
function resolve(errors: ValidationError[], ctx: Context): Issue[] {
  const items: Item[] = [];
  for (const error of errors) {
    if (error.keyword === 'if') continue; // "the then-branch failed": that branch's own errors are in the list
    if (!COMBINATORS.has(error.keyword)) {
      items.push({ error });
      continue;
    }
    let start = items.length;
    while (start > 0 && isUnder(items[start - 1].error, error)) start--;
    items.push({ error, issue: resolveCombinator(error, items.splice(start), ctx) });
  }
  return items.map((i) => i.issue ?? toIssue(i.error, ctx));
}

interface Branch {
  index: number;
  issues: Issue[];
  /** Depth of the shallowest type mismatch (Infinity: the data has this branch's shape everywhere). */
  typeDepth: number;
  firstTypePath: Segment[];
  maxDepth: number;
}

function resolveCombinator(c: ValidationError, inner: Item[], ctx: Context): Issue {
  const at = dataPath(c.instancePath, ctx.body);
  const value = valueAt(ctx.body, at);
  if (Array.isArray(c.params?.passingSchemas)) {
    return { path: at, code: 'invalid_value', message: `${quote(at)} is ambiguous: it matches more than one allowed form` };
  }
  const groups = new Map<number, Issue[]>();
  for (const item of inner) {
    const index = Number(item.error.schemaPath.slice(c.schemaPath.length + 1).split('/')[0]);
    const group = groups.get(index) ?? [];
    group.push(item.issue ?? toIssue(item.error, ctx));
    groups.set(index, group);
  }
  const branches: Branch[] = [...groups.entries()].sort(([a], [b]) => a - b).map(([index, issues]) => {
    const types = issues.filter((i) => i.code === 'invalid_type').sort((a, b) => a.path.length - b.path.length);
    return {
      index,
      issues,
      typeDepth: types.length ? types[0].path.length : Infinity,
      firstTypePath: types.length ? types[0].path : [],
      maxDepth: issues.reduce((m, i) => Math.max(m, i.path.length), 0),
    };
  });
  const wording = ctx.alternatives[c.schemaPath];

  // anyOf(required A, required B): "A or B is required".
  if (branches.length > 1 && branches.every((b) => b.issues.length > 0 && b.issues.every((i) =>
    i.code === 'missing_required_field' && i.path.length === at.length + 1))) {
    const names = branches.map((b) => quote(b.issues[0].path));
    return { path: branches[0].issues[0].path, code: 'missing_required_field', message: `${names.join(' or ')} is required` };
  }
  const applicable = branches.filter((b) => b.typeDepth > at.length);
  if (applicable.length === 0) {
    return { path: at, code: 'invalid_type', message: `${quote(at)} must be ${wording ?? 'one of the allowed forms'} (got ${show(value)})` };
  }
  applicable.sort((a, b) =>
    b.typeDepth - a.typeDepth ||
    comparePaths(b.firstTypePath, a.firstTypePath) ||
    b.maxDepth - a.maxDepth ||
    a.issues.length - b.issues.length ||
    a.index - b.index);
  return pickBest(applicable[0].issues) ??
    { path: at, code: 'invalid_value', message: `${quote(at)} must be ${wording ?? 'one of the allowed forms'}` };
}

/** Later array positions first: a branch whose first mismatch is at `input[3]` matched `input[0..2]`. */
function comparePaths(a: Segment[], b: Segment[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (typeof x === 'number' && typeof y === 'number' && x !== y) return x - y;
    if (x !== y) return 0;
  }
  return 0;
}

/** Missing fields first, then unknown ones, then wrong types and values, each in schema order. */
function pickBest(issues: Issue[]): Issue | undefined {
  let best: Issue | undefined;
  for (const i of issues) if (!best || RANK[i.code] < RANK[best.code]) best = i;
  if (best?.code === 'missing_required_field') {
    // A missing field beside an unknown one is most likely a typo: say both.
    const parent = best.path.slice(0, -1);
    const unknown = issues.find((i) => i.code === 'unknown_field' && toParam(i.path.slice(0, -1)) === toParam(parent));
    if (unknown) best = { ...best, message: `${best.message} (unknown field ${quote(unknown.path)} was given)` };
  }
  return best;
}

// ---------------------------------------------------------------------------------------------------------------
// One Ajv error → one issue with a message.

function toIssue(e: ValidationError, ctx: Context): Issue {
  const at = dataPath(e.instancePath, ctx.body);
  const value = valueAt(ctx.body, at);
  const p = e.params ?? {};
  const q = quote(at);
  switch (e.keyword) {
    case 'required': {
      const path = [...at, String(p.missingProperty)];
      return { path, code: 'missing_required_field', message: `${quote(path)} is required` };
    }
    case 'additionalProperties': {
      const path = [...at, String(p.additionalProperty)];
      return { path, code: 'unknown_field', message: `Unknown field ${quote(path)}: this API does not accept it` };
    }
    case 'type':
      return { path: at, code: 'invalid_type', message: `${q} must be ${typeWords(p.type)} (got ${show(value)})` };
    case 'enum':
      return {
        path: at, code: 'invalid_value',
        message: `${q} must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')} (got ${show(value)})`,
      };
    case 'const':
      return { path: at, code: 'invalid_value', message: `${q} must be ${JSON.stringify(p.allowedValue)} (got ${show(value)})` };
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return { path: at, code: 'invalid_value', message: `${q} must be ${p.comparison} ${p.limit} (got ${show(value)})` };
    case 'minLength':
      return {
        path: at, code: 'invalid_value',
        message: p.limit === 1 ? `${q} must not be empty` : `${q} must be at least ${p.limit} characters long (got ${charCount(value)})`,
      };
    case 'maxLength':
      return { path: at, code: 'invalid_value', message: `${q} must be at most ${p.limit} characters long (got ${charCount(value)})` };
    case 'minItems':
      return {
        path: at, code: 'invalid_value',
        message: p.limit === 1 ? `${q} must not be empty` : `${q} must have at least ${p.limit} items (got ${lengthOf(value)})`,
      };
    case 'maxItems':
      return { path: at, code: 'invalid_value', message: `${q} must have at most ${p.limit} items (got ${lengthOf(value)})` };
    default:
      return { path: at, code: 'invalid_value', message: `${q} is invalid (${e.keyword}${p.limit !== undefined ? ` ${p.limit}` : ''})` };
  }
}

const ARTICLE: Record<string, string> = {
  string: 'a string', integer: 'an integer', number: 'a number', boolean: 'a boolean',
  object: 'an object', array: 'an array', null: 'null',
};

function typeWords(type: unknown): string {
  const types = Array.isArray(type) ? type.map(String) : String(type).split(',');
  const words = types.map((t) => ARTICLE[t] ?? t);
  return words.length === 1 ? words[0] : `${words.slice(0, -1).join(', ')} or ${words[words.length - 1]}`;
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'string') return v.length > 40 ? `${JSON.stringify(v.slice(0, 40)).slice(0, -1)}…"` : JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return 'an array';
  if (typeof Blob !== 'undefined' && v instanceof Blob) return 'a file';
  return typeof v === 'object' ? 'an object' : typeof v;
}

const charCount = (v: unknown) => (typeof v === 'string' ? [...v].length : '?');
const lengthOf = (v: unknown) => (Array.isArray(v) ? v.length : '?');

// ---------------------------------------------------------------------------------------------------------------
// Paths: Ajv's JSON pointers → segments (numbers where the data is an array) → `messages[0].content`.

function dataPath(pointer: string, body: unknown): Segment[] {
  if (pointer === '') return [];
  const out: Segment[] = [];
  let cur: unknown = body;
  for (const raw of pointer.slice(1).split('/')) {
    const token = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    const seg: Segment = Array.isArray(cur) && /^\d+$/.test(token) ? Number(token) : token;
    out.push(seg);
    cur = cur !== null && typeof cur === 'object' ? (cur as Record<string | number, unknown>)[seg] : undefined;
  }
  return out;
}

function valueAt(body: unknown, path: Segment[]): unknown {
  let cur = body;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}

function toParam(path: Segment[]): string | null {
  if (path.length === 0) return null;
  return path.map((seg, i) => (typeof seg === 'number' ? `[${seg}]`
    : /^[A-Za-z_$][\w$-]*$/.test(seg) ? (i === 0 ? seg : `.${seg}`)
    : `[${JSON.stringify(seg)}]`)).join('');
}

function quote(path: Segment[]): string {
  const param = toParam(path);
  return param === null ? 'The request body' : `"${param}"`;
}

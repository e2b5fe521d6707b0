/** Loading `@mlc-ai/web-xgrammar` once (in the browser and in Node), and running its native calls so that an abort
 * becomes an Error carrying xgrammar's own message. */
import type * as XG from '@mlc-ai/web-xgrammar';

export type XGrammarModule = Pick<typeof XG, 'TokenizerInfo' | 'GrammarCompiler' | 'GrammarMatcher' | 'CompiledGrammar' | 'Grammar' | 'Testings'>;

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
    // Typed here, not from @types/node: the library's declarations are built without Node's types.
    const { createRequire } = (await import(/* @vite-ignore */ spec)) as { createRequire(url: string): { resolve(id: string): string } };
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
export async function native<T>(call: () => Promise<T>): Promise<T> {
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

export function nativeSync<T>(call: () => T): T {
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
export function nativeSyncOrThrow<T>(call: () => T): T {
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

/**
 * The TokenConstraint of one request: a wrapper over xgrammar's native GrammarMatcher (the embind handle under the
 * package's class) that prefetches the next mask after each accepted token, answers after a stop token itself, and
 * applies the whitespace-run limit.
 */
import type * as XG from '@mlc-ai/web-xgrammar';
import { isTokenAllowed, type TokenConstraint } from './token-constraint';
import type { WhitespaceLimit } from './whitespace';
import { nativeSyncOrThrow } from './xgrammar';

/** The embind objects under the package's classes (the names its own lib/index.js calls). */
interface NativeVector { size(): number; get(i: number): number; delete(): void }
export interface NativeMatcher {
  AcceptToken(id: number, verbose: boolean): boolean;
  GetNextTokenBitmask(vocabSize: number): NativeVector;
  IsTerminated(): boolean;
  delete(): void;
}
export type NativeMatcherClass = new (compiled: unknown, stopTokens: undefined, terminateWithoutStopToken: boolean, maxRollback: number) => NativeMatcher;
export interface NativeCompiler {
  CompileJSONSchema(schema: string, anyWhitespace: boolean, indent: number | undefined, separators: undefined,
    strictMode: boolean, maxWhitespace: number | undefined): unknown;
}

export class MatcherConstraint implements TokenConstraint {
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
export function compiledView(compiled: XG.CompiledGrammar, vocabSize: number): XG.CompiledGrammar {
  return { handle: compiled.handle, tokenizerInfo: () => ({ getVocabSize: () => vocabSize }) } as unknown as XG.CompiledGrammar;
}

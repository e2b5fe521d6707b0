/** What an engine sees of a constraint: the mask of allowed next tokens, and advancing by one token. */

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

/** Whether a mask allows a token (ids past the mask count as disallowed). */
export function isTokenAllowed(mask: Uint32Array, id: number): boolean {
  const word = id >>> 5;
  return word < mask.length && ((mask[word] >>> (id & 31)) & 1) === 1;
}

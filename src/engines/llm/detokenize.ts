/**
 * Streaming detokenization: turns generated token ids into text deltas one token at a time, with the
 * "prefix offset / read offset" technique of HF text-generation-inference — decode a small window of recent tokens
 * plus the new ones and emit the difference. That keeps SentencePiece-style leading spaces right (a token decoded
 * alone loses its "▁" space; in context it does not) and holds back a byte-level BPE tail that decodes to U+FFFD
 * (an incomplete multi-byte UTF-8 character) until the following tokens complete it.
 * Also records each token's offset in the generated text, for the completions `logprobs.text_offset`.
 */

/** A tokenizer's decode (special-token skipping is the caller's business). */
export type DecodeFn = (ids: number[]) => string;

export interface IncrementalDecoderOptions {
  /**
   * Token ids that precede the generated ones (the prompt). Only the last few are used, as decoding context, so the
   * first generated token's leading space comes out as it would in the full text. Their text is not emitted.
   */
  contextIds?: readonly number[];
}

const REPLACEMENT = '\uFFFD';
/** How many context tokens precede the read offset at the start (TGI uses 5). */
const CONTEXT_TOKENS = 5;

function stripTrailingReplacement(s: string): string {
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 0xfffd) end--;
  return end === s.length ? s : s.slice(0, end);
}

function countCodePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // A low surrogate that follows a high surrogate belongs to the same code point.
    if (c >= 0xdc00 && c <= 0xdfff && i > 0) {
      const p = s.charCodeAt(i - 1);
      if (p >= 0xd800 && p <= 0xdbff) continue;
    }
    n++;
  }
  return n;
}

/**
 * The text of `next` that is new relative to `emitted` (the window text already sent). Normally `next` extends
 * `emitted`. When it does not — a decoder that rewrites earlier text, such as `clean_up_tokenization_spaces`
 * dropping the space in " ," or " n't" — text already sent cannot be taken back: skip the spaces the decoder
 * dropped and send the rest. For exact streaming, decode with `clean_up_tokenization_spaces: false`.
 */
function newPart(emitted: string, next: string): string {
  if (next.startsWith(emitted)) return next.slice(emitted.length);
  let i = 0;
  let j = 0;
  while (i < emitted.length && j < next.length) {
    if (emitted[i] === next[j]) {
      i++;
      j++;
    } else if (emitted[i] === ' ') {
      i++;
    } else {
      break;
    }
  }
  return next.slice(j);
}

export class IncrementalDecoder {
  private readonly decode: DecodeFn;
  /** The current decoding window: ids from the prefix offset on (older ids are dropped). */
  private window: number[];
  /** Index in `window` of the first token whose text has not been fully emitted. */
  private readOffset: number;
  /** The part of decode(window) already emitted (or, for context tokens, already accounted for). */
  private windowEmitted: string;
  private emitted = '';
  private emittedCodePoints = 0;
  private readonly offsets: number[] = [];
  private readonly cpOffsets: number[] = [];

  constructor(decode: DecodeFn, options: IncrementalDecoderOptions = {}) {
    this.decode = decode;
    const context = options.contextIds ?? [];
    this.window = context.slice(Math.max(0, context.length - CONTEXT_TOKENS));
    this.readOffset = this.window.length;
    this.windowEmitted = this.window.length > 0 ? stripTrailingReplacement(decode(this.window)) : '';
  }

  /** Adds one generated token; returns the text it makes final (possibly empty while a character is incomplete). */
  push(id: number): string {
    this.offsets.push(this.emitted.length);
    this.cpOffsets.push(this.emittedCodePoints);
    this.window.push(id);

    const full = this.decode(this.window);
    const incomplete = full.endsWith(REPLACEMENT);
    const stable = incomplete ? stripTrailingReplacement(full) : full;
    const piece = newPart(this.windowEmitted, stable);

    if (incomplete) {
      // Hold the undecodable tail; keep the window so the next tokens can complete it.
      this.windowEmitted = stable;
    } else {
      // Resolved: the next window starts at the old read offset (as in TGI) and reads from here.
      this.window = this.window.slice(this.readOffset);
      this.readOffset = this.window.length;
      this.windowEmitted = this.decode(this.window);
    }
    this.record(piece);
    return piece;
  }

  /** At the end of generation: any held-back text (e.g. a trailing invalid byte sequence, as U+FFFD). */
  flush(): string {
    if (this.readOffset >= this.window.length) return '';
    const piece = newPart(this.windowEmitted, this.decode(this.window));
    this.window = this.window.slice(this.readOffset);
    this.readOffset = this.window.length;
    this.windowEmitted = this.decode(this.window);
    this.record(piece);
    return piece;
  }

  /** All text emitted so far (pushes and flushes concatenated). */
  get text(): string {
    return this.emitted;
  }

  /** Number of tokens pushed. */
  get tokenCount(): number {
    return this.offsets.length;
  }

  /**
   * For each pushed token, the offset in `text` (UTF-16 code units, i.e. JS string indices) where its text starts:
   * the length of the text emitted before it. Tokens held back together (one multi-byte character split over
   * several tokens) share the character's offset or follow it.
   */
  get textOffsets(): readonly number[] {
    return this.offsets;
  }

  /** The same offsets counted in Unicode code points (Python `str` indices, as OpenAI-style servers report them). */
  get codePointOffsets(): readonly number[] {
    return this.cpOffsets;
  }

  private record(piece: string): void {
    if (piece.length === 0) return;
    this.emitted += piece;
    this.emittedCodePoints += countCodePoints(piece);
  }
}

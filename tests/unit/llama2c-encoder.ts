// A reference tokenizer for llama2.c's tokenizer.bin format, written from its description (the README beside
// ../shared/models/stories260K and tests/fixtures/stories260k/README.md), to check the tokenizer.json that
// scripts/import_llama2c.py builds: BOS, a dummy-prefix space, one token per UTF-8 code point or its bytes
// (id = byte + 3), then repeatedly merge the adjacent pair whose concatenation is the best-scored vocabulary entry
// (leftmost on ties). Pieces are compared as raw bytes.
import { readFileSync } from 'node:fs';

export interface Llama2cVocab {
  pieces: Uint8Array[];
  scores: number[];
}

export function readLlama2cTokenizer(path: string): Llama2cVocab {
  const buf = readFileSync(path);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const maxLength = view.getInt32(0, true);
  const pieces: Uint8Array[] = [];
  const scores: number[] = [];
  for (let o = 4; o < buf.length;) {
    scores.push(view.getFloat32(o, true));
    const n = view.getInt32(o + 4, true);
    if (n > maxLength) throw new Error(`token ${pieces.length} is ${n} bytes, over max_token_length ${maxLength}`);
    pieces.push(new Uint8Array(buf.subarray(o + 8, o + 8 + n)));
    o += 8 + n;
  }
  return { pieces, scores };
}

const key = (bytes: Uint8Array) => Buffer.from(bytes).toString('latin1');

export class Llama2cEncoder {
  private readonly ids = new Map<string, number>();

  constructor(private readonly vocab: Llama2cVocab, private readonly bos = 1) {
    vocab.pieces.forEach((p, i) => { if (!this.ids.has(key(p))) this.ids.set(key(p), i); });
  }

  encode(text: string): number[] {
    const tokens = [this.bos];
    const utf8 = new TextEncoder();
    if (text !== '') tokens.push(this.ids.get(' ')!);
    for (const ch of text) {
      const bytes = utf8.encode(ch);
      const id = this.ids.get(key(bytes));
      if (id !== undefined) tokens.push(id);
      else for (const b of bytes) tokens.push(b + 3);
    }
    for (;;) {
      let best = -Infinity;
      let at = -1;
      let merged = -1;
      for (let i = 0; i < tokens.length - 1; i++) {
        const id = this.ids.get(key(this.vocab.pieces[tokens[i]]) + key(this.vocab.pieces[tokens[i + 1]]));
        if (id !== undefined && this.vocab.scores[id] > best) {
          best = this.vocab.scores[id];
          at = i;
          merged = id;
        }
      }
      if (at < 0) return tokens;
      tokens.splice(at, 2, merged);
    }
  }
}

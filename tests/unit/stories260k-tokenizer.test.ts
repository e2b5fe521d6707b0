// The tokenizer.json that scripts/import_llama2c.py builds from tok512.bin, run by the engine's own LlmTokenizer
// (@huggingface/tokenizers), equals a llama2.c-style reference encoder (tests/unit/llama2c-encoder.ts) on a corpus of
// ASCII, punctuation, digits, emoji, CJK, accents, whitespace runs, leading/trailing spaces and the empty string;
// and decoding gives the text back.
import { describe, expect, it } from 'vitest';
import { LlmTokenizer } from '../../src/engines/llm/tokenizer';
import { Llama2cEncoder, readLlama2cTokenizer } from './llama2c-encoder';
import { ROOT, readJson } from './node-api';
import { mulberry32 } from './random';

const DIR = 'public/models/hearth-stories260k';
const tokenizer = new LlmTokenizer(readJson(`${DIR}/tokenizer.json`), readJson(`${DIR}/tokenizer_config.json`));
const reference = new Llama2cEncoder(readLlama2cTokenizer(`${ROOT}tests/fixtures/stories260k/tok512.bin`));

const FIXED = [
  '', ' ', '  ', '   ', 'a', 'A', ' a', 'a ', ' a ', '  two  spaces  ', 'Once upon a time',
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day,',
  'The cat sat on the mat.', '"Hello!" said Tom. "Can I play?"', "It's Sue's ball, isn't it?", 'Wow!!! Really??? Yes...',
  'one-two three—four – five', '“Curly quotes” and ‘single’ ones', 'Ellipsis… and dashes — here', 'semi;colon: colon',
  '(parens) [brackets] {braces} <angles>', 'a/b\\c|d~e`f', '50% off, $3.99 & 2+2=4 * 7 ^ 2 # 1 @ home',
  '0', '7', '42', '2024', '3.14159', '1,000,000', '007', 'Agent 47 and 99 balloons',
  'emoji 😀 here', '🐶🐱🐭', '👩‍👩‍👧', '❤️', 'thumbs 👍🏽 up', '🎉 party!',
  '中文', '你好，世界', '日本語のテキスト', '한국어', 'mixed 中 and English', 'Ελληνικά', 'Русский текст', 'עברית', 'العربية',
  'café', 'naïve façade', 'ñandú', 'Zoë and Chloë', 'Ångström', 'e\u0301 combining', '\u00a0nbsp\u00a0', 'hair\u200aspace',
  'tab\there', 'new\nline', 'two\n\nlines', '\r\n windows', ' \t mixed \n ', 'trailing newline\n', '\nleading newline',
  'ALL CAPS SHOUTING', 'MiXeD CaSe', 'lowercase only', 'x', 'xyzzy', 'qwertyuiop', 'supercalifragilistic',
  'Lily and Ben went to the park.', 'The sun was shining and the birds were singing.', 'They were best friends.',
  'Mom said, "Be careful!"', 'The end.', 'happily ever after', 'a big red ball', 'the little dog barked',
  'zero\u0000byte', '\u0007bell', '™ and € and â', 'tilde~and|pipe', '[x]', '<>', '<', '>', '<0x41>', '< s >',
];

const WORDS = ['the', 'The', 'a', 'little', 'girl', 'boy', 'named', 'Lily', 'Tom', 'was', 'played', 'happy', 'sad',
  'tree', 'park', 'ball', 'said', 'and', 'to', 'in', 'on', 'with', 'mom', 'dog', 'cat', 'sun', 'big', 'red', 'very',
  'xylophone', 'quartz', 'Zebra', 'jumped', 'ice-cream', "didn't", 'OK', 'hello', 'world'];
const BITS = ['.', ',', '!', '?', ';', ':', '"', "'", '-', '—', '…', '(', ')', '1', '23', '456', '7.5', '😀', '🌟', '猫',
  '日本', 'é', 'ü', 'ß', '\n', '\t', '  ', '   '];

function generated(count: number): string[] {
  const rnd = mulberry32(260);
  const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)];
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const parts: string[] = [];
    const n = 1 + Math.floor(rnd() * 10);
    for (let j = 0; j < n; j++) {
      const r = rnd();
      parts.push(r < 0.6 ? pick(WORDS) : pick(BITS));
      parts.push(rnd() < 0.7 ? ' ' : '');
    }
    let s = parts.join('');
    if (i % 5 === 0) s = ` ${s}`;
    if (i % 7 === 0) s = s.trimEnd() + '  ';
    if (i % 11 === 0) s = s.trim();
    out.push(s);
  }
  return out;
}

const CORPUS = [...FIXED, ...generated(160)];

describe('stories260K tokenizer (tokenizer.json from tok512.bin)', () => {
  it('the corpus covers what the format has to get right', () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(200);
    expect(CORPUS).toContain('');
    expect(CORPUS.some((s) => /\p{Extended_Pictographic}/u.test(s))).toBe(true);
    expect(CORPUS.some((s) => /\p{Script=Han}/u.test(s))).toBe(true);
    expect(CORPUS.some((s) => s.startsWith(' ') && s.trimStart() !== '')).toBe(true);
    expect(CORPUS.some((s) => s.endsWith(' ') && s.trimEnd() !== '')).toBe(true);
    expect(CORPUS.some((s) => /\d/.test(s))).toBe(true);
  });

  it('encodes the published prompt as llama2.c does', () => {
    expect(tokenizer.encode('Once upon a time')).toEqual([1, 403, 407, 261, 378]);
    expect(reference.encode('Once upon a time')).toEqual([1, 403, 407, 261, 378]);
  });

  it('equals the llama2.c reference encoder on every corpus string (BOS included)', () => {
    const diffs: string[] = [];
    for (const text of CORPUS) {
      const got = tokenizer.encode(text);
      const want = reference.encode(text);
      if (JSON.stringify(got) !== JSON.stringify(want)) diffs.push(`${JSON.stringify(text)}: ${got} != ${want}`);
    }
    expect(diffs).toEqual([]);
  });

  it('uses byte fallback for characters outside the vocabulary, and merges for the ones inside', () => {
    const cat = tokenizer.encode('猫');
    expect(cat.slice(2)).toEqual([...new TextEncoder().encode('猫')].map((b) => b + 3));
    expect(tokenizer.encode(' the').length).toBeLessThan(' the'.length + 1);
  });

  it('decodes every corpus string back to itself (dummy prefix stripped, bytes fused)', () => {
    const bad = CORPUS.filter((text) => tokenizer.decode(tokenizer.encode(text)) !== text);
    expect(bad).toEqual([]);
  });
});

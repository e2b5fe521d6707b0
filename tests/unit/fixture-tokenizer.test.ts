// The hand-built WordPiece tokenizer.json files load in @huggingface/tokenizers and produce exactly the token ids
// that scripts/make_fixtures.py's independent Python BERT tokenizer wrote to tests/fixtures/embeddings/reference.json.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Tokenizer } from '@huggingface/tokenizers';

const root = fileURLToPath(new URL('../../', import.meta.url));
const readJson = (rel: string): any => JSON.parse(readFileSync(root + rel, 'utf8'));

interface RefCase {
  text: string;
  input_ids: number[];
  untruncated_length: number;
}
interface RefModel {
  model_dir: string;
  hidden_size: number;
  max_tokens: number;
  pooling: 'mean' | 'cls';
  cases: RefCase[];
  batch?: { texts: string[]; input_ids: number[][]; attention_mask: number[][] };
}

const reference = readJson('tests/fixtures/embeddings/reference.json') as Record<string, RefModel>;

/** Truncate to maxTokens, keeping the final [SEP]. */
function truncate(ids: number[], maxTokens: number): number[] {
  return ids.length <= maxTokens ? ids : [...ids.slice(0, maxTokens - 1), ids[ids.length - 1]!];
}

describe.each(Object.entries(reference))('fixture tokenizer %s', (name, ref) => {
  const tokenizer = new Tokenizer(
    readJson(`public/models/${name}/tokenizer.json`),
    readJson(`public/models/${name}/tokenizer_config.json`),
  );

  it('has the expected config', () => {
    const cfg = readJson(`public/models/${name}/config.json`);
    expect(cfg.model_type).toBe('bert');
    expect(cfg.hidden_size).toBe(ref.hidden_size);
    expect(cfg.max_position_embeddings).toBe(ref.max_tokens);
    expect(readJson(`public/models/${name}/tokenizer_config.json`).model_max_length).toBe(ref.max_tokens);
  });

  it.each(ref.cases.map((c, i) => [i, c] as const))('case %i matches the reference ids', (_i, c) => {
    const enc = tokenizer.encode(c.text);
    expect(enc.ids.length).toBe(c.untruncated_length);
    expect(enc.ids[0]).toBe(2); // [CLS]
    expect(enc.ids[enc.ids.length - 1]).toBe(3); // [SEP]
    expect(truncate(enc.ids, ref.max_tokens)).toEqual(c.input_ids);
  });

  it('covers whole words, subwords, [UNK] and truncation', () => {
    const all = ref.cases.flatMap((c) => tokenizer.encode(c.text).tokens);
    expect(all).toContain('[UNK]');
    expect(all.some((t) => t.startsWith('##'))).toBe(true);
    expect(ref.cases.some((c) => c.untruncated_length > ref.max_tokens)).toBe(true);
  });
});

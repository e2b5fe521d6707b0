/**
 * Text → token ids for embedders: the model's own tokenizer.json through @huggingface/tokenizers, truncated to the
 * model's limit with its special tokens kept (so a long text ends in [SEP] exactly as the model was trained).
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { invalidRequest } from '../../core/errors';

export class EmbeddingTokenizer {
  private readonly tokenizer: Tokenizer;
  readonly vocabSize: number;

  constructor(tokenizerJson: object, tokenizerConfig: object, private readonly maxTokens: number) {
    this.tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
    this.vocabSize = countVocab(tokenizerJson);
  }

  /** Encodes `text`; if it is longer than the limit the content is cut, the special tokens around it stay. */
  encode(text: string): number[] {
    const full = this.tokenizer.encode(text).ids;
    if (full.length <= this.maxTokens) return full;
    const content = this.tokenizer.encode(text, { add_special_tokens: false }).ids;
    const prefix = leadingSpecials(full, content);
    const suffix = full.slice(prefix + content.length);
    const keep = Math.max(this.maxTokens - prefix - suffix.length, 0);
    return [...full.slice(0, prefix), ...content.slice(0, keep), ...suffix];
  }

  /** Token-id inputs are used as given (truncated like text), after checking every id is in the vocabulary. */
  checkIds(ids: number[], param: string): number[] {
    ids.forEach((id, j) => {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw invalidRequest(`Token id ${id} is outside the model's vocabulary (0..${this.vocabSize - 1})`, `${param}[${j}]`);
      }
    });
    return ids.length <= this.maxTokens ? ids : ids.slice(0, this.maxTokens);
  }
}

/** How many special tokens the post-processor put before the content (full = prefix + content + suffix). */
function leadingSpecials(full: number[], content: number[]): number {
  for (let p = 0; p + content.length <= full.length; p++) {
    let same = true;
    for (let i = 0; i < Math.min(content.length, 8) && same; i++) same = full[p + i] === content[i];
    if (same) return p;
  }
  return 0;
}

function countVocab(tokenizerJson: object): number {
  const json = tokenizerJson as { model?: { vocab?: Record<string, number> | unknown[] }; added_tokens?: { id: number }[] };
  const vocab = json.model?.vocab;
  let max = -1;
  if (Array.isArray(vocab)) max = vocab.length - 1;
  else if (vocab) for (const id of Object.values(vocab)) max = Math.max(max, id);
  for (const t of json.added_tokens ?? []) max = Math.max(max, t.id);
  return max + 1;
}

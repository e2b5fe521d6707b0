/**
 * The LLM's tokenizer (its own tokenizer.json through @huggingface/tokenizers) with the conventions the engine needs:
 * completion prompts get the model's special tokens (BOS), rendered chat templates do not (they already carry them),
 * generated text is decoded without special tokens, and token-id prompts are checked against the vocabulary.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { invalidRequest } from '../../core/errors';

export class LlmTokenizer {
  private readonly tokenizer: Tokenizer;
  /**
   * Decodes one token as it stands inside a text. SentencePiece decoders end with a Strip of the dummy-prefix space,
   * right for a whole text but not for one token ("▁there" is " there", not "there"); so for them a second tokenizer
   * without that Strip. Others (byte-level BPE) need none: the main tokenizer serves.
   */
  private readonly pieceTokenizer: Tokenizer;
  readonly vocabSize: number;
  /** BOS to put before completion prompts when the tokenizer's post-processor does not (some Llama-3 copies). */
  private readonly bosId: number | undefined;

  constructor(tokenizerJson: object, tokenizerConfig: object) {
    this.tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
    const unstripped = withoutLeadingStrip(tokenizerJson);
    this.pieceTokenizer = unstripped ? new Tokenizer(unstripped, tokenizerConfig) : this.tokenizer;
    const bos = (tokenizerConfig as { bos_token?: string | { content: string } | null; add_bos_token?: boolean }).bos_token;
    const bosText = typeof bos === 'string' ? bos : bos?.content;
    const addBos = (tokenizerConfig as { add_bos_token?: boolean }).add_bos_token;
    this.bosId = bosText && addBos !== false ? this.tokenizer.token_to_id(bosText) : undefined;
    const json = tokenizerJson as { model?: { vocab?: Record<string, number> }; added_tokens?: { id: number }[] };
    let max = -1;
    for (const id of Object.values(json.model?.vocab ?? {})) max = Math.max(max, id);
    for (const t of json.added_tokens ?? []) max = Math.max(max, t.id);
    this.vocabSize = max + 1;
    // Unigram vocabularies are [piece, score] pairs; BPE and WordPiece ones map piece → id.
    const vocab = (json.model as { vocab?: Record<string, number> | [string, number][] } | undefined)?.vocab;
    const pieces = Array.isArray(vocab) ? vocab.map((v) => v[0]) : Object.keys(vocab ?? {});
    let longest = 0;
    for (const piece of pieces) longest = Math.max(longest, piece.length);
    for (const t of (json.added_tokens ?? []) as { content?: string }[]) longest = Math.max(longest, t.content?.length ?? 0);
    this.longestPiece = longest || Infinity;
  }

  /**
   * Characters of the longest vocabulary piece (as stored: byte-level pieces are at least as long as their text), so
   * a text longer than `tokens × longestPiece` characters cannot encode to `tokens` tokens: checked before encoding.
   */
  readonly longestPiece: number;

  /** A completion prompt, starting with BOS when the model has one (as the model saw text in training). */
  encode(text: string): number[] {
    const ids = this.tokenizer.encode(text).ids;
    return this.bosId !== undefined && ids[0] !== this.bosId ? [this.bosId, ...ids] : ids;
  }

  /** A rendered chat template: it already holds BOS and the role markers, so nothing is added. */
  encodeChat(text: string): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: false }).ids;
  }

  /** Generated text: special tokens (EOS, end-of-turn) are not part of it. */
  decode(ids: number[]): string {
    // No clean-up of spaces before punctuation: streamed pieces must join to exactly the whole text.
    return this.tokenizer.decode(ids, { skip_special_tokens: true, clean_up_tokenization_spaces: false });
  }

  /** Token ids as text, special tokens included: what raw_output reports. */
  decodeRaw(ids: number[]): string {
    return this.tokenizer.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  }

  /** One token as text, special tokens included, with its own leading space: what logprobs report as `token`. */
  tokenText(id: number): string {
    return this.pieceTokenizer.decode([id], { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  }

  tokenId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  checkIds(ids: number[], param: string): number[] {
    ids.forEach((id, j) => {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw invalidRequest(`Token id ${id} is outside the model's vocabulary (0..${this.vocabSize - 1})`, `${param}[${j}]`);
      }
    });
    return ids;
  }
}

interface DecoderJson { type?: string; decoders?: DecoderJson[]; content?: string; start?: number; stop?: number }

/** The tokenizer.json with a trailing `Strip(" ", 1, 0)` decoder removed, or null when it has none. */
function withoutLeadingStrip(tokenizerJson: object): object | null {
  const decoder = (tokenizerJson as { decoder?: DecoderJson | null }).decoder;
  const isStrip = (d: DecoderJson | undefined) => d?.type === 'Strip' && d.content === ' ' && d.start === 1 && !d.stop;
  if (decoder?.type !== 'Sequence' || !isStrip(decoder.decoders?.at(-1))) return null;
  return { ...tokenizerJson, decoder: { ...decoder, decoders: decoder.decoders!.slice(0, -1) } };
}

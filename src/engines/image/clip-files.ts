/**
 * A CLIP tokenizer.json built from the "slow" tokenizer files, for repositories that ship only `vocab.json` and
 * `merges.txt` (stabilityai/sdxl-turbo, stable-diffusion-xl-base-1.0, schmuell/sd-turbo-ort-web): the same pipeline
 * transformers' CLIPConverter writes (NFC, whitespace collapse and lowercase; CLIP's split pattern, then byte-level;
 * BPE with the "</w>" end-of-word suffix; BOS/EOS added by the post-processor), so @huggingface/tokenizers loads it
 * and encodes exactly as the published tokenizer.json files do.
 */
import { internal } from '../../core/errors';

type TokenText = string | { content: string } | null | undefined;
const text = (t: TokenText) => (typeof t === 'string' ? t : t?.content);

export interface ClipTokenizerConfig {
  bos_token?: TokenText;
  eos_token?: TokenText;
  unk_token?: TokenText;
  pad_token?: TokenText;
}

/** CLIP's pre-tokenizer pattern, with its two special tokens kept whole (as the published tokenizer.json files). */
const SPLIT = "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

/** The `merges.txt` lines (after its `#version` header) as tokenizer.json wants them. */
export function parseMerges(merges: string): string[] {
  return merges.split(/\r?\n/).filter((line, i) => line.trim() !== '' && !(i === 0 && line.startsWith('#version')));
}

export function clipTokenizerJson(vocab: Record<string, number>, merges: string, config: ClipTokenizerConfig): object {
  const bos = text(config.bos_token) ?? '<|startoftext|>';
  const eos = text(config.eos_token) ?? '<|endoftext|>';
  const unk = text(config.unk_token) ?? eos;
  const id = (token: string) => {
    const v = vocab[token];
    if (!Number.isInteger(v)) throw internal(`vocab.json lacks the CLIP token ${token}`, 'bad_model_config');
    return v;
  };
  const special = [...new Set([bos, eos])].map((content) => ({
    id: id(content), content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
  }));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: special,
    normalizer: {
      type: 'Sequence',
      normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }],
    },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: SPLIT }, behavior: 'Removed', invert: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: { type: 'RobertaProcessing', sep: [eos, id(eos)], cls: [bos, id(bos)], trim_offsets: false, add_prefix_space: false },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: unk, continuing_subword_prefix: '', end_of_word_suffix: '</w>',
      fuse_unk: false, byte_fallback: false, vocab, merges: parseMerges(merges),
    },
  };
}

/**
 * A GGUF file's tokenizer metadata → the `tokenizer.json` + `tokenizer_config.json` equivalents that
 * `@huggingface/tokenizers` (through LlmTokenizer) and the chat template use, as Hugging Face's own converters build
 * them:
 *  - `tokenizer.ggml.model` "llama" (SentencePiece BPE: Llama 1/2, Mistral, TinyLlama): "▁" for spaces with a dummy
 *    prefix (unless `add_space_prefix` is false), byte fallback (<0xNN> tokens), merges = every split of a normal piece
 *    into two normal pieces, ranked by the merged piece's score;
 *  - "gpt2" (byte-level BPE: Llama 3, Qwen2, SmolLM): the merges as stored, GPT-2's byte-to-unicode pieces, and the
 *    pre-tokenizer regex llama.cpp names in `tokenizer.ggml.pre` (llama-bpe, qwen2, or GPT-2's for others).
 * Control and user-defined tokens become added tokens; BOS/EOS/EOT ids, `add_bos_token` and
 * `tokenizer.chat_template` go to the config. Other tokenizer models are a 400 naming them.
 */
import { invalidRequest } from '../../../core/errors';

export interface GgufTokenizer {
  tokenizer: object;
  tokenizerConfig: object;
  /** Ids that end generation: EOS, and end-of-turn/end-of-message where the file names them. */
  eosIds: number[];
}

const TOKEN_NORMAL = 1;
const TOKEN_UNKNOWN = 2;
const TOKEN_CONTROL = 3;
const TOKEN_USER_DEFINED = 4;
const TOKEN_BYTE = 6;

/** Split regexes by `tokenizer.ggml.pre` (the ones Hugging Face's tokenizer.json files of those models carry). */
const PRE_TOKENIZER_REGEX: Record<string, string> = {
  'llama-bpe': "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  qwen2: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  gpt2: "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
};

/** Control tokens that end generation whatever the file's eos id says (llama.cpp's end-of-generation set). */
const END_OF_GENERATION = new Set(['<|eot_id|>', '<|eom_id|>', '<|end_of_text|>', '<|im_end|>', '<|endoftext|>', '<|end|>', '<end_of_turn>', '<EOT>', '<|eot|>']);

const unsupported = (message: string) => invalidRequest(message, 'file', 'unsupported_gguf_model');

const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : undefined);

function addedToken(id: number, content: string, special: boolean) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: !special, special };
}

export function ggufTokenizer(metadata: Record<string, unknown>): GgufTokenizer {
  const model = metadata['tokenizer.ggml.model'];
  const tokens = metadata['tokenizer.ggml.tokens'] as string[] | undefined;
  if (!Array.isArray(tokens) || !tokens.length) throw unsupported('the GGUF file carries no tokenizer (tokenizer.ggml.tokens)');
  const types = (metadata['tokenizer.ggml.token_type'] as number[] | undefined) ?? tokens.map(() => TOKEN_NORMAL);
  const id = (key: string) => num(metadata[`tokenizer.ggml.${key}`]);
  const bos = id('bos_token_id');
  const eos = id('eos_token_id');
  const flag = (key: string) => metadata[`tokenizer.ggml.${key}`] as boolean | undefined;

  const added = tokens.flatMap((t, i) =>
    types[i] === TOKEN_CONTROL || types[i] === TOKEN_UNKNOWN ? [addedToken(i, t, true)]
      : types[i] === TOKEN_USER_DEFINED ? [addedToken(i, t, false)] : []);
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => { if (!(t in vocab)) vocab[t] = i; });

  let tokenizer: object;
  let addBos: boolean;
  if (model === 'llama') {
    const scores = (metadata['tokenizer.ggml.scores'] as number[] | undefined) ?? tokens.map(() => 0);
    const mergeable = new Set(tokens.filter((_, i) => types[i] === TOKEN_NORMAL || types[i] === TOKEN_USER_DEFINED));
    const order = tokens.map((_, i) => i).filter((i) => types[i] === TOKEN_NORMAL).sort((a, b) => scores[b] - scores[a] || a - b);
    const merges: [string, string][] = [];
    for (const i of order) {
      const chars = Array.from(tokens[i]);
      for (let k = 1; k < chars.length; k++) {
        const a = chars.slice(0, k).join('');
        const b = chars.slice(k).join('');
        if (mergeable.has(a) && mergeable.has(b)) merges.push([a, b]);
      }
    }
    const unk = id('unknown_token_id');
    const prefix = flag('add_space_prefix') !== false;
    tokenizer = {
      version: '1.0', truncation: null, padding: null, added_tokens: added,
      normalizer: { type: 'Sequence', normalizers: [
        ...(prefix ? [{ type: 'Prepend', prepend: '\u2581' }] : []),
        { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' },
      ] },
      pre_tokenizer: null,
      post_processor: null,
      decoder: { type: 'Sequence', decoders: [
        { type: 'Replace', pattern: { String: '\u2581' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        ...(prefix ? [{ type: 'Strip', content: ' ', start: 1, stop: 0 }] : []),
      ] },
      model: {
        type: 'BPE', dropout: null, unk_token: unk !== undefined ? tokens[unk] : null, continuing_subword_prefix: null,
        end_of_word_suffix: null, fuse_unk: true, byte_fallback: types.includes(TOKEN_BYTE), ignore_merges: false, vocab, merges,
      },
    };
    addBos = flag('add_bos_token') ?? true;
  } else if (model === 'gpt2') {
    const merges = metadata['tokenizer.ggml.merges'] as string[] | undefined;
    if (!Array.isArray(merges)) throw unsupported('the GGUF byte-level BPE tokenizer has no tokenizer.ggml.merges');
    const pre = String(metadata['tokenizer.ggml.pre'] ?? 'gpt2');
    const regex = PRE_TOKENIZER_REGEX[pre] ?? PRE_TOKENIZER_REGEX.gpt2;
    tokenizer = {
      version: '1.0', truncation: null, padding: null, added_tokens: added,
      normalizer: pre === 'qwen2' ? { type: 'NFC' } : null,
      pre_tokenizer: { type: 'Sequence', pretokenizers: [
        { type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ] },
      post_processor: null,
      decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: {
        type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
        fuse_unk: false, byte_fallback: false, ignore_merges: pre === 'llama-bpe', vocab,
        merges: merges.map((m) => { const at = m.indexOf(' ', 1); return [m.slice(0, at), m.slice(at + 1)]; }),
      },
    };
    addBos = flag('add_bos_token') ?? pre === 'llama-bpe';
  } else {
    throw unsupported(`GGUF tokenizer model "${String(model)}" is not supported; supported: llama (SentencePiece), gpt2 (byte-level BPE)`);
  }

  // As llama.cpp does, control tokens that end a turn or a text in the common chat formats end generation too.
  const endMarkers = tokens.flatMap((t, i) => (types[i] === TOKEN_CONTROL && END_OF_GENERATION.has(t) ? [i] : []));
  const eosIds = [...new Set([eos, id('eot_token_id'), id('eom_token_id'), ...endMarkers].filter((x): x is number => x !== undefined && x < tokens.length))];
  if (!eosIds.length) throw unsupported('the GGUF tokenizer names no end-of-sequence token (tokenizer.ggml.eos_token_id)');
  const template = metadata['tokenizer.chat_template'];
  const tokenizerConfig = {
    add_bos_token: addBos && bos !== undefined,
    add_eos_token: flag('add_eos_token') ?? false,
    bos_token: bos !== undefined ? tokens[bos] : null,
    eos_token: tokens[eosIds[0]],
    unk_token: id('unknown_token_id') !== undefined ? tokens[id('unknown_token_id')!] : null,
    pad_token: id('padding_token_id') !== undefined ? tokens[id('padding_token_id')!] : null,
    clean_up_tokenization_spaces: false,
    ...(typeof template === 'string' ? { chat_template: template } : {}),
  };
  return { tokenizer, tokenizerConfig, eosIds };
}

/** tokenizer.json → the vocabulary xgrammar needs (encoded token strings, how to decode them, special ids). */

export type VocabType = 'byte_level' | 'byte_fallback' | 'raw';

/** Everything derived from tokenizer.json that xgrammar needs. */
export interface TokenizerVocab {
  /** Token strings by id, in the tokenizer's encoded form; special tokens are '' (never produced by a grammar). */
  encodedVocab: string[];
  vocabType: VocabType;
  prependSpace: boolean;
  specialIds: number[];
}

interface TokenizerJsonShape {
  model?: { type?: string; vocab?: Record<string, number> | Array<[string, number]>; byte_fallback?: boolean };
  added_tokens?: Array<{ id: number; content: string; special?: boolean }>;
  decoder?: DecoderShape | null;
  normalizer?: NormalizerShape | null;
  pre_tokenizer?: PreTokenizerShape | null;
}
interface DecoderShape { type?: string; decoders?: DecoderShape[] }
interface NormalizerShape { type?: string; prepend?: string; normalizers?: NormalizerShape[] }
interface PreTokenizerShape { type?: string; prepend_scheme?: string; add_prefix_space?: boolean; pretokenizers?: PreTokenizerShape[] }

/**
 * xgrammar wants every token as the tokenizer's raw (encoded) string plus a rule for decoding it: `byte_level`
 * (GPT-2/Llama-3 BPE: each char stands for a byte, 'Ġ' = space), `byte_fallback` (SentencePiece: '▁' = space,
 * `<0xAB>` = a byte) or `raw`. The strings are taken from tokenizer.json's `model.vocab` as they are. Special added
 * tokens become '' so that no grammar can produce them (e.g. `<|eot_id|>` inside a JSON string); stop tokens are
 * passed to xgrammar by id. Non-special added tokens hold plain text and are re-encoded into the vocab's form.
 */
export function buildTokenizerVocab(tokenizerJson: object, tokenizerConfig: object): TokenizerVocab {
  const json = tokenizerJson as TokenizerJsonShape;
  const model = json.model;
  if (!model?.vocab) throw new Error('tokenizer.json has no model.vocab');
  const vocabType = detectVocabType(json);
  const entries: Array<[string, number]> = Array.isArray(model.vocab)
    ? model.vocab.map(([piece], id) => [piece, id])
    : Object.entries(model.vocab);
  const added = new Map<number, { content: string; special: boolean }>();
  for (const t of json.added_tokens ?? []) added.set(t.id, { content: t.content, special: t.special !== false });
  const decoderConfig = (tokenizerConfig as { added_tokens_decoder?: Record<string, { content?: string; special?: boolean }> }).added_tokens_decoder ?? {};
  for (const [idText, t] of Object.entries(decoderConfig)) {
    const id = Number(idText);
    if (!Number.isInteger(id) || typeof t.content !== 'string') continue;
    const prev = added.get(id);
    added.set(id, { content: t.content, special: t.special ?? prev?.special ?? true });
  }
  let size = 0;
  for (const [, id] of entries) size = Math.max(size, id + 1);
  for (const id of added.keys()) size = Math.max(size, id + 1);
  const encodedVocab = new Array<string>(size).fill('');
  for (const [piece, id] of entries) encodedVocab[id] = piece;
  const specialIds: number[] = [];
  for (const [id, t] of added) {
    if (t.special) {
      encodedVocab[id] = '';
      specialIds.push(id);
    } else {
      encodedVocab[id] = encodeAddedToken(t.content, vocabType);
    }
  }
  specialIds.sort((a, b) => a - b);
  return { encodedVocab, vocabType, prependSpace: detectPrependSpace(json), specialIds };
}

function detectVocabType(json: TokenizerJsonShape): VocabType {
  const decoders = flattenDecoders(json.decoder);
  if (decoders.includes('ByteLevel')) return 'byte_level';
  if (json.model?.byte_fallback || decoders.includes('ByteFallback')) return 'byte_fallback';
  // Metaspace ('▁' for spaces) without byte tokens: byte_fallback decoding turns '▁' into ' ' too.
  if (decoders.includes('Metaspace') || decoders.includes('Replace')) return 'byte_fallback';
  return 'raw';
}

function flattenDecoders(d: DecoderShape | null | undefined): string[] {
  if (!d) return [];
  return [d.type ?? '', ...(d.decoders ?? []).flatMap(flattenDecoders)];
}

function detectPrependSpace(json: TokenizerJsonShape): boolean {
  const normalizers = (n: NormalizerShape | null | undefined): NormalizerShape[] => (n ? [n, ...(n.normalizers ?? []).flatMap(normalizers)] : []);
  if (normalizers(json.normalizer).some((n) => n.type === 'Prepend' && n.prepend === '▁')) return true;
  const pre = (p: PreTokenizerShape | null | undefined): PreTokenizerShape[] => (p ? [p, ...(p.pretokenizers ?? []).flatMap(pre)] : []);
  return pre(json.pre_tokenizer).some(
    (p) => p.type === 'Metaspace' && (p.prepend_scheme === 'always' || p.prepend_scheme === 'first' || p.add_prefix_space === true),
  );
}

function encodeAddedToken(content: string, vocabType: VocabType): string {
  if (vocabType === 'byte_fallback') return content.replace(/ /g, '▁');
  if (vocabType === 'raw') return content;
  const table = byteToUnicode();
  let out = '';
  for (const b of new TextEncoder().encode(content)) out += table[b];
  return out;
}

let byteTable: string[] | undefined;
/** GPT-2's byte → char table of byte-level BPE: printable Latin-1 bytes stand for themselves, the rest shift up. */
function byteToUnicode(): string[] {
  if (byteTable) return byteTable;
  const table = new Array<string>(256);
  let shift = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCodePoint(printable ? b : 256 + shift++);
  }
  byteTable = table;
  return table;
}

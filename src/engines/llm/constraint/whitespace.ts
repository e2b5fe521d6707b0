/** The whitespace-run limit of JSON mode: per token, whether it is whitespace only and how much whitespace it ends
 * with (JSON mode's known failure is an endless stream of newlines; the limit is enforced on the mask, not in the
 * grammar). */
import type { TokenizerVocab, VocabType } from './vocab';

/** Per token: whether it is whitespace only, and how many whitespace characters it ends with. */
export interface WhitespaceLimit {
  max: number;
  only: Uint8Array;
  trailing: Uint8Array;
  /** Bit set = the token is not whitespace-only (padding ids included). */
  notOnlyMask: Uint32Array;
}

export function whitespaceLimit(vocab: TokenizerVocab, vocabSize: number, max: number): WhitespaceLimit {
  const only = new Uint8Array(vocabSize);
  const trailing = new Uint8Array(vocabSize);
  const notOnlyMask = new Uint32Array(Math.ceil(vocabSize / 32)).fill(0xffffffff);
  vocab.encodedVocab.forEach((token, id) => {
    const text = whitespaceShape(token, vocab.vocabType);
    const end = text.length - text.trimEnd().length;
    trailing[id] = Math.min(end, 255);
    if (text.length > 0 && end === text.length) {
      only[id] = 1;
      notOnlyMask[id >>> 5] &= ~(1 << (id & 31));
    }
  });
  return { max, only, trailing, notOnlyMask };
}

/** The token's text with its JSON whitespace (space, \n, \t, \r) kept and every other character as 'x'. */
function whitespaceShape(token: string, vocabType: VocabType): string {
  if (vocabType === 'byte_fallback') {
    const byte = /^<0x([0-9A-Fa-f]{2})>$/.exec(token);
    if (byte) return shape(String.fromCharCode(parseInt(byte[1], 16)));
    return shape(token.replace(/▁/g, ' '));
  }
  if (vocabType === 'byte_level') {
    return [...token].map((c) => (c === 'Ġ' ? ' ' : c === 'Ċ' ? '\n' : c === 'ĉ' ? '\t' : c === 'č' ? '\r' : 'x')).join('');
  }
  return shape(token);
}

function shape(text: string): string {
  return text.replace(/[^ \n\t\r]/g, 'x');
}

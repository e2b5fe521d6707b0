// A reader of llama.c's legacy checkpoint and tokenizer (Karpathy's llama2.c: stories260K.bin, tok512.bin), for the
// WGSL decoder's real-model test: the checkpoint becomes LlamaWeights as they are (float32 [out, in] matrices, RoPE on
// adjacent pairs), and the tokenizer only decodes. Layouts: /work/shared/models/stories260K/README.md.
import type { LinearWeight, LlamaLayerWeights, LlamaWeights } from '../../src/engines/llm/wgsl/weights';

export function readLlama2c(bytes: Uint8Array): LlamaWeights {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [dim, hiddenDim, layers, heads, kvHeads, vocabSigned, seqLen] = Array.from({ length: 7 }, (_, i) => view.getInt32(4 * i, true));
  const vocab = Math.abs(vocabSigned);
  const headDim = dim / heads;
  const kvDim = kvHeads * headDim;
  let offset = 28;
  const take = (floats: number) => {
    const out = bytes.subarray(offset, offset + 4 * floats);
    offset += 4 * floats;
    return out;
  };
  const f32 = (b: Uint8Array) => new Float32Array(b.slice().buffer);
  const perLayer = (rows: number, cols: number) => {
    const all = take(layers * rows * cols);
    return Array.from({ length: layers }, (_, l): LinearWeight => ({ kind: 'f32', layout: 'nk', n: rows, k: cols, bytes: all.subarray(l * rows * cols * 4, (l + 1) * rows * cols * 4) }));
  };
  const perLayerVector = (n: number) => {
    const all = f32(take(layers * n));
    return Array.from({ length: layers }, (_, l) => all.subarray(l * n, (l + 1) * n));
  };
  const embed: LinearWeight = { kind: 'f32', layout: 'nk', n: vocab, k: dim, bytes: take(vocab * dim) };
  const rmsAtt = perLayerVector(dim);
  const wq = perLayer(dim, dim);
  const wk = perLayer(kvDim, dim);
  const wv = perLayer(kvDim, dim);
  const wo = perLayer(dim, dim);
  const rmsFfn = perLayerVector(dim);
  const w1 = perLayer(hiddenDim, dim);
  const w2 = perLayer(dim, hiddenDim);
  const w3 = perLayer(hiddenDim, dim);
  const finalNorm = f32(take(dim));
  take(seqLen * headDim); // freq_cis_real, freq_cis_imag (legacy, unused)
  const lmHead: LinearWeight = vocabSigned > 0 ? embed : { kind: 'f32', layout: 'nk', n: vocab, k: dim, bytes: take(vocab * dim) };
  const layerWeights: LlamaLayerWeights[] = Array.from({ length: layers }, (_, l) => ({
    attnNorm: rmsAtt[l], q: wq[l], k: wk[l], v: wv[l], o: wo[l], qBias: null, kBias: null, vBias: null,
    mlpNorm: rmsFfn[l], gate: w1[l], up: w3[l], down: w2[l],
  }));
  return {
    arch: {
      hidden: dim, layers, heads, kvHeads, headDim, intermediate: hiddenDim, vocab, rmsEps: 1e-5, ropeTheta: 10000,
      ropeScaling: null, ropeLayout: 'interleaved', maxPositions: seqLen,
    },
    embed, layers: layerWeights, finalNorm, lmHead,
  };
}

/** Decodes ids with llama.c's tokenizer file the way its `decode` does (BOS/EOS silent, the space after BOS dropped, <0xNN> as bytes). */
export function llama2cDecoder(bytes: Uint8Array): (ids: number[]) => string {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const pieces: Uint8Array[] = [];
  let offset = 4;
  while (offset < bytes.byteLength) {
    const length = view.getInt32(offset + 4, true);
    pieces.push(bytes.subarray(offset + 8, offset + 8 + length));
    offset += 8 + length;
  }
  const text = new TextDecoder();
  return (ids) => {
    const out: number[] = [];
    ids.forEach((id, i) => {
      if (id === 1 || id === 2) return; // BOS / EOS print nothing
      let piece = text.decode(pieces[id]);
      if (i > 0 && ids[i - 1] === 1 && piece.startsWith(' ')) piece = piece.slice(1);
      const byte = /^<0x([0-9A-Fa-f]{2})>$/.exec(piece);
      if (byte) out.push(parseInt(byte[1], 16));
      else out.push(...new TextEncoder().encode(piece));
    });
    return text.decode(Uint8Array.from(out));
  };
}

/**
 * The Llama-family model our WGSL decoder runs, as read from a weights file before upload: the architecture (from
 * config.json) and every weight by role, each still in its file's own bytes and layout (float32 or float16 [n, k] or
 * [k, n], or MatMulNBits 4-bit blocks with float32 or float16 scales, or GGUF's GGML blocks), so no matrix is converted
 * on the CPU (float16 is widened in the kernels, with unpack2x16float). Readers: onnx-weights.ts,
 * safetensors-weights.ts, gguf-weights.ts.
 */
import { halfTable } from '../../../util/float16';

export interface LlamaArchitecture {
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  vocab: number;
  rmsEps: number;
  ropeTheta: number;
  /** Llama-3 `rope_scaling` (rope_type "llama3"), or null. */
  ropeScaling: { factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number } | null;
  /** 'half': Hugging Face (pairs i, i + d/2); 'interleaved': llama.c / GGUF (pairs 2i, 2i + 1). */
  ropeLayout: 'half' | 'interleaved';
  maxPositions: number;
  /** Per-frequency divisors of inv_freq (GGUF's `rope_freqs.weight`: Llama 3.1+ scaling as llama.cpp stores it). */
  ropeFactors?: Float32Array | null;
}

/** A weight of `n` outputs by `k` inputs. */
export type LinearWeight =
  /** float32 little-endian bytes, [n, k] (torch) or [k, n] (ONNX MatMul). */
  | { kind: 'f32'; layout: 'nk' | 'kn'; n: number; k: number; bytes: Uint8Array }
  /** float16 (IEEE half) little-endian bytes, [n, k] or [k, n]: an fp16 / q4f16 ONNX export's matrices. */
  | { kind: 'f16'; layout: 'nk' | 'kn'; n: number; k: number; bytes: Uint8Array }
  /**
   * onnxruntime MatMulNBits, 4 bits: q [n, blocks, bs/2], scales [n · blocks] (float32, or float16 in q4f16 exports:
   * `scaleType`), zero points [n, ceil(blocks/2)].
   */
  | { kind: 'q4'; n: number; k: number; blockSize: number; q: Uint8Array; scales: Uint8Array; scaleType?: 'f32' | 'f16'; zeroPoints: Uint8Array | null }
  /** A GGUF tensor as the file stores it: [n, k] rows of GGML blocks (F16, Q8_0, Q4_0, Q4_K, Q6_K; see gemv_gguf.wgsl). */
  | { kind: 'gguf'; type: GgufBlockType; n: number; k: number; bytes: Uint8Array };

/** GGML types read in their own blocks on the GPU (F32 tensors become 'f32' weights). */
export type GgufBlockType = 'F16' | 'Q8_0' | 'Q4_0' | 'Q4_K' | 'Q6_K';

export interface LlamaLayerWeights {
  attnNorm: Float32Array;
  q: LinearWeight;
  k: LinearWeight;
  v: LinearWeight;
  o: LinearWeight;
  /** Qwen2 has q/k/v biases. */
  qBias: Float32Array | null;
  kBias: Float32Array | null;
  vBias: Float32Array | null;
  mlpNorm: Float32Array;
  gate: LinearWeight;
  up: LinearWeight;
  down: LinearWeight;
}

export interface LlamaWeights {
  arch: LlamaArchitecture;
  /** [vocab, hidden] (layout 'nk'). */
  embed: LinearWeight;
  layers: LlamaLayerWeights[];
  finalNorm: Float32Array;
  /** [vocab, hidden]; the same object as `embed` when the head is tied. */
  lmHead: LinearWeight;
}

/** Bytes of weights one decode step reads (every linear weight once, the embedding row aside). */
export function weightBytesPerToken(w: LlamaWeights): number {
  const size = (l: LinearWeight) => l.kind !== 'q4' ? l.bytes.byteLength : l.q.byteLength + l.scales.byteLength + (l.zeroPoints?.byteLength ?? 0);
  let total = size(w.lmHead) + 4 * w.finalNorm.length;
  for (const l of w.layers) {
    total += [l.q, l.k, l.v, l.o, l.gate, l.up, l.down].reduce((s, x) => s + size(x), 0) + 4 * (l.attnNorm.length + l.mlpNorm.length);
  }
  return total;
}

/** Little-endian float32 bytes → a Float32Array (copied: file offsets need not be 4-aligned). */
export function f32FromBytes(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.byteLength >>> 2);
  new Uint8Array(out.buffer).set(bytes.subarray(0, out.length * 4));
  return out;
}

/** Little-endian IEEE half bytes → a Float32Array (for 1-D vectors: norms and biases, once at load). */
export function f32FromF16Bytes(bytes: Uint8Array): Float32Array {
  const half = halfTable();
  const out = new Float32Array(bytes.byteLength >>> 1);
  for (let i = 0; i < out.length; i++) out[i] = half[bytes[2 * i] | (bytes[2 * i + 1] << 8)];
  return out;
}

export function f32Bytes(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/**
 * cos/sin of every (position, frequency) pair, [positions, headDim/2] interleaved, as torch's Llama rotary embedding
 * computes them: inv_freq in float32 (with Llama-3 scaling), angle = position · inv_freq rounded to float32.
 */
export function ropeTable(arch: LlamaArchitecture, positions: number): Float32Array {
  const half = arch.headDim / 2;
  const invFreq = new Float32Array(half);
  for (let i = 0; i < half; i++) invFreq[i] = 1 / Math.pow(arch.ropeTheta, (2 * i) / arch.headDim) / (arch.ropeFactors?.[i] ?? 1);
  const s = arch.ropeScaling;
  if (s) {
    const lowWavelen = s.originalMaxPositions / s.lowFreqFactor;
    const highWavelen = s.originalMaxPositions / s.highFreqFactor;
    for (let i = 0; i < half; i++) {
      const wavelen = (2 * Math.PI) / invFreq[i];
      if (wavelen > lowWavelen) invFreq[i] = invFreq[i] / s.factor;
      else if (wavelen >= highWavelen) {
        const smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
        invFreq[i] = (1 - smooth) * (invFreq[i] / s.factor) + smooth * invFreq[i];
      }
    }
  }
  const table = new Float32Array(positions * half * 2);
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(p * invFreq[i]);
      table[(p * half + i) * 2] = Math.cos(angle);
      table[(p * half + i) * 2 + 1] = Math.sin(angle);
    }
  }
  return table;
}

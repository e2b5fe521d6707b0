/**
 * CPU references of the WGSL decoder's kernels (shaders/llm/*.wgsl), written for clarity over speed: the kernel
 * unit tests compare each shader with these on odd shapes, and they document the exact math of each kernel.
 */
import { dequantizeGguf } from './gguf-reference';
import { f32FromBytes, f32FromF16Bytes, type LinearWeight } from './weights';

/** The weight as float32 [n, k] (float16 widened; 4-bit blocks dequantised: (q − zp) · scale, zp 8 when absent). */
export function dequantize(w: LinearWeight): Float32Array {
  if (w.kind === 'gguf') return dequantizeGguf(w.type, w.bytes, w.n, w.k);
  const out = new Float32Array(w.n * w.k);
  if (w.kind === 'f32' || w.kind === 'f16') {
    const v = w.kind === 'f32' ? f32FromBytes(w.bytes) : f32FromF16Bytes(w.bytes);
    for (let n = 0; n < w.n; n++) for (let k = 0; k < w.k; k++) out[n * w.k + k] = w.layout === 'nk' ? v[n * w.k + k] : v[k * w.n + n];
    return out;
  }
  const blocks = Math.ceil(w.k / w.blockSize);
  const scales = w.scaleType === 'f16' ? f32FromF16Bytes(w.scales) : f32FromBytes(w.scales);
  const zpStride = Math.ceil(blocks / 2);
  for (let n = 0; n < w.n; n++) {
    for (let k = 0; k < w.k; k++) {
      const b = Math.floor(k / w.blockSize);
      const e = k % w.blockSize;
      const byte = w.q[(n * blocks + b) * (w.blockSize / 2) + (e >> 1)];
      const q = e & 1 ? byte >> 4 : byte & 15;
      const zpByte = w.zeroPoints ? w.zeroPoints[n * zpStride + (b >> 1)] : 0;
      const zp = w.zeroPoints ? (b & 1 ? zpByte >> 4 : zpByte & 15) : 8;
      out[n * w.k + k] = (q - zp) * scales[n * blocks + b];
    }
  }
  return out;
}

/** out[n] = Σ_k x[k]·W[n,k] + bias[n] + residual[n] (float64 sums). */
export function gemvReference(w: LinearWeight, x: Float32Array, bias: Float32Array | null = null, residual: Float32Array | null = null, rows = w.n): Float32Array {
  const W = dequantize(w);
  const out = new Float32Array(rows);
  for (let n = 0; n < rows; n++) {
    let s = 0;
    for (let k = 0; k < w.k; k++) s += x[k] * W[n * w.k + k];
    out[n] = s + (bias ? bias[n] : 0) + (residual ? residual[n] : 0);
  }
  return out;
}

/** Prefill: gemvReference for each of `tokens` rows of x ([tokens, k]) → [tokens, n]; `residual` [tokens, n]. */
export function gemmReference(w: LinearWeight, x: Float32Array, tokens: number, bias: Float32Array | null = null, residual: Float32Array | null = null): Float32Array {
  const out = new Float32Array(tokens * w.n);
  for (let t = 0; t < tokens; t++) {
    out.set(gemvReference(w, x.subarray(t * w.k, (t + 1) * w.k), bias, residual ? residual.subarray(t * w.n, (t + 1) * w.n) : null), t * w.n);
  }
  return out;
}

export function embedReference(w: LinearWeight, token: number): Float32Array {
  return dequantize(w).slice(token * w.k, (token + 1) * w.k);
}

export function rmsNormReference(x: Float32Array, weight: Float32Array, eps: number): Float32Array {
  let s = 0;
  for (const v of x) s += v * v;
  const inv = 1 / Math.sqrt(s / x.length + eps);
  return x.map((v, i) => v * inv * weight[i]);
}

/** Rotates every head of `x` ([heads, headDim]) at position `pos`, with cos/sin from ropeTable. */
export function ropeReference(x: Float32Array, heads: number, headDim: number, pos: number, table: Float32Array, layout: 'half' | 'interleaved'): Float32Array {
  const out = x.slice();
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      const [a, b] = layout === 'half' ? [i, i + half] : [2 * i, 2 * i + 1];
      const c = table[(pos * half + i) * 2];
      const s = table[(pos * half + i) * 2 + 1];
      const x1 = x[h * headDim + a];
      const x2 = x[h * headDim + b];
      out[h * headDim + a] = x1 * c - x2 * s;
      out[h * headDim + b] = x2 * c + x1 * s;
    }
  }
  return out;
}

/** Causal GQA attention of one query over cache slots [0, len): caches are [slot, kvHeads, headDim]. */
export function attentionReference(q: Float32Array, kCache: Float32Array, vCache: Float32Array, len: number, heads: number, kvHeads: number, headDim: number): Float32Array {
  const out = new Float32Array(heads * headDim);
  const group = heads / kvHeads;
  for (let h = 0; h < heads; h++) {
    const kvh = Math.floor(h / group);
    const scores = new Float64Array(len);
    let max = -Infinity;
    for (let t = 0; t < len; t++) {
      let s = 0;
      for (let d = 0; d < headDim; d++) s += q[h * headDim + d] * kCache[(t * kvHeads + kvh) * headDim + d];
      scores[t] = s / Math.sqrt(headDim);
      max = Math.max(max, scores[t]);
    }
    let total = 0;
    for (let t = 0; t < len; t++) total += (scores[t] = Math.exp(scores[t] - max));
    for (let d = 0; d < headDim; d++) {
      let acc = 0;
      for (let t = 0; t < len; t++) acc += scores[t] * vCache[(t * kvHeads + kvh) * headDim + d];
      out[h * headDim + d] = acc / total;
    }
  }
  return out;
}

export function swigluReference(gate: Float32Array, up: Float32Array): Float32Array {
  return gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]);
}

/** Index of the largest value, ties → lowest index. */
export function argmaxReference(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/**
 * Turning a model's token states into sentence vectors: pooling as the model prescribes (mean over real tokens,
 * or the first token), L2 normalisation, and Matryoshka truncation (cut to `dimensions`, then renormalise).
 * Pure functions over flat Float32Arrays so they run the same in a worker, a page and Node tests.
 */
import type { Pooling } from '../../models/types';

/**
 * Pools `hidden` (row-major `[batch, seq, width]`) into `batch` vectors of `width`.
 * `mask` is `[batch, seq]` with 1 for real tokens and 0 for padding.
 */
export function pool(
  hidden: Float32Array,
  mask: ArrayLike<number | bigint>,
  batch: number,
  seq: number,
  width: number,
  method: Pooling,
): Float32Array[] {
  const out: Float32Array[] = [];
  for (let b = 0; b < batch; b++) {
    const v = new Float32Array(width);
    if (method === 'cls') {
      v.set(hidden.subarray(b * seq * width, b * seq * width + width));
    } else {
      let count = 0;
      for (let t = 0; t < seq; t++) {
        if (Number(mask[b * seq + t]) === 0) continue;
        count++;
        const base = (b * seq + t) * width;
        for (let d = 0; d < width; d++) v[d] += hidden[base + d];
      }
      const denom = Math.max(count, 1e-9);
      for (let d = 0; d < width; d++) v[d] /= denom;
    }
    out.push(v);
  }
  return out;
}

/** Returns a unit-length copy (a zero vector stays zero rather than becoming NaN). */
export function l2Normalize(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i] * v[i];
  const norm = Math.max(Math.sqrt(sum), 1e-12);
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i] / norm;
  return out;
}

/** Matryoshka: keep the first `dimensions` components, then renormalise. */
export function truncateDimensions(v: Float32Array, dimensions: number): Float32Array {
  return l2Normalize(v.subarray(0, dimensions));
}

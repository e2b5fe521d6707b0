/**
 * CPU references of GGML's block formats (what gemv_gguf.wgsl dequantises on the GPU), written for clarity: the
 * kernel tests compare the shader with these, and the fixture script's numpy dequantisers (checked there against the
 * `gguf` Python package when it is installed) produced the torch references the decoder is tested against.
 */
import type { GgufBlockType } from './weights';

/** IEEE half → number. */
export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const half = (b: Uint8Array, o: number) => halfToFloat(b[o] | (b[o + 1] << 8));
const int8 = (v: number) => (v << 24) >> 24;

/** Sub-block j's 6-bit scale and min in a Q4_K super-block's 12 scale bytes starting at `s`. */
function q4kScaleMin(b: Uint8Array, s: number, j: number): [number, number] {
  if (j < 4) return [b[s + j] & 63, b[s + j + 4] & 63];
  return [(b[s + j + 4] & 15) | ((b[s + j - 4] >> 6) << 4), (b[s + j + 4] >> 4) | ((b[s + j] >> 6) << 4)];
}

/** Dequantises one row of `k` elements starting at byte `o` into out[at…]. */
function row(type: GgufBlockType, b: Uint8Array, o: number, k: number, out: Float32Array, at: number): void {
  switch (type) {
    case 'F16':
      for (let e = 0; e < k; e++) out[at + e] = half(b, o + 2 * e);
      return;
    case 'Q8_0':
      for (let blk = 0; blk < k / 32; blk++, o += 34) {
        const d = half(b, o);
        for (let e = 0; e < 32; e++) out[at + blk * 32 + e] = d * int8(b[o + 2 + e]);
      }
      return;
    case 'Q4_0':
      for (let blk = 0; blk < k / 32; blk++, o += 18) {
        const d = half(b, o);
        for (let e = 0; e < 16; e++) {
          out[at + blk * 32 + e] = d * ((b[o + 2 + e] & 15) - 8);
          out[at + blk * 32 + e + 16] = d * ((b[o + 2 + e] >> 4) - 8);
        }
      }
      return;
    case 'Q4_K':
      for (let blk = 0; blk < k / 256; blk++, o += 144) {
        const d = half(b, o);
        const dmin = half(b, o + 2);
        for (let sub = 0; sub < 8; sub++) {
          const [sc, m] = q4kScaleMin(b, o + 4, sub);
          for (let l = 0; l < 32; l++) {
            const byte = b[o + 16 + (sub >> 1) * 32 + l];
            const q = sub & 1 ? byte >> 4 : byte & 15;
            out[at + blk * 256 + sub * 32 + l] = d * sc * q - dmin * m;
          }
        }
      }
      return;
    case 'Q6_K':
      for (let blk = 0; blk < k / 256; blk++, o += 210) {
        const d = half(b, o + 208);
        for (let part = 0; part < 2; part++) {
          const ql = o + part * 64;
          const qh = o + 128 + part * 32;
          const sc = o + 192 + part * 8;
          for (let l = 0; l < 32; l++) {
            const is = l >> 4;
            const q1 = ((b[ql + l] & 15) | (((b[qh + l] >> 0) & 3) << 4)) - 32;
            const q2 = ((b[ql + l + 32] & 15) | (((b[qh + l] >> 2) & 3) << 4)) - 32;
            const q3 = ((b[ql + l] >> 4) | (((b[qh + l] >> 4) & 3) << 4)) - 32;
            const q4 = ((b[ql + l + 32] >> 4) | (((b[qh + l] >> 6) & 3) << 4)) - 32;
            const y = at + blk * 256 + part * 128;
            out[y + l] = d * int8(b[sc + is]) * q1;
            out[y + l + 32] = d * int8(b[sc + is + 2]) * q2;
            out[y + l + 64] = d * int8(b[sc + is + 4]) * q3;
            out[y + l + 96] = d * int8(b[sc + is + 6]) * q4;
          }
        }
      }
  }
}

/** Bytes of one row of `k` elements. */
export function ggufRowBytes(type: GgufBlockType, k: number): number {
  switch (type) {
    case 'F16': return 2 * k;
    case 'Q8_0': return (k / 32) * 34;
    case 'Q4_0': return (k / 32) * 18;
    case 'Q4_K': return (k / 256) * 144;
    case 'Q6_K': return (k / 256) * 210;
  }
}

/** A GGUF [n, k] tensor as float32 [n, k]. */
export function dequantizeGguf(type: GgufBlockType, bytes: Uint8Array, n: number, k: number): Float32Array {
  const out = new Float32Array(n * k);
  const stride = ggufRowBytes(type, k);
  for (let r = 0; r < n; r++) row(type, bytes, r * stride, k, out, r * k);
  return out;
}

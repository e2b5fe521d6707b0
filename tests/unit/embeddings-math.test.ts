// Pooling, normalisation, Matryoshka truncation, base64 encoding and batch planning, against straightforward
// re-computations (and, for the pooled vectors, the torch reference through the real model in api.test.ts).
import { describe, expect, it } from 'vitest';
import { base64ToFloat32, encodeVector, float32ToLittleEndianBytes } from '../../src/api/embedding-encoding';
import { planBatches } from '../../src/engines/embeddings/onnx-embedder';
import { l2Normalize, pool, truncateDimensions } from '../../src/engines/embeddings/pooling';

describe('pool', () => {
  // batch 2, seq 3, width 2; the second row has one padding token.
  const hidden = Float32Array.from([1, 2, 3, 4, 5, 6, 10, 20, 30, 40, 999, 999]);
  const mask = [1, 1, 1, 1, 1, 0];

  it('means over real tokens only', () => {
    const [a, b] = pool(hidden, mask, 2, 3, 2, 'mean');
    expect(Array.from(a)).toEqual([3, 4]);
    expect(Array.from(b)).toEqual([20, 30]);
  });

  it('takes the first token for cls', () => {
    const [a, b] = pool(hidden, BigInt64Array.from([1n, 1n, 1n, 1n, 1n, 0n]), 2, 3, 2, 'cls');
    expect(Array.from(a)).toEqual([1, 2]);
    expect(Array.from(b)).toEqual([10, 20]);
  });
});

describe('normalisation and Matryoshka', () => {
  it('l2Normalize gives unit length and leaves zero vectors at zero', () => {
    const v = l2Normalize(Float32Array.from([3, 4]));
    expect(Array.from(v)).toEqual([expect.closeTo(0.6, 6), expect.closeTo(0.8, 6)]);
    expect(Array.from(l2Normalize(new Float32Array(3)))).toEqual([0, 0, 0]);
  });

  it('truncates then renormalises', () => {
    const v = truncateDimensions(Float32Array.from([0.6, 0.8, 0, 0]), 1);
    expect(Array.from(v)).toEqual([1]);
    const w = truncateDimensions(Float32Array.from([1, 1, 1, 1]), 2);
    expect(Math.hypot(...w)).toBeCloseTo(1, 6);
  });
});

describe('encoding_format', () => {
  it('base64 is little-endian float32 and round-trips exactly', () => {
    const v = Float32Array.from([1, -2.5, Math.PI, 1e-20]);
    const bytes = float32ToLittleEndianBytes(v);
    expect(Array.from(bytes.subarray(0, 4))).toEqual([0, 0, 0x80, 0x3f]); // 1.0f
    const b64 = encodeVector(v, 'base64') as string;
    expect(Buffer.from(b64, 'base64')).toEqual(Buffer.from(bytes));
    expect(Array.from(base64ToFloat32(b64))).toEqual(Array.from(v));
    expect(encodeVector(v, 'float')).toEqual(Array.from(v));
  });
});

describe('planBatches', () => {
  it('keeps every input once, in length order, within the token budget', () => {
    const ids = Array.from({ length: 300 }, (_, i) => new Array(1 + ((i * 37) % 500)).fill(5));
    const order = ids.map((_, i) => i).sort((a, b) => ids[a].length - ids[b].length);
    const batches = planBatches(order, ids);
    expect(batches.flat()).toEqual(order);
    for (const b of batches) {
      const longest = Math.max(...b.map((i) => ids[i].length));
      expect(b.length <= 64).toBe(true);
      expect(b.length === 1 || b.length * longest <= 16384).toBe(true);
    }
  });
});

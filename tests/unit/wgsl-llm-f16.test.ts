// Float16 weight storage in the WGSL decoder, on WebGPU in Node (Dawn on SwiftShader, which has no `shader-f16`: the
// kernels widen halves with the core builtin unpack2x16float and compute in float32):
//  - each f16 kernel alone against its CPU reference (src/engines/llm/wgsl/reference.ts) on odd shapes: gemv_f16's
//    gemv_nk / gemv_nk_thread / gemv_kn (odd k: single-element path; even k: word-pair path; odd and even n for
//    gemv_kn's pair path), its subgroup variant, gemm_f16's gemm_nk / gemm_kn (21 tokens, SwiGLU fused), embed_f16,
//    and the 4-bit kernels with float16 MatMulNBits scales (flag bit 4: an odd number of scales, zero points or 8);
//  - random half bit patterns (every exponent from 2^-5 to 2^1, both signs), so the reference and the kernel widen
//    exactly the same values; sums compared within 1e-5 relative (float32 on the GPU vs float64 on the CPU).
// Without an adapter the tests FAIL with an explanation, unless HEARTH_NO_GPU_TESTS=1.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { getDevice, runKernel, skipGpu } from './dawn';
import { mulberry32 } from './random';
import { embedReference, gemmReference, gemvReference, swigluReference } from '../../src/engines/llm/wgsl/reference';
import { hasSmallSubgroups } from '../../src/engines/llm/wgsl/pipelines';
import type { LinearWeight } from '../../src/engines/llm/wgsl/weights';

const shader = (name: string) => readFileSync(new URL(`../../shaders/llm/${name}.wgsl`, import.meta.url), 'utf8');
const rand = mulberry32(1416);
const randn = (n: number, scale = 1) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * scale);
/** `count` random IEEE halves as little-endian bytes: |v| in [2^-5, 2^2), either sign. */
function halves(count: number): Uint8Array {
  const bits = Uint16Array.from({ length: count }, () => ((rand() < 0.5 ? 1 : 0) << 15) | ((10 + Math.floor(rand() * 7)) << 10) | Math.floor(rand() * 1024));
  return new Uint8Array(bits.buffer);
}
type F16Weight = Extract<LinearWeight, { kind: 'f16' }>;
const f16Weight = (layout: 'nk' | 'kn', n: number, k: number): F16Weight => ({ kind: 'f16', layout, n, k, bytes: halves(n * k) });

function q4f16Weight(n: number, k: number, blockSize: number, withZp: boolean): Extract<LinearWeight, { kind: 'q4' }> {
  const blocks = Math.ceil(k / blockSize);
  const q = Uint8Array.from({ length: n * blocks * blockSize / 2 }, () => Math.floor(rand() * 256));
  const zeroPoints = withZp ? Uint8Array.from({ length: n * Math.ceil(blocks / 2) }, () => Math.floor(rand() * 256)) : null;
  return { kind: 'q4', n, k, blockSize, q, scales: halves(n * blocks), scaleType: 'f16', zeroPoints };
}

describe.skipIf(skipGpu)('WGSL float16-storage kernels equal their CPU references', () => {
  let device: GPUDevice;
  beforeAll(async () => { device = await getDevice('wgsl-llm-f16 tests'); });

  const run = (code: string, entry: string, params: (number | { f: number })[], bindings: Parameters<typeof runKernel>[4], groups: [number, number?, number?], read: number[]) =>
    runKernel(device, code, entry, params, bindings, groups, read);
  const f32 = (buf: ArrayBuffer, n: number) => new Float32Array(buf, 0, n);
  const close = (got: Float32Array, want: Float32Array, tol: number) => {
    expect(got.length).toBe(want.length);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i])));
    expect(worst).toBeLessThanOrEqual(tol);
  };

  it('gemv_f16: gemv_nk, gemv_nk_thread (odd and even k), gemv_kn (odd and even n); bias, residual, a 2-D dispatch', async () => {
    for (const [n, k] of [[37, 53], [37, 54], [38, 53]] as const) {
      for (const [layout, entry] of [['nk', 'gemv_nk'], ['nk', 'gemv_nk_thread'], ['kn', 'gemv_kn']] as const) {
        const w = f16Weight(layout, n, k);
        const x = randn(k);
        const bias = randn(n);
        const residual = randn(n);
        const perGroup = entry === 'gemv_nk' ? 4 : 64;
        const invocations = entry === 'gemv_kn' && n % 2 === 0 ? n / 2 : n;
        const groups = Math.ceil(invocations / perGroup);
        const stride = Math.min(groups, 2);
        const got = await run(shader('gemv_f16'), entry, [k, n, 3, stride], { 1: x, 2: w.bytes, 3: bias, 4: residual },
          [stride, Math.ceil(groups / stride)], [4]);
        close(f32(got.get(4)!, n), gemvReference(w, x, bias, residual), 1e-5);
      }
    }
  });

  it('gemv_f16 subgroup variant (gemv_nk_subgroup) on a device with subgroups', async () => {
    const sg = await getDevice('wgsl-llm-f16 tests', ['subgroups']);
    expect(hasSmallSubgroups(sg)).toBe(true);
    try {
      for (const [n, k] of [[37, 299], [21, 300]] as const) {
        const w = f16Weight('nk', n, k);
        const x = randn(k);
        const bias = randn(n);
        const residual = randn(n);
        const groups = Math.ceil(n / 4);
        const code = `enable subgroups;\n${shader('gemv_f16')}\n${shader('gemv_f16_subgroup')}`;
        const got = await runKernel(sg, code, 'gemv_nk_subgroup', [k, n, 3, groups], { 1: x, 2: w.bytes, 3: bias, 4: residual }, [groups], [4]);
        close(f32(got.get(4)!, n), gemvReference(w, x, bias, residual), 1e-5);
      }
    } finally {
      sg.destroy();
    }
  });

  it('gemm_f16: gemm_nk and gemm_kn (prefill, 21 tokens), odd n and k, bias + residual, SwiGLU fused into x', async () => {
    const rows = 24;
    const tokens = 21;
    for (const [n, k] of [[67, 45], [66, 46]] as const) {
      for (const layout of ['nk', 'kn'] as const) {
        const w = f16Weight(layout, n, k);
        const x = randn(rows * k);
        const bias = randn(n);
        const residual = randn(rows * n);
        const up = randn(rows * k);
        const entry = layout === 'nk' ? 'gemm_nk' : 'gemm_kn';
        const groups: [number, number] = [Math.ceil(n / 64), Math.ceil(tokens / 16)];
        const got = await run(shader('gemm_f16'), entry, [k, n, 3, rows], { 1: x, 2: w.bytes, 3: bias, 4: residual, 5: up }, groups, [4]);
        close(f32(got.get(4)!, tokens * n), gemmReference(w, x, tokens, bias, residual), 1e-5);
        const fused = await run(shader('gemm_f16'), entry, [k, n, 8, rows], { 1: x, 2: w.bytes, 3: bias, 4: residual, 5: up }, groups, [4]);
        close(f32(fused.get(4)!, tokens * n), gemmReference(w, swigluReference(x, up), tokens), 1e-5);
      }
    }
  });

  it('embed_f16 reads the token id from the state buffer (odd hidden: rows start mid-word; one token and three rows)', async () => {
    const [vocab, hidden] = [11, 47];
    const table = f16Weight('nk', vocab, hidden);
    const one = await run(shader('embed'), 'embed_f16', [hidden, 0, 0, 0, 0, vocab], { 1: Uint32Array.of(7, 3, 0, 0), 2: new Float32Array(hidden), 7: table.bytes }, [1], [2]);
    close(f32(one.get(2)!, hidden), embedReference(table, 7), 0);
    const rows = await run(shader('embed'), 'embed_f16', [hidden, 0, 0, 0, 0, vocab],
      { 1: Uint32Array.of(2, 0, 0, 0, 10, 1, 0, 0, 99, 2, 0, 0), 2: new Float32Array(3 * hidden), 7: table.bytes }, [1, 3], [2]);
    const want = new Float32Array(3 * hidden);
    [2, 10, 10].forEach((id, t) => want.set(embedReference(table, id), t * hidden)); // 99 is clamped to vocab − 1
    close(f32(rows.get(2)!, 3 * hidden), want, 0);
  });

  it('4-bit kernels with float16 scales (flag bit 4): gemv_q4 main / main_thread, gemm_q4, embed_q4', async () => {
    for (const [n, k, bs, zp] of [[19, 72, 16, true], [23, 96, 32, false], [5, 40, 16, false]] as const) {
      const w = q4f16Weight(n, k, bs, zp);
      const blocks = Math.ceil(k / bs);
      const x = randn(k);
      const bias = randn(n);
      const residual = randn(n);
      const zpBytes = w.zeroPoints ?? new Uint8Array(4);
      for (const [entry, perGroup] of [['main', 4], ['main_thread', 64]] as const) {
        const groups = Math.ceil(n / perGroup);
        const got = await run(shader('gemv_q4'), entry, [k, n, 1 | 2 | 16 | (zp ? 4 : 0), groups, blocks, bs, Math.ceil(blocks / 2), 0],
          { 1: x, 2: w.q, 3: w.scales, 4: zpBytes, 5: bias, 6: residual }, [groups], [6]);
        close(f32(got.get(6)!, n), gemvReference(w, x, bias, residual), 1e-5);
      }
      const rows = 24;
      const tokens = 21;
      const xs = randn(rows * k);
      const res = randn(rows * n);
      const got = await run(shader('gemm_q4'), 'main', [k, n, 1 | 2 | 16 | (zp ? 4 : 0), rows, blocks, bs, Math.ceil(blocks / 2), 0],
        { 1: xs, 2: w.q, 3: w.scales, 4: zpBytes, 5: bias, 6: res, 7: new Float32Array(4) }, [Math.ceil(n / 64), Math.ceil(tokens / 16)], [6]);
      close(f32(got.get(6)!, tokens * n), gemmReference(w, xs, tokens, bias, res), 1e-5);
      if (k % bs === 0) {
        const e = await run(shader('embed'), 'embed_q4', [k, 16 | (zp ? 4 : 0), blocks, bs, Math.ceil(blocks / 2), n],
          { 1: Uint32Array.of(n - 2, 0, 0, 0), 2: new Float32Array(k), 4: w.q, 5: w.scales, 6: zpBytes }, [Math.ceil(k / 64)], [2]);
        close(f32(e.get(2)!, k), embedReference(w, n - 2), 1e-7);
      }
    }
  });
});

// The WGSL decoder's kernels (shaders/llm/*.wgsl), each run alone on WebGPU in Node (Dawn on SwiftShader) against its
// CPU reference in src/engines/llm/wgsl/reference.ts, on odd shapes: f32 GEMV in both layouts, 4-bit GEMV with and
// without zero points and with a partial last block, bias and residual epilogues, the subgroup variants of the GEMVs
// (on a device with the `subgroups` feature: SwiftShader's subgroups are 4 lanes, so each row sums 8 subgroup sums), the prefill GEMMs (f32 both layouts,
// 4-bit, and with SwiGLU fused into their input) over token counts that are not multiples of the 16-token tile, both embedding kernels, RMSNorm over more than
// one workgroup's width, RoPE in both layouts, split-K GQA attention over a partly filled cache (one split, several,
// many tokens at once with causal lengths), SwiGLU, and argmax with ties across chunks (per_chunk + combine); RMSNorm,
// attention and argmax with both reduction libraries (reduce_workgroup.wgsl, and reduce_subgroup.wgsl on a device
// with subgroups). Without an adapter the tests FAIL with an explanation, unless HEARTH_NO_GPU_TESTS=1.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { getDevice, runKernel, skipGpu, type KernelData } from './dawn';
import { mulberry32 } from './random';
import {
  argmaxReference, attentionReference, embedReference, gemmReference, gemvReference, rmsNormReference, ropeReference, swigluReference,
} from '../../src/engines/llm/wgsl/reference';
import { hasSmallSubgroups } from '../../src/engines/llm/wgsl/decoder';
import { ARGMAX_STAGES, samplerScratchWords, stageGroups } from '../../src/engines/llm/wgsl/gpu-sampling';
import { withReductions } from '../../src/engines/llm/wgsl/shaders';
import { f32Bytes, ropeTable, type LinearWeight, type LlamaArchitecture } from '../../src/engines/llm/wgsl/weights';

const shader = (name: string) => readFileSync(new URL(`../../shaders/llm/${name}.wgsl`, import.meta.url), 'utf8');
/** A reducing kernel with the workgroup-memory reductions, or the subgroup ones (run on a device with subgroups). */
const reducing = (name: 'rmsnorm' | 'attention' | 'argmax', subgroups: boolean) =>
  withReductions(shader(name), { reduce_workgroup: shader('reduce_workgroup'), reduce_subgroup: shader('reduce_subgroup') }, subgroups);
const rand = mulberry32(1404);
const randn = (n: number, scale = 1) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * scale);

function q4Weight(n: number, k: number, blockSize: number, withZp: boolean): LinearWeight {
  const blocks = Math.ceil(k / blockSize);
  const q = Uint8Array.from({ length: n * blocks * blockSize / 2 }, () => Math.floor(rand() * 256));
  const scales = f32Bytes(randn(n * blocks, 0.1));
  const zeroPoints = withZp ? Uint8Array.from({ length: n * Math.ceil(blocks / 2) }, () => Math.floor(rand() * 256)) : null;
  return { kind: 'q4', n, k, blockSize, q, scales: new Uint8Array(scales), zeroPoints };
}

type Data = KernelData;

describe.skipIf(skipGpu)('WGSL LLM kernels equal their CPU references', () => {
  let device: GPUDevice;
  /** A second device with the `subgroups` feature, for the subgroup reduction library. */
  let sgDevice: GPUDevice;
  beforeAll(async () => {
    device = await getDevice('wgsl-llm-kernels tests');
    sgDevice = await getDevice('wgsl-llm-kernels tests', ['subgroups']);
  });
  /** Runs `body` with the workgroup reductions on the plain device, then the subgroup ones on sgDevice. */
  const bothReductions = async (body: (subgroups: boolean) => Promise<void>) => {
    await body(false);
    expect(sgDevice.features.has('subgroups')).toBe(true);
    const saved = device;
    device = sgDevice;
    try { await body(true); } finally { device = saved; }
  };

  /** Runs one entry point; bindings by number (0 is the uniform made of `params`); returns the listed bindings. */
  const run = (name: string, entry: string, params: (number | { f: number })[], bindings: Record<number, Data>, groups: [number, number?, number?], read: number[]) =>
    runKernel(device, name.includes('\n') ? name : shader(name), entry, params, bindings, groups, read);

  const f32 = (buf: ArrayBuffer, n: number) => new Float32Array(buf, 0, n);
  const close = (got: Float32Array, want: Float32Array, tol: number) => {
    expect(got.length).toBe(want.length);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i])));
    expect(worst).toBeLessThanOrEqual(tol);
  };

  it('gemv_nk, gemv_nk_thread and gemv_kn (f32, bias, residual, a 2-D dispatch)', async () => {
    const f32Gemv = `${shader('gemv')}\n${shader('gemv_f32')}`;
    for (const [layout, entry] of [['nk', 'gemv_nk'], ['nk', 'gemv_nk_thread'], ['kn', 'gemv_kn']] as const) {
      const [n, k] = [37, 53];
      const w = randn(n * k);
      const weight: LinearWeight = { kind: 'f32', layout, n, k, bytes: new Uint8Array(f32Bytes(w)) };
      const x = randn(k);
      const bias = randn(n);
      const residual = randn(n);
      const perGroup = entry === 'gemv_nk' ? 4 : 64;
      const groups = Math.ceil(n / perGroup);
      // stride 2 workgroups per row of the dispatch: exercises the y dimension.
      const stride = Math.min(groups, 2);
      const got = await run(f32Gemv, entry, [k, n, 3, stride], { 1: x, 2: w, 3: bias, 4: residual }, [stride, Math.ceil(groups / stride)], [4]);
      close(f32(got.get(4)!, n), gemvReference(weight, x, bias, residual), 1e-5);
      const plain = await run(f32Gemv, entry, [k, n, 0, groups], { 1: x, 2: w, 3: bias, 4: residual }, [groups], [4]);
      close(f32(plain.get(4)!, n), gemvReference(weight, x), 1e-5);
    }
  });

  it('subgroup GEMVs (gemv_nk_subgroup, gemv_q4 main_subgroup) on a device with subgroups', async () => {
    const sg = await getDevice('wgsl-llm-kernels tests', ['subgroups']);
    expect(sg.features.has('subgroups')).toBe(true);
    expect(hasSmallSubgroups(sg)).toBe(true);
    const saved = device;
    device = sg;
    try {
      const [n, k] = [37, 299];
      const w = randn(n * k);
      const weight: LinearWeight = { kind: 'f32', layout: 'nk', n, k, bytes: new Uint8Array(f32Bytes(w)) };
      const x = randn(k);
      const bias = randn(n);
      const residual = randn(n);
      const groups = Math.ceil(n / 4);
      const f32Code = `enable subgroups;\n${shader('gemv')}\n${shader('gemv_subgroup')}\n${shader('gemv_f32')}`;
      const got = await run(f32Code, 'gemv_nk_subgroup', [k, n, 3, groups], { 1: x, 2: w, 3: bias, 4: residual }, [groups], [4]);
      close(f32(got.get(4)!, n), gemvReference(weight, x, bias, residual), 1e-5);
      for (const [qn, qk, bs, zp] of [[19, 72, 16, true], [23, 1000, 32, false]] as const) {
        const q = q4Weight(qn, qk, bs, zp) as Extract<LinearWeight, { kind: 'q4' }>;
        const blocks = Math.ceil(qk / bs);
        const qx = randn(qk);
        const qGroups = Math.ceil(qn / 4);
        const q4Code = `enable subgroups;\n${shader('gemv_q4')}\n${shader('gemv_q4_subgroup')}`;
        const gotQ = await run(q4Code, 'main_subgroup', [qk, qn, 1 | 2 | (zp ? 4 : 0), qGroups, blocks, bs, Math.ceil(blocks / 2), 0],
          { 1: qx, 2: q.q, 3: q.scales, 4: q.zeroPoints ?? new Uint8Array(4), 5: bias.subarray(0, qn), 6: residual.subarray(0, qn) }, [qGroups], [6]);
        close(f32(gotQ.get(6)!, qn), gemvReference(q, qx, bias.subarray(0, qn), residual.subarray(0, qn)), 1e-5);
      }
    } finally {
      device = saved;
      sg.destroy();
    }
  });

  it('gemv_q4 main and main_thread (MatMulNBits blocks: zero points or 8, a partial last block, bias + residual)', async () => {
    for (const [n, k, bs, zp] of [[19, 72, 16, true], [23, 96, 32, false], [5, 40, 16, false]] as const) {
      const w = q4Weight(n, k, bs, zp) as Extract<LinearWeight, { kind: 'q4' }>;
      const blocks = Math.ceil(k / bs);
      const x = randn(k);
      const bias = randn(n);
      const residual = randn(n);
      for (const [entry, perGroup] of [['main', 4], ['main_thread', 64]] as const) {
        const groups = Math.ceil(n / perGroup);
        const flags = 1 | 2 | (zp ? 4 : 0);
        const got = await run('gemv_q4', entry, [k, n, flags, groups, blocks, bs, Math.ceil(blocks / 2), 0],
          { 1: x, 2: w.q, 3: w.scales, 4: w.zeroPoints ?? new Uint8Array(4), 5: bias, 6: residual }, [groups], [6]);
        close(f32(got.get(6)!, n), gemvReference(w, x, bias, residual), 1e-5);
      }
    }
  });

  it('embed_f32 and embed_q4 read the token id from the state buffer (one token, and three rows at once)', async () => {
    const [vocab, hidden] = [11, 48];
    const table = randn(vocab * hidden);
    const f32Table: LinearWeight = { kind: 'f32', layout: 'nk', n: vocab, k: hidden, bytes: new Uint8Array(f32Bytes(table)) };
    const state = Uint32Array.of(7, 3, 0, 0);
    const got = await run('embed', 'embed_f32', [hidden, 0, 0, 0, 0, vocab], { 1: state, 2: new Float32Array(hidden), 3: table }, [1], [2]);
    close(f32(got.get(2)!, hidden), embedReference(f32Table, 7), 0);
    const rows = await run('embed', 'embed_f32', [hidden, 0, 0, 0, 0, vocab], { 1: Uint32Array.of(2, 0, 0, 0, 10, 1, 0, 0, 0, 2, 0, 0), 2: new Float32Array(3 * hidden), 3: table }, [1, 3], [2]);
    const want = new Float32Array(3 * hidden);
    [2, 10, 0].forEach((id, t) => want.set(embedReference(f32Table, id), t * hidden));
    close(f32(rows.get(2)!, 3 * hidden), want, 0);
    const q = q4Weight(vocab, hidden, 16, true) as Extract<LinearWeight, { kind: 'q4' }>;
    const blocks = 3;
    const gotQ = await run('embed', 'embed_q4', [hidden, 4, blocks, 16, 2, vocab],
      { 1: state, 2: new Float32Array(hidden), 4: q.q, 5: q.scales, 6: q.zeroPoints! }, [1], [2]);
    close(f32(gotQ.get(2)!, hidden), embedReference(q, 7), 1e-7);
  });

  it('rmsnorm over 300 values (more than one workgroup wide), one row and three rows; workgroup and subgroup reductions', async () => {
    await bothReductions(async (subgroups) => {
      const code = reducing('rmsnorm', subgroups);
      const x = randn(900, 3);
      const w = randn(300);
      const got = await run(code, 'main', [300, { f: 1e-5 }], { 1: x, 2: w, 3: new Float32Array(900) }, [1], [3]);
      close(f32(got.get(3)!, 300), rmsNormReference(x.subarray(0, 300), w, 1e-5), 1e-5);
      const rows = await run(code, 'main', [300, { f: 1e-5 }], { 1: x, 2: w, 3: new Float32Array(900) }, [3], [3]);
      const want = new Float32Array(900);
      for (let r = 0; r < 3; r++) want.set(rmsNormReference(x.subarray(r * 300, (r + 1) * 300), w, 1e-5), r * 300);
      close(f32(rows.get(3)!, 900), want, 1e-5);
    });
  });

  it('gemm_nk, gemm_kn and gemm_q4 (prefill): 21 tokens (and 1, 5 in test:wgsl), odd n and k, bias + residual, SwiGLU fused into x', async () => {
    const rowsAllocated = 24;
    // 21 tokens (a full 16-token tile and a partial one) in npm test; 1 and 5 as well with HEARTH_WGSL_FULL=1.
    for (const tokens of process.env.HEARTH_WGSL_FULL === '1' ? [1, 5, 21] : [21]) {
      for (const layout of ['nk', 'kn'] as const) {
        const [n, k] = [67, 45];
        const w = randn(n * k);
        const weight: LinearWeight = { kind: 'f32', layout, n, k, bytes: new Uint8Array(f32Bytes(w)) };
        const x = randn(rowsAllocated * k);
        const bias = randn(n);
        const residual = randn(rowsAllocated * n);
        const up = randn(rowsAllocated * k);
        const entry = layout === 'nk' ? 'gemm_nk' : 'gemm_kn';
        const got = await run(`${shader('gemm')}\n${shader('gemm_f32')}`, entry, [k, n, 3, rowsAllocated], { 1: x, 2: w, 3: bias, 4: residual, 5: up },
          [Math.ceil(n / 64), Math.ceil(tokens / 16)], [4]);
        close(f32(got.get(4)!, tokens * n), gemmReference(weight, x, tokens, bias, residual), 1e-5);
        const fused = await run(`${shader('gemm')}\n${shader('gemm_f32')}`, entry, [k, n, 8, rowsAllocated], { 1: x, 2: w, 3: bias, 4: residual, 5: up },
          [Math.ceil(n / 64), Math.ceil(tokens / 16)], [4]);
        close(f32(fused.get(4)!, tokens * n), gemmReference(weight, swigluReference(x, up), tokens), 1e-5);
      }
      for (const [n, k, bs, zp] of [[70, 72, 16, true], [23, 96, 32, false], [9, 136, 64, true]] as const) {
        const w = q4Weight(n, k, bs, zp) as Extract<LinearWeight, { kind: 'q4' }>;
        const blocks = Math.ceil(k / bs);
        const x = randn(rowsAllocated * k);
        const bias = randn(n);
        const residual = randn(rowsAllocated * n);
        const up = randn(rowsAllocated * k);
        const got = await run('gemm_q4', 'main', [k, n, 3 | (zp ? 4 : 0), rowsAllocated, blocks, bs, Math.ceil(blocks / 2), 0],
          { 1: x, 2: w.q, 3: w.scales, 4: w.zeroPoints ?? new Uint8Array(4), 5: bias, 6: residual, 7: up }, [Math.ceil(n / 64), Math.ceil(tokens / 16)], [6]);
        close(f32(got.get(6)!, tokens * n), gemmReference(w, x, tokens, bias, residual), 1e-5);
        const fused = await run('gemm_q4', 'main', [k, n, 8 | (zp ? 4 : 0), rowsAllocated, blocks, bs, Math.ceil(blocks / 2), 0],
          { 1: x, 2: w.q, 3: w.scales, 4: w.zeroPoints ?? new Uint8Array(4), 5: bias, 6: residual, 7: up }, [Math.ceil(n / 64), Math.ceil(tokens / 16)], [6]);
        close(f32(fused.get(6)!, tokens * n), gemmReference(w, swigluReference(x, up), tokens), 1e-5);
      }
    }
  });

  it('rope_kv: q rotated in place, k rotated and v copied into the cache slot, both layouts', async () => {
    const [heads, kvHeads, hd, capacity, pos] = [6, 2, 10, 9, 7];
    const arch = { headDim: hd, ropeTheta: 10000, ropeScaling: { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8 } } as LlamaArchitecture;
    const table = ropeTable(arch, capacity);
    for (const layout of ['half', 'interleaved'] as const) {
      const q = randn(heads * hd);
      const k = randn(kvHeads * hd);
      const v = randn(kvHeads * hd);
      const kc = randn(capacity * kvHeads * hd);
      const vc = randn(capacity * kvHeads * hd);
      const threads = heads * hd / 2 + kvHeads * hd / 2 + kvHeads * hd;
      const got = await run('rope_kv', 'main', [heads, kvHeads, hd, layout === 'half' ? 0 : 1, capacity],
        { 1: Uint32Array.of(0, pos, 0, 0), 2: table, 3: q, 4: k, 5: v, 6: kc, 7: vc }, [Math.ceil(threads / 64)], [3, 6, 7]);
      close(f32(got.get(3)!, q.length), ropeReference(q, heads, hd, pos, table, layout), 1e-6);
      const slot = pos * kvHeads * hd;
      const wantK = kc.slice();
      wantK.set(ropeReference(k, kvHeads, hd, pos, table, layout), slot);
      close(f32(got.get(6)!, kc.length), wantK, 1e-6);
      const wantV = vc.slice();
      wantV.set(v, slot);
      close(f32(got.get(7)!, vc.length), wantV, 0);
    }
    // Prefill: three tokens at positions 2, 3, 8 (rows of q, k, v), each to its own slot.
    const positions = [2, 3, 8];
    const q = randn(3 * heads * hd);
    const k = randn(3 * kvHeads * hd);
    const v = randn(3 * kvHeads * hd);
    const kc = new Float32Array(capacity * kvHeads * hd);
    const state = Uint32Array.from(positions.flatMap((p) => [0, p, 0, 0]));
    const threads = heads * hd / 2 + kvHeads * hd / 2 + kvHeads * hd;
    const got = await run('rope_kv', 'main', [heads, kvHeads, hd, 0, capacity],
      { 1: state, 2: table, 3: q, 4: k, 5: v, 6: kc, 7: new Float32Array(kc.length) }, [Math.ceil(threads / 64), 3], [3, 6, 7]);
    const wantQ = new Float32Array(q.length);
    const wantK = new Float32Array(kc.length);
    const wantV = new Float32Array(kc.length);
    positions.forEach((pos, t) => {
      wantQ.set(ropeReference(q.subarray(t * heads * hd, (t + 1) * heads * hd), heads, hd, pos, table, 'half'), t * heads * hd);
      wantK.set(ropeReference(k.subarray(t * kvHeads * hd, (t + 1) * kvHeads * hd), kvHeads, hd, pos, table, 'half'), pos * kvHeads * hd);
      wantV.set(v.subarray(t * kvHeads * hd, (t + 1) * kvHeads * hd), pos * kvHeads * hd);
    });
    close(f32(got.get(3)!, q.length), wantQ, 1e-6);
    close(f32(got.get(6)!, kc.length), wantK, 1e-6);
    close(f32(got.get(7)!, kc.length), wantV, 0);
  });

  it('attention (split-K): grouped heads over cache slots 0..pos, one split or many, one token or several; workgroup and subgroup reductions', async () => {
    await bothReductions(async (subgroups) => {
    const code = reducing('attention', subgroups);
    // [heads, kvHeads, headDim, capacity, chunk, positions of the step's tokens]
    const cases = [[6, 2, 10, 50, 64, [36]], [4, 4, 8, 600, 64, [299]], [2, 1, 64, 5, 64, [0]], [4, 2, 6, 300, 37, [0, 5, 36, 37, 299]]] as const;
    for (const [heads, kvHeads, hd, capacity, chunk, positions] of cases) {
      const splits = Math.ceil(capacity / chunk);
      const tokens = positions.length;
      const q = randn(tokens * heads * hd);
      const kc = randn(capacity * kvHeads * hd);
      const vc = randn(capacity * kvHeads * hd);
      const state = Uint32Array.from(positions.flatMap((p) => [0, p, 0, 0]));
      const params = [heads, kvHeads, hd, chunk, splits, { f: 1 / Math.sqrt(hd) }];
      const partial = await run(code, 'split', params, { 1: state, 2: q, 3: kc, 4: vc, 5: new Float32Array(tokens * heads * splits * (hd + 2)) }, [heads, splits, tokens], [5]);
      const got = await run(code, 'combine', params, { 1: state, 5: new Float32Array(partial.get(5)!), 6: new Float32Array(tokens * heads * hd) }, [heads, tokens], [6]);
      const want = new Float32Array(tokens * heads * hd);
      positions.forEach((pos, t) => want.set(attentionReference(q.subarray(t * heads * hd, (t + 1) * heads * hd), kc, vc, pos + 1, heads, kvHeads, hd), t * heads * hd));
      close(f32(got.get(6)!, tokens * heads * hd), want, 1e-5);
    }
    });
  });

  it('swiglu and argmax (ties → lowest index)', async () => {
    const g = randn(173, 4);
    const u = randn(173);
    const got = await run('swiglu', 'main', [173], { 1: g, 2: u }, [3], [1]);
    close(f32(got.get(1)!, 173), swigluReference(g, u), 1e-6);
    // Two stages (per_chunk over 4096-logit chunks, combine); the maximum three times in different chunks, NaN and
    // -Infinity never winning; a vocabulary of one chunk; both reduction libraries.
    const logits = randn(100_003);
    logits[777] = logits[90_001] = logits[5_000] = 9;
    logits[12] = Number.NaN;
    logits[13] = -Infinity;
    const argmax = async (x: Float32Array) => {
      const scratch = new Uint32Array(samplerScratchWords(x.length));
      const first = await run(argmaxCode, ARGMAX_STAGES[0][0], [x.length], { 1: x, 3: scratch }, [stageGroups(ARGMAX_STAGES[0], 'argmax', x.length)], [3]);
      const out = await run(argmaxCode, ARGMAX_STAGES[1][0], [x.length], { 2: new Uint32Array(4), 3: new Uint32Array(first.get(3)!) }, [1], [2]);
      return new Uint32Array(out.get(2)!)[0];
    };
    let argmaxCode = '';
    await bothReductions(async (subgroups) => {
      argmaxCode = reducing('argmax', subgroups);
      expect(await argmax(logits)).toBe(777);
      const small = randn(37);
      expect(await argmax(small)).toBe(argmaxReference(small));
      expect(await argmax(Float32Array.of(Number.NaN, -Infinity))).toBe(0);
    });
    expect(argmaxReference(logits)).toBe(777);
  });
});

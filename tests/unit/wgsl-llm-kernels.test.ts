// The WGSL decoder's kernels (shaders/llm/*.wgsl), each run alone on WebGPU in Node (Dawn on SwiftShader) against its
// CPU reference in src/engines/llm/wgsl/reference.ts, on odd shapes: f32 GEMV in both layouts, 4-bit GEMV with and
// without zero points and with a partial last block, bias and residual epilogues, both embedding kernels, RMSNorm
// over more than one workgroup's width, RoPE in both layouts, GQA attention over a partly filled cache, SwiGLU, and
// argmax with ties. Without an adapter the tests FAIL with an explanation, unless HEARTH_NO_GPU_TESTS=1.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { getDevice, skipGpu } from './dawn';
import { mulberry32 } from './random';
import {
  argmaxReference, attentionReference, embedReference, gemvReference, rmsNormReference, ropeReference, swigluReference,
} from '../../src/engines/llm/wgsl/reference';
import { f32Bytes, ropeTable, type LinearWeight, type LlamaArchitecture } from '../../src/engines/llm/wgsl/weights';

const shader = (name: string) => readFileSync(new URL(`../../shaders/llm/${name}.wgsl`, import.meta.url), 'utf8');
const rand = mulberry32(1404);
const randn = (n: number, scale = 1) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * scale);

function q4Weight(n: number, k: number, blockSize: number, withZp: boolean): LinearWeight {
  const blocks = Math.ceil(k / blockSize);
  const q = Uint8Array.from({ length: n * blocks * blockSize / 2 }, () => Math.floor(rand() * 256));
  const scales = f32Bytes(randn(n * blocks, 0.1));
  const zeroPoints = withZp ? Uint8Array.from({ length: n * Math.ceil(blocks / 2) }, () => Math.floor(rand() * 256)) : null;
  return { kind: 'q4', n, k, blockSize, q, scales: new Uint8Array(scales), zeroPoints };
}

type Data = Float32Array | Uint32Array | Uint8Array;

describe.skipIf(skipGpu)('WGSL LLM kernels equal their CPU references', () => {
  let device: GPUDevice;
  beforeAll(async () => { device = await getDevice('wgsl-llm-kernels tests'); });

  /** Runs one entry point; bindings by number (0 is the uniform made of `params`); returns the listed bindings. */
  async function run(name: string, entry: string, params: (number | { f: number })[], bindings: Record<number, Data>, groups: [number, number?], read: number[]): Promise<Map<number, ArrayBuffer>> {
    const module = device.createShaderModule({ code: shader(name) });
    const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: entry } });
    const words = new ArrayBuffer(64);
    const view = new DataView(words);
    params.forEach((p, i) => (typeof p === 'number' ? view.setUint32(4 * i, p, true) : view.setFloat32(4 * i, p.f, true)));
    const uniform = device.createBuffer({ size: 64, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(uniform, 0, words);
    const buffers = new Map<number, GPUBuffer>();
    for (const [b, data] of Object.entries(bindings)) {
      const size = Math.max(16, Math.ceil(data.byteLength / 4) * 4);
      const buf = device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
      const padded = new Uint8Array(size);
      padded.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      device.queue.writeBuffer(buf, 0, padded);
      buffers.set(Number(b), buf);
    }
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: uniform } }];
    for (const [b, buf] of buffers) entries.push({ binding: b, resource: { buffer: buf } });
    const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(groups[0], groups[1] ?? 1);
    pass.end();
    const out = new Map<number, GPUBuffer>();
    for (const b of read) {
      const src = buffers.get(b)!;
      const dst = device.createBuffer({ size: src.size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      enc.copyBufferToBuffer(src, 0, dst, 0, src.size);
      out.set(b, dst);
    }
    device.queue.submit([enc.finish()]);
    const result = new Map<number, ArrayBuffer>();
    for (const [b, dst] of out) {
      await dst.mapAsync(GPUMapMode.READ);
      result.set(b, dst.getMappedRange().slice(0));
      dst.destroy();
    }
    for (const b of buffers.values()) b.destroy();
    uniform.destroy();
    return result;
  }

  const f32 = (buf: ArrayBuffer, n: number) => new Float32Array(buf, 0, n);
  const close = (got: Float32Array, want: Float32Array, tol: number) => {
    expect(got.length).toBe(want.length);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i])));
    expect(worst).toBeLessThanOrEqual(tol);
  };

  it('gemv_nk, gemv_nk_thread and gemv_kn (f32, bias, residual, a 2-D dispatch)', async () => {
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
      const got = await run('gemv', entry, [k, n, 3, stride], { 1: x, 2: w, 3: bias, 4: residual }, [stride, Math.ceil(groups / stride)], [4]);
      close(f32(got.get(4)!, n), gemvReference(weight, x, bias, residual), 1e-5);
      const plain = await run('gemv', entry, [k, n, 0, groups], { 1: x, 2: w, 3: bias, 4: residual }, [groups], [4]);
      close(f32(plain.get(4)!, n), gemvReference(weight, x), 1e-5);
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

  it('embed_f32 and embed_q4 read the token id from the state buffer', async () => {
    const [vocab, hidden] = [11, 48];
    const table = randn(vocab * hidden);
    const f32Table: LinearWeight = { kind: 'f32', layout: 'nk', n: vocab, k: hidden, bytes: new Uint8Array(f32Bytes(table)) };
    const state = Uint32Array.of(7, 3, 0, 0);
    const got = await run('embed', 'embed_f32', [hidden, 0, 0, 0, 0, vocab], { 1: state, 2: new Float32Array(hidden), 3: table }, [1], [2]);
    close(f32(got.get(2)!, hidden), embedReference(f32Table, 7), 0);
    const q = q4Weight(vocab, hidden, 16, true) as Extract<LinearWeight, { kind: 'q4' }>;
    const blocks = 3;
    const gotQ = await run('embed', 'embed_q4', [hidden, 4, blocks, 16, 2, vocab],
      { 1: state, 2: new Float32Array(hidden), 4: q.q, 5: q.scales, 6: q.zeroPoints! }, [1], [2]);
    close(f32(gotQ.get(2)!, hidden), embedReference(q, 7), 1e-7);
  });

  it('rmsnorm over 300 values (more than one workgroup wide)', async () => {
    const x = randn(300, 3);
    const w = randn(300);
    const got = await run('rmsnorm', 'main', [300, { f: 1e-5 }], { 1: x, 2: w, 3: new Float32Array(300) }, [1], [3]);
    close(f32(got.get(3)!, 300), rmsNormReference(x, w, 1e-5), 1e-5);
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
  });

  it('attention: grouped heads over cache slots 0..pos, the rest of the cache ignored', async () => {
    for (const [heads, kvHeads, hd, capacity, pos] of [[6, 2, 10, 50, 36], [4, 4, 8, 600, 299], [2, 1, 64, 5, 0]] as const) {
      const q = randn(heads * hd);
      const kc = randn(capacity * kvHeads * hd);
      const vc = randn(capacity * kvHeads * hd);
      const got = await run('attention', 'main', [heads, kvHeads, hd, capacity, { f: 1 / Math.sqrt(hd) }],
        { 1: Uint32Array.of(0, pos, 0, 0), 2: q, 3: kc, 4: vc, 5: new Float32Array(heads * capacity), 6: new Float32Array(heads * hd) }, [heads], [6]);
      close(f32(got.get(6)!, heads * hd), attentionReference(q, kc, vc, pos + 1, heads, kvHeads, hd), 1e-5);
    }
  });

  it('swiglu and argmax (ties → lowest index)', async () => {
    const g = randn(173, 4);
    const u = randn(173);
    const got = await run('swiglu', 'main', [173], { 1: g, 2: u }, [3], [1]);
    close(f32(got.get(1)!, 173), swigluReference(g, u), 1e-6);
    const logits = randn(100_003);
    logits[777] = logits[90_001] = logits[5_000] = 9;
    const am = await run('argmax', 'main', [logits.length], { 1: logits, 2: new Uint32Array(4) }, [1], [2]);
    expect(new Uint32Array(am.get(2)!)[0]).toBe(argmaxReference(logits));
    expect(argmaxReference(logits)).toBe(777);
  });
});

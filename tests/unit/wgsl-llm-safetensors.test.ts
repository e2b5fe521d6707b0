// Hugging Face model.safetensors with 16-bit weights on the WGSL decoder, stored as the file has them (WebGPU in Node:
// Dawn on SwiftShader, no `shader-f16`):
//  - SafeTensor.bytes() is a view of the file's buffer (no copy) holding exactly what values() widens;
//  - the reader maps F16 / BF16 matrices to 'f16' weights of that format whose bytes are views of the file (nothing
//    converted on the CPU; only the 1-D norms are widened), F32 matrices to views too, the tied head to the embedding;
//  - each 16-bit kernel with the bfloat16 widening library (widen_bf16.wgsl appended, shaders.ts withWidening) against
//    its CPU reference (src/engines/llm/wgsl/reference.ts, which widens bfloat16 exactly) on odd shapes: gemv_f16's
//    gemv_nk / gemv_nk_thread (odd k: single elements; even k: word pairs), gemv_kn (odd and even n), the subgroup
//    gemv_nk, gemm_f16's gemm_nk / gemm_kn (21 tokens, SwiGLU fused), embed_f16 with flag bit 5 (bfloat16 table,
//    odd hidden); random bfloat16 bit patterns, |v| in [2^-5, 2^2), both signs; sums within 1e-5 relative;
//  - a tiny Llama (scripts/fixtures_llama_safetensors.py: hidden 272, GQA 4/2 heads of 68, intermediate 135, tied
//    head) saved as BF16 and as F16: the decoder's 16 greedy tokens (prefill GEMMs, then GEMV steps, argmax on the GPU)
//    equal torch's exactly and its first-step top-10 logits are within 1e-3 of torch's. torch computes in float32
//    over the same 16-bit-rounded weights; the smallest top-1/top-2 gap over the reference steps (0.21, recorded in
//    tests/fixtures/llm-safetensors/reference.json and asserted > 0.1 here) is four orders of magnitude above the
//    float32 summation-order differences (~1e-5), so the exact-token comparison cannot flip on rounding.
// Without an adapter the tests FAIL with an explanation, unless HEARTH_NO_GPU_TESTS=1.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { getDevice, runKernel, skipGpu } from './dawn';
import { readJson, ROOT } from './node-api';
import { mulberry32 } from './random';
import { readSafetensors } from '../../src/engines/sdxl/lora/safetensors';
import { llamaArchitecture } from '../../src/engines/llm/wgsl/config';
import { WgslDecoder } from '../../src/engines/llm/wgsl/decoder';
import { hasSmallSubgroups } from '../../src/engines/llm/wgsl/pipelines';
import { embedReference, gemmReference, gemvReference, swigluReference } from '../../src/engines/llm/wgsl/reference';
import { llamaWeightsFromSafetensors } from '../../src/engines/llm/wgsl/safetensors-weights';
import { withWidening } from '../../src/engines/llm/wgsl/shaders';
import { f32FromBf16Bytes, f32FromF16Bytes, type LinearWeight } from '../../src/engines/llm/wgsl/weights';

const shader = (name: string) => readFileSync(new URL(`../../shaders/llm/${name}.wgsl`, import.meta.url), 'utf8');
/** A 16-bit kernel with the bfloat16 widening library appended (as pipelines.ts compiles it for BF16 weights). */
const bf16Kernel = (source: string) => withWidening(source, { widen_f16: shader('widen_f16'), widen_bf16: shader('widen_bf16') }, 'bf16');
const rand = mulberry32(1414);
const randn = (n: number) => Float32Array.from({ length: n }, () => rand() * 2 - 1);
/** `count` random bfloat16s as little-endian bytes: |v| in [2^-5, 2^2), either sign, every mantissa bit random. */
function bf16s(count: number): Uint8Array {
  const bits = Uint16Array.from({ length: count }, () => ((rand() < 0.5 ? 1 : 0) << 15) | ((122 + Math.floor(rand() * 7)) << 7) | Math.floor(rand() * 128));
  return new Uint8Array(bits.buffer);
}
type HalfWeight = Extract<LinearWeight, { kind: 'f16' }>;
const bf16Weight = (layout: 'nk' | 'kn', n: number, k: number): HalfWeight => ({ kind: 'f16', format: 'bf16', layout, n, k, bytes: bf16s(n * k) });

let devicePromise: Promise<GPUDevice> | undefined;
const sharedDevice = () => (devicePromise ??= getDevice('wgsl-llm-safetensors tests'));

describe.skipIf(skipGpu)('WGSL 16-bit kernels with the bfloat16 widening library equal their CPU references', () => {
  let device: GPUDevice;
  beforeAll(async () => { device = await sharedDevice(); });
  const f32 = (buf: ArrayBuffer, n: number) => new Float32Array(buf, 0, n);
  const close = (got: Float32Array, want: Float32Array, tol: number) => {
    expect(got.length).toBe(want.length);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i])));
    expect(worst).toBeLessThanOrEqual(tol);
  };

  it('the reference widens bfloat16 exactly (the top half of a float32)', () => {
    const bytes = Uint8Array.of(0x80, 0x3f, 0x00, 0xc0, 0x49, 0x40); // 1, −2, 3.140625
    expect([...f32FromBf16Bytes(bytes)]).toEqual([1, -2, 3.140625]);
  });

  it('gemv_f16 (bf16): gemv_nk, gemv_nk_thread (odd and even k), gemv_kn (odd and even n); bias, residual, 2-D dispatch', async () => {
    for (const [n, k] of [[37, 299], [37, 300], [38, 53]] as const) {
      for (const [layout, entry] of [['nk', 'gemv_nk'], ['nk', 'gemv_nk_thread'], ['kn', 'gemv_kn']] as const) {
        const w = bf16Weight(layout, n, k);
        const x = randn(k);
        const bias = randn(n);
        const residual = randn(n);
        const perGroup = entry === 'gemv_nk' ? 4 : 64;
        const invocations = entry === 'gemv_kn' && n % 2 === 0 ? n / 2 : n;
        const groups = Math.ceil(invocations / perGroup);
        const stride = Math.min(groups, 2);
        const got = await runKernel(device, bf16Kernel(shader('gemv_f16')), entry, [k, n, 3, stride], { 1: x, 2: w.bytes, 3: bias, 4: residual },
          [stride, Math.ceil(groups / stride)], [4]);
        close(f32(got.get(4)!, n), gemvReference(w, x, bias, residual), 1e-5);
      }
    }
  });

  it('gemv_f16 subgroup variant (bf16) on a device with subgroups', async () => {
    const sg = await getDevice('wgsl-llm-safetensors tests', ['subgroups']);
    expect(hasSmallSubgroups(sg)).toBe(true);
    try {
      for (const [n, k] of [[37, 299], [21, 300]] as const) {
        const w = bf16Weight('nk', n, k);
        const x = randn(k);
        const bias = randn(n);
        const residual = randn(n);
        const groups = Math.ceil(n / 4);
        const code = bf16Kernel(`enable subgroups;\n${shader('gemv_f16')}\n${shader('gemv_f16_subgroup')}`);
        const got = await runKernel(sg, code, 'gemv_nk_subgroup', [k, n, 3, groups], { 1: x, 2: w.bytes, 3: bias, 4: residual }, [groups], [4]);
        close(f32(got.get(4)!, n), gemvReference(w, x, bias, residual), 1e-5);
      }
    } finally {
      sg.destroy();
    }
  });

  it('gemm_f16 (bf16): gemm_nk and gemm_kn (prefill, 21 tokens), odd n and k, bias + residual, SwiGLU fused', async () => {
    const rows = 24;
    const tokens = 21;
    for (const [n, k] of [[67, 45], [66, 46]] as const) {
      for (const layout of ['nk', 'kn'] as const) {
        const w = bf16Weight(layout, n, k);
        const x = randn(rows * k);
        const bias = randn(n);
        const residual = randn(rows * n);
        const up = randn(rows * k);
        const entry = layout === 'nk' ? 'gemm_nk' : 'gemm_kn';
        const groups: [number, number] = [Math.ceil(n / 64), Math.ceil(tokens / 16)];
        const code = bf16Kernel(`${shader('gemm')}\n${shader('gemm_f16')}`);
        const got = await runKernel(device, code, entry, [k, n, 3, rows], { 1: x, 2: w.bytes, 3: bias, 4: residual, 5: up }, groups, [4]);
        close(f32(got.get(4)!, tokens * n), gemmReference(w, x, tokens, bias, residual), 1e-5);
        const fused = await runKernel(device, code, entry, [k, n, 8, rows], { 1: x, 2: w.bytes, 3: bias, 4: residual, 5: up }, groups, [4]);
        close(f32(fused.get(4)!, tokens * n), gemmReference(w, swigluReference(x, up), tokens), 1e-5);
      }
    }
  });

  it('embed_f16 with flag bit 5 reads a bfloat16 table exactly (odd hidden: rows start mid-word; three rows)', async () => {
    const [vocab, hidden] = [11, 47];
    const table = bf16Weight('nk', vocab, hidden);
    const got = await runKernel(device, shader('embed'), 'embed_f16', [hidden, 32, 0, 0, 0, vocab],
      { 1: Uint32Array.of(2, 0, 0, 0, 9, 1, 0, 0, 99, 2, 0, 0), 2: new Float32Array(3 * hidden), 7: table.bytes }, [1, 3], [2]);
    const want = new Float32Array(3 * hidden);
    [2, 9, 10].forEach((id, t) => want.set(embedReference(table, id), t * hidden)); // 99 is clamped to vocab − 1
    close(f32(got.get(2)!, 3 * hidden), want, 0);
  });
});

interface DtypeRef { model_file: string; new_tokens: number[]; min_margin: number; top10_first_step: [number, number][] }
interface SafetensorsRef { prompt_ids: number[]; new_tokens_count: number; bf16: DtypeRef; f16: DtypeRef }
const FIXTURE = 'tests/fixtures/llm-safetensors';
const ref = readJson<SafetensorsRef>(`${FIXTURE}/reference.json`);
const arch = () => llamaArchitecture(readJson<object>(`${FIXTURE}/config.json`));
const file = (r: DtypeRef) => new Uint8Array(readFileSync(`${ROOT}${FIXTURE}/${r.model_file}`));

describe('model.safetensors 16-bit matrices are read as views of the file', () => {
  it('SafeTensor.bytes() is a view of the file\'s buffer holding exactly what values() widens', () => {
    for (const [key, widen] of [['bf16', f32FromBf16Bytes], ['f16', f32FromF16Bytes]] as const) {
      const bytes = file(ref[key]);
      const t = readSafetensors(bytes, 'model', 'model').tensors.get('model.layers.1.mlp.down_proj.weight')!;
      expect(t.dtype).toBe(key.toUpperCase());
      const raw = t.bytes();
      expect(raw.buffer).toBe(bytes.buffer);
      expect(raw.byteLength).toBe(2 * 272 * 135);
      expect(widen(raw)).toEqual(t.values());
    }
  });

  for (const key of ['bf16', 'f16'] as const) {
    it(`${key.toUpperCase()}: every matrix is an '${key}' weight over the file's bytes; the tied head is the embedding`, () => {
      const bytes = file(ref[key]);
      const w = llamaWeightsFromSafetensors([bytes], arch(), true);
      const matrices = [w.embed, ...w.layers.flatMap((l) => [l.q, l.k, l.v, l.o, l.gate, l.up, l.down])];
      for (const m of matrices) {
        expect(m).toMatchObject({ kind: 'f16', format: key, layout: 'nk' });
        expect((m as HalfWeight).bytes.buffer).toBe(bytes.buffer);
        expect((m as HalfWeight).bytes.byteLength).toBe(2 * m.n * m.k);
      }
      expect(w.layers[0].down).toMatchObject({ n: 272, k: 135 });
      expect(w.lmHead).toBe(w.embed);
      expect(w.layers[1].mlpNorm).toBeInstanceOf(Float32Array);
    });
  }
});

describe.skipIf(skipGpu)('a tiny Llama as BF16 and F16 model.safetensors on the WGSL decoder equals torch', () => {
  for (const key of ['bf16', 'f16'] as const) {
    it(`${key.toUpperCase()}: ${ref.new_tokens_count} greedy tokens equal torch's exactly, first-step top-10 logits within 1e-3`, async () => {
      const expected = ref[key];
      expect(expected.min_margin).toBeGreaterThan(0.1);
      const decoder = await WgslDecoder.create(llamaWeightsFromSafetensors([file(expected)], arch(), true), { capacity: 64 }, await sharedDevice());
      try {
        const ids = ref.prompt_ids;
        const first = await decoder.step({ ids: [ids], mask: [ids.map(() => 1)], positions: [ids.map((_, i) => i)] });
        let best = 0;
        for (let i = 1; i < first.logits.length; i++) if (first.logits[i] > first.logits[best]) best = i;
        for (const [id, value] of expected.top10_first_step) expect(Math.abs(first.logits[id] - value), `logit ${id}`).toBeLessThan(1e-3);
        const tokens = [best];
        const mask = ids.map(() => 1);
        while (tokens.length < ref.new_tokens_count) {
          mask.push(1);
          const [next] = await decoder.stepGreedy({ ids: [[tokens.at(-1)!]], mask: [mask], positions: [[ids.length + tokens.length - 1]] });
          tokens.push(next);
        }
        expect(tokens).toEqual(expected.new_tokens);
      } finally {
        await decoder.release();
      }
    }, 120_000);
  }
});

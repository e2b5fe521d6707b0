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
import { greedyOnGpu } from './wgsl-greedy';
import { close, f32, halfKernelCases, shader } from './half-kernel-cases';
import { readJson, ROOT } from './node-api';
import { mulberry32 } from './random';
import { readSafetensors } from '../../src/engines/image/lora/safetensors';
import { llamaArchitecture } from '../../src/engines/llm/wgsl/config';
import { WgslDecoder } from '../../src/engines/llm/wgsl/decoder';
import { embedReference } from '../../src/engines/llm/wgsl/reference';
import { llamaWeightsFromSafetensors } from '../../src/engines/llm/wgsl/safetensors-weights';
import { f32FromBf16Bytes, f32FromF16Bytes, type LinearWeight } from '../../src/engines/llm/wgsl/weights';

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

  it('the reference widens bfloat16 exactly (the top half of a float32)', () => {
    const bytes = Uint8Array.of(0x80, 0x3f, 0x00, 0xc0, 0x49, 0x40); // 1, −2, 3.140625
    expect([...f32FromBf16Bytes(bytes)]).toEqual([1, -2, 3.140625]);
  });

  halfKernelCases({ format: 'bf16', weight: bf16Weight, randn, device: () => device, label: 'wgsl-llm-safetensors tests', gemvShapes: [[37, 299], [37, 300], [38, 53]] });

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
        const { tokens, logits } = await greedyOnGpu(decoder, ref.prompt_ids, ref.new_tokens_count);
        for (const [id, value] of expected.top10_first_step) expect(Math.abs(logits[id] - value), `logit ${id}`).toBeLessThan(1e-3);
        expect(tokens).toEqual(expected.new_tokens);
      } finally {
        await decoder.release();
      }
    }, 120_000);
  }
});

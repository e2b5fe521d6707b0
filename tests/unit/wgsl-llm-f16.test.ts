// Float16 weight storage in the WGSL decoder, on WebGPU in Node (Dawn on SwiftShader, which has no `shader-f16`: the
// kernels widen halves with the core builtin unpack2x16float and compute in float32):
//  - stories260K in onnx-community's fp16 and q4f16 layouts (scripts/fixtures_stories_f16.py): the reader keeps every
//    matrix and MatMulNBits scale as a view of the file's float16 bytes (no CPU conversion), and the decoder's 30
//    greedy tokens (prompt through the prefill GEMMs, then GEMV decode steps, argmax on the GPU) equal torch's exactly,
//    and its first-step top-10 logits are within 1e-3 of torch's: torch computing in float32 over the same
//    float16-rounded weights (tests/fixtures/stories260k/reference-f16.json; its smallest top-1/top-2 gap, 0.13, is
//    far above float32 rounding, so the exact-token comparison cannot flip on summation order);
//  - through the API on an adapter without shader-f16: a q4f16 variant (requiresF16, no wasm) is served by
//    wgsl/webgpu (`x-hearth-backend`, GET /models/{id}) with torch's greedy text;
//  - the built-in hearth/tiny-llama-q4f16, whose fp16 embedding and tied head sit behind Cast(to=float): read through
//    the Cast, torch's greedy tokens on all four reference prompts, served as wgsl/webgpu through the API; which Casts
//    the reader follows (widening, fp16 → fp16) and which it refuses (narrowing, other types, activations);
//  - each f16 kernel alone against its CPU reference (src/engines/llm/wgsl/reference.ts) on odd shapes: gemv_f16's
//    gemv_nk / gemv_nk_thread / gemv_kn (odd k: single-element path; even k: word-pair path; odd and even n for
//    gemv_kn's pair path), its subgroup variant, gemm_f16's gemm_nk / gemm_kn (21 tokens, SwiGLU fused), embed_f16,
//    and the 4-bit kernels with float16 MatMulNBits scales (flag bit 4: an odd number of scales, zero points or 8);
//  - random half bit patterns (every exponent from 2^-5 to 2^1, both signs), so the reference and the kernel widen
//    exactly the same values; sums compared within 1e-5 relative (float32 on the GPU vs float64 on the CPU).
// Without an adapter the tests FAIL with an explanation, unless HEARTH_NO_GPU_TESTS=1.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getDevice, runKernel, skipGpu } from './dawn';
import { greedyOnGpu } from './wgsl-greedy';
import { close, f32, halfKernelCases, shader } from './half-kernel-cases';
import { get, nodeApi, nodeLlm, post, readJson, ROOT } from './node-api';
import { mulberry32 } from './random';
import { LlmTokenizer } from '../../src/engines/llm/tokenizer';
import { llamaArchitecture } from '../../src/engines/llm/wgsl/config';
import { WgslDecoder } from '../../src/engines/llm/wgsl/decoder';
import { initializerBehindCasts, llamaWeightsFromOnnx } from '../../src/engines/llm/wgsl/onnx-weights';
import type { OnnxGraph, OnnxNode } from '../../src/engines/llm/wgsl/onnx-graph';
import { embedReference, gemmReference, gemvReference } from '../../src/engines/llm/wgsl/reference';
import type { LinearWeight } from '../../src/engines/llm/wgsl/weights';
import { CATALOG } from '../../src/models/catalog';
import { ModelRegistry } from '../../src/models/registry';
import type { CatalogEntry } from '../../src/models/types';

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

/** One device (no subgroups) for the kernels, the decoders and the API: SwiftShader compiles pipelines once. */
let devicePromise: Promise<GPUDevice> | undefined;
const sharedDevice = () => (devicePromise ??= getDevice('wgsl-llm-f16 tests'));

describe.skipIf(skipGpu)('WGSL float16-storage kernels equal their CPU references', () => {
  let device: GPUDevice;
  beforeAll(async () => { device = await sharedDevice(); });

  const run = (code: string, entry: string, params: (number | { f: number })[], bindings: Parameters<typeof runKernel>[4], groups: [number, number?, number?], read: number[]) =>
    runKernel(device, code, entry, params, bindings, groups, read);

  halfKernelCases({ format: 'f16', weight: f16Weight, randn, device: () => device, label: 'wgsl-llm-f16 tests', gemvShapes: [[37, 53], [37, 54], [38, 53]] });

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

interface VariantRef { model_file: string; new_tokens: number[]; text: string; min_margin: number; top10_first_step: [number, number][] }
interface F16Ref { model_dir: string; prompt: string; prompt_ids: number[]; max_new_tokens: number; fp16: VariantRef; q4f16: VariantRef }
const ref = readJson<F16Ref>('tests/fixtures/stories260k/reference-f16.json');
const config = readJson<object>(`${ref.model_dir}/config.json`);
const modelFile = (v: VariantRef) => new Uint8Array(readFileSync(`${ROOT}${ref.model_dir}/${v.model_file}`));


describe.skipIf(skipGpu)('stories260K fp16 and q4f16 (onnx-community layouts) on the WGSL decoder equal torch', () => {
  it('the reader keeps float16 matrices and scales as views of the file (nothing converted on the CPU)', () => {
    const arch = llamaArchitecture(config);
    const fp16File = modelFile(ref.fp16);
    const fp16 = llamaWeightsFromOnnx(fp16File, [], arch);
    expect(fp16.embed).toMatchObject({ kind: 'f16', layout: 'nk', n: 512, k: 64 });
    expect(fp16.lmHead).toBe(fp16.embed); // tied through a Transpose of the fp16 embedding: one upload
    const q = fp16.layers[0].q as Extract<LinearWeight, { kind: 'f16' }>;
    expect(q).toMatchObject({ kind: 'f16', layout: 'kn', n: 64, k: 64 });
    expect(q.bytes.buffer).toBe(fp16File.buffer);
    expect(fp16.layers[0].down).toMatchObject({ kind: 'f16', layout: 'kn', n: 64, k: 172 });
    const q4File = modelFile(ref.q4f16);
    const q4 = llamaWeightsFromOnnx(q4File, [], arch);
    const down = q4.layers[4].down as Extract<LinearWeight, { kind: 'q4' }>;
    expect(down).toMatchObject({ kind: 'q4', scaleType: 'f16', n: 64, k: 172, blockSize: 32 });
    expect(down.scales.byteLength).toBe(2 * 64 * 6);
    expect(down.scales.buffer).toBe(q4File.buffer);
    expect(q4.embed.kind).toBe('f16');
  });

  for (const variant of ['fp16', 'q4f16'] as const) {
    it(`${variant}: 30 greedy tokens equal torch's exactly, first-step top-10 logits within 1e-3`, async () => {
      const expected = ref[variant];
      expect(expected.min_margin).toBeGreaterThan(0.1);
      const weights = llamaWeightsFromOnnx(modelFile(expected), [], llamaArchitecture(config));
      const decoder = await WgslDecoder.create(weights, { capacity: 64 }, await sharedDevice());
      try {
        const { tokens, logits } = await greedyOnGpu(decoder, ref.prompt_ids, ref.max_new_tokens);
        expect(tokens).toEqual(expected.new_tokens);
        for (const [id, value] of expected.top10_first_step) expect(Math.abs(logits[id] - value), `logit ${id}`).toBeLessThan(1e-3);
      } finally {
        await decoder.release();
      }
    }, 120_000);
  }
});

describe.skipIf(skipGpu)('a q4f16 variant through the API on an adapter without shader-f16', () => {
  // A test-local catalog entry (the built-in list stays as it is): stories260K's q4f16 file as an onnx-community
  // q4f16 variant is declared, needing shader-f16 for onnxruntime-web and no wasm.
  const stories = CATALOG.find((e) => e.id === 'hearth/stories260k')!;
  const entry: CatalogEntry = {
    ...stories, id: 'hearth/stories260k-q4f16-test', aliases: [],
    files: stories.files.map((f) => (f.role === 'model' ? { role: 'model', url: `models/hearth-stories260k/${ref.q4f16.model_file}`, variant: 'q4f16' } : f)),
    llm: { ...stories.llm!, variants: [{ backend: 'onnx', name: 'q4f16', requiresF16: true, wasm: false }] },
  };
  let api: ReturnType<typeof nodeApi>;
  beforeAll(() => {
    const llm = nodeLlm({ devices: ['webgpu', 'wasm'], hasShaderF16: async () => false, wgsl: { device: sharedDevice } });
    api = nodeApi({ registry: new ModelRegistry([...CATALOG, entry]) }, llm);
  });
  afterAll(async () => { await (await api.engines.engine('llm')).unload(entry.id); });

  it('is served by wgsl/webgpu with torch\'s greedy text; GET /models/{id} reports the wgsl variant', async () => {
    const res = await api.handle(post('/completions', { model: entry.id, prompt: ref.prompt, max_tokens: ref.max_new_tokens, temperature: 0 }));
    expect(res.status, await res.clone().text()).toBe(200);
    expect(res.headers.get('x-hearth-backend')).toBe('wgsl/webgpu');
    const body = await res.json() as { choices: { text: string }[] };
    expect(ref.prompt + body.choices[0].text).toBe(ref.q4f16.text);
    const model = await (await api.handle(get(`/models/${entry.id}`))).json() as { loaded_variant: string; device: string; skipped_backends: unknown[] };
    expect(model.loaded_variant).toBe('wgsl:q4f16');
    expect(model.device).toBe('webgpu');
    expect(model.skipped_backends ?? []).toEqual([]); // omitted when no candidate before it failed
  }, 120_000);
});

// The built-in hearth/tiny-llama-q4f16 (scripts/fixtures_llama_f16.py): its float16 embedding reaches the Gather and the
// tied lm_head's Transpose only through `Cast(model.embed_tokens.weight_fp16, to=float)`, the shape onnx-community q4f16
// exports give their embedding. The reader follows the Cast to the float16 bytes; greedy tokens equal torch's
// (tests/fixtures/llm/reference-q4f16.json: fp32 arithmetic over the same weights, every greedy gap ≥ 2 fp16 ulps).
interface TinyQ4f16Ref { model_file: string; greedy: { prompt: string; new_tokens: number[] }[] }
const tinyRef = readJson<TinyQ4f16Ref>('tests/fixtures/llm/reference-q4f16.json');
const tinyPrompts = readJson<{ prompts: { name: string; input_ids: number[] }[] }>('tests/fixtures/llm/reference.json').prompts;
const tinyDir = 'public/models/hearth-tiny-llama';
const tinyIds = (name: string) => tinyPrompts.find((p) => p.name === name)!.input_ids;

describe.skipIf(skipGpu)('hearth/tiny-llama-q4f16 (embedding behind a Cast) on the WGSL decoder equals torch', () => {
  const file = () => new Uint8Array(readFileSync(`${ROOT}${tinyDir}/${tinyRef.model_file}`));
  const arch = () => llamaArchitecture(readJson<object>(`${tinyDir}/config.json`));

  it('the reader follows Cast(fp16 → float) to the embedding\'s float16 bytes; the tied head is the same weight', () => {
    const bytes = file();
    const weights = llamaWeightsFromOnnx(bytes, [], arch());
    expect(weights.embed).toMatchObject({ kind: 'f16', layout: 'nk', n: 128256, k: 16 });
    expect((weights.embed as F16Weight).bytes.buffer).toBe(bytes.buffer);
    expect(weights.lmHead).toBe(weights.embed);
    expect(weights.layers[1].down).toMatchObject({ kind: 'q4', scaleType: 'f32', n: 16, k: 32 });
  });

  it('greedy tokens on every reference prompt equal torch\'s', async () => {
    const decoder = await WgslDecoder.create(llamaWeightsFromOnnx(file(), [], arch()), { capacity: 64 }, await sharedDevice());
    try {
      for (const g of tinyRef.greedy) {
        const { tokens } = await greedyOnGpu(decoder, tinyIds(g.prompt), g.new_tokens.length);
        expect(tokens, g.prompt).toEqual(g.new_tokens);
      }
    } finally {
      await decoder.release();
    }
  }, 120_000);

  it('through the API on an adapter without shader-f16: served by wgsl/webgpu, nothing skipped', async () => {
    const llm = nodeLlm({ devices: ['webgpu', 'wasm'], hasShaderF16: async () => false, wgsl: { device: sharedDevice } });
    const api = nodeApi({}, llm);
    try {
      const g = tinyRef.greedy.find((x) => x.prompt === 'chat')!;
      const res = await api.handle(post('/completions', { model: 'hearth/tiny-llama-q4f16', prompt: tinyIds(g.prompt), max_tokens: g.new_tokens.length, temperature: 0 }));
      expect(res.status, await res.clone().text()).toBe(200);
      expect(res.headers.get('x-hearth-backend')).toBe('wgsl/webgpu');
      const tokenizer = new LlmTokenizer(readJson(`${tinyDir}/tokenizer.json`), readJson(`${tinyDir}/tokenizer_config.json`));
      const body = await res.json() as { choices: { text: string }[] };
      expect(body.choices[0].text).toBe(tokenizer.decode(g.new_tokens));
      const model = await (await api.handle(get('/models/hearth/tiny-llama-q4f16'))).json() as { loaded_variant: string; skipped_backends?: unknown[] };
      expect(model.loaded_variant).toBe('wgsl:q4f16');
      expect(model.skipped_backends ?? []).toEqual([]);
    } finally {
      await (await api.engines.engine('llm')).unload('hearth/tiny-llama-q4f16');
    }
  }, 120_000);
});

describe('initializerBehindCasts: only Casts that keep the stored values are followed', () => {
  const tensor = (name: string, dataType: number) => ({ name, dims: [2, 2], dataType, bytes: new Uint8Array(dataType === 10 ? 8 : 16) });
  const cast = (input: string, output: string, to: number): OnnxNode => ({ op: 'Cast', name: output, inputs: [input], outputs: [output], ints: { to } });
  const half = tensor('w_fp16', 10);
  const single = tensor('w_fp32', 1);
  const nodes = [cast('w_fp16', 'w', 1), cast('w', 'w_again', 1), cast('w_fp16', 'w_half', 10), cast('w_fp32', 'w_narrow', 10), cast('w_fp16', 'w_int', 7), cast('activations', 'x', 1)];
  const graph: OnnxGraph = { nodes, initializers: new Map([[half.name, half], [single.name, single]]) };
  const producer = new Map(nodes.map((n) => [n.outputs[0], n]));

  it('follows widening Casts (chained too) and a float16 → float16 Cast to the initializer under them', () => {
    expect(initializerBehindCasts('w', graph, producer)).toBe(half);
    expect(initializerBehindCasts('w_again', graph, producer)).toBe(half);
    expect(initializerBehindCasts('w_half', graph, producer)).toBe(half);
    expect(initializerBehindCasts('w_fp32', graph, producer)).toBe(single);
  });

  it('refuses a narrowing Cast (float → float16), a Cast to another type, and a Cast of an activation', () => {
    expect(initializerBehindCasts('w_narrow', graph, producer)).toBeUndefined();
    expect(initializerBehindCasts('w_int', graph, producer)).toBeUndefined();
    expect(initializerBehindCasts('x', graph, producer)).toBeUndefined();
  });
});

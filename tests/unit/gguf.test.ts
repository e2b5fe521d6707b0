// GGUF on Hearth's WGSL decoder, in Node (Dawn on SwiftShader), against independent references:
//  - the CPU dequantisers (src/engines/llm/wgsl/gguf-reference.ts) equal the `gguf` Python package's on random blocks
//    of F16, Q8_0, Q4_0, Q4_K and Q6_K (tests/fixtures/gguf/blocks.json, written by scripts/fixtures_gguf.py);
//  - each GGUF kernel (shaders/llm/gemv_gguf.wgsl: gemv, gemv_thread, embed; gemm_gguf.wgsl: the prefill GEMM)
//    equals that reference on odd shapes, with bias and residual epilogues, a 2-D dispatch, SwiGLU fused into the
//    GEMM's input and the embedding of several tokens at once;
//  - the fixture GGUFs (tiny Llama in F32/F16/Q8_0/Q4_0/Q4_K, tiny Qwen2 mixed and Q4_K, stories260K F32/Q8_0) run
//    through the decoder (their prompts through the prefill GEMMs) give torch's greedy tokens (torch on the
//    dequantised weights; stories260K: its published text) and first-step top-10 logits within 1e-3;
//  - a 72-token prompt through prefill (two passes) gives the token-by-token path's logits on the mixed-type Qwen2;
//  - a truncated file, a file that is not GGUF and a tensor in an unsupported block type are 400s naming the problem.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { getDevice, runKernel, skipGpu } from './dawn';
import { expectPrefillEqualsStepwise, greedyOnGpu } from './wgsl-greedy';
import { mulberry32 } from './random';
import { readGguf } from '../../src/engines/llm/wgsl/gguf-file';
import { ggufGemmParams, ggufGemmSource, ggufModuleSource, ggufParams } from '../../src/engines/llm/wgsl/gguf-kernels';
import { dequantizeGguf } from '../../src/engines/llm/wgsl/gguf-reference';
import { llamaWeightsFromGguf } from '../../src/engines/llm/wgsl/gguf-weights';
import { WgslDecoder } from '../../src/engines/llm/wgsl/decoder';
import { embedReference, gemmReference, gemvReference, swigluReference } from '../../src/engines/llm/wgsl/reference';
import type { GgufBlockType, LinearWeight } from '../../src/engines/llm/wgsl/weights';
import { HearthError } from '../../src/api/errors';
import { ModelRegistry } from '../../src/models/registry';
import type { ArtifactStore } from '../../src/models/store';
import type { ModelFile } from '../../src/models/types';
import { localModels } from '../../src/runtime/local-models';
import { get, nodeApi, nodeLlm, post } from './node-api';

const DIR = new URL('../fixtures/gguf/', import.meta.url);
const fixture = (name: string) => new Uint8Array(readFileSync(new URL(name, DIR)));
const shader = readFileSync(new URL('../../shaders/llm/gemv_gguf.wgsl', import.meta.url), 'utf8');
const gemmShader = ggufGemmSource(shader, readFileSync(new URL('../../shaders/llm/gemm_gguf.wgsl', import.meta.url), 'utf8'));
interface Block { type: GgufBlockType; n: number; k: number; hex: string; values: number[] }
const blocks = JSON.parse(readFileSync(new URL('blocks.json', DIR), 'utf8')) as Block[];
const hexBytes = (hex: string) => Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16));
interface Greedy { prompt: string; input_ids: number[]; new_tokens: number[]; top10: [number, number][] }
const ref = JSON.parse(readFileSync(new URL('reference.json', DIR), 'utf8')) as { models: Record<string, { file: string; greedy: Greedy[] }> };
const published = (JSON.parse(readFileSync(new URL('../stories260k/reference.json', DIR), 'utf8')) as { greedy: { new_tokens: number[] } }).greedy.new_tokens;

describe('GGUF block dequantisation (CPU reference) equals the gguf Python package', () => {
  for (const b of blocks) {
    it(b.type, () => {
      const got = dequantizeGguf(b.type, hexBytes(b.hex), b.n, b.k);
      expect(Array.from(got)).toEqual(b.values.map((v) => Math.fround(v)));
    });
  }
});

describe('GGUF files: bad input is a 400 naming the problem', () => {
  const code = async (p: Promise<unknown>) => {
    const e = await p.then(() => null, (x: unknown) => x);
    expect(e).toBeInstanceOf(HearthError);
    return e as HearthError;
  };
  it('truncated: names the tensor that runs past the end', async () => {
    const bytes = fixture('tiny-llama-q8_0.gguf');
    const e = await code(readGguf(bytes.subarray(0, bytes.length - 1000)));
    expect(e.status).toBe(400);
    expect(e.code).toBe('invalid_gguf');
    expect(e.message).toMatch(/output_norm\.weight|ffn_down\.weight.*truncated|truncated/);
    const header = await code(readGguf(bytes.subarray(0, 200)));
    expect(header.code).toBe('invalid_gguf');
    expect(header.message).toMatch(/cut short|outside|bounds|Offset/i);
  });
  it('not GGUF', async () => {
    const e = await code(readGguf(new TextEncoder().encode('{"this is": "a JSON file, not a GGUF one"}')));
    expect(e.status).toBe(400);
    expect(e.message).toMatch(/GGUF magic/);
  });
  it('an unsupported block type lists the supported ones', async () => {
    const bytes = fixture('tiny-llama-q8_0.gguf').slice();
    const name = new TextEncoder().encode('blk.0.attn_q.weight');
    let at = -1;
    for (let i = 0; i < 65536 && at < 0; i++) if (name.every((c, j) => bytes[i + j] === c)) at = i;
    const typeAt = at + name.length + 4 + 2 * 8;
    expect(bytes[typeAt]).toBe(8); // Q8_0
    bytes[typeAt] = 13; // Q5_K
    const file = await readGguf(bytes);
    const e = await code(Promise.resolve().then(() => llamaWeightsFromGguf(file)));
    expect(e.status).toBe(400);
    expect(e.code).toBe('unsupported_gguf_type');
    expect(e.message).toContain('Q5_K');
    expect(e.message).toContain('supported: F32, F16, Q4_0, Q8_0, Q4_K, Q6_K');
  });
});

describe.skipIf(skipGpu)('GGUF kernels equal the CPU reference', () => {
  let device: GPUDevice;
  beforeAll(async () => { device = await getDevice('gguf kernels'); });
  const rand = mulberry32(1414);
  const randn = (n: number) => Float32Array.from({ length: n }, () => rand() * 2 - 1);

  async function run(type: GgufBlockType, entry: 'gemv' | 'gemv_thread' | 'embed', params: number[], bindings: Record<number, Uint8Array | Float32Array | Uint32Array>, groups: [number, number], read: number): Promise<Float32Array> {
    const out = await runKernel(device, ggufModuleSource(shader, type), entry, params, bindings, groups, [read]);
    return new Float32Array(out.get(read)!);
  }

  const close = (got: Float32Array, want: Float32Array, tol = 1e-4) => {
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i])));
    expect(worst).toBeLessThanOrEqual(tol);
  };

  for (const b of blocks) {
    it(`${b.type}: gemv, gemv_thread (bias + residual, 2-D dispatch) and embed, [${b.n}·13, ${b.k}]`, async () => {
      // 13 copies of the reference rows with one byte changed per copy: an odd row count (39) over several workgroups.
      const one = hexBytes(b.hex);
      const n = b.n * 13;
      const bytes = new Uint8Array(one.length * 13);
      for (let c = 0; c < 13; c++) {
        bytes.set(one, c * one.length);
        bytes[c * one.length + 7 + c] ^= 0x11;
      }
      const w: LinearWeight = { kind: 'gguf', type: b.type, n, k: b.k, bytes };
      const x = randn(b.k);
      const bias = randn(n);
      const residual = randn(n);
      const want = gemvReference(w, x, bias, residual);
      for (const [entry, perGroup] of [['gemv', 4], ['gemv_thread', 64]] as const) {
        const groups = Math.ceil(n / perGroup);
        const stride = Math.min(groups, 2);
        const got = await run(b.type, entry, ggufParams(b.type, b.k, n, 3, stride), { 1: x, 2: bytes, 3: bias, 4: residual }, [stride, Math.ceil(groups / stride)], 4);
        close(got.subarray(0, n), want);
      }
      const token = n - 2;
      const got = await run(b.type, 'embed', ggufParams(b.type, b.k, n, 0, 0), { 2: bytes, 5: new Uint32Array([token, 0, 0, 0]), 6: new Float32Array(b.k) }, [Math.ceil(b.k / 64), 1], 6);
      close(got.subarray(0, b.k), embedReference(w, token), 1e-6);
    });
  }

  for (const b of blocks) {
    it(`${b.type}: gemm (prefill), 21 tokens of 24 rows, [${b.n}·23, ${b.k}], bias + residual, SwiGLU fused; embed of 3 tokens`, async () => {
      // 23 copies of the reference rows, one byte changed per copy: 69 rows, two 64-output tiles; 21 tokens: a full
      // 16-token tile and a partial one.
      const one = hexBytes(b.hex);
      const copies = 23;
      const n = b.n * copies;
      const bytes = new Uint8Array(one.length * copies);
      for (let c = 0; c < copies; c++) {
        bytes.set(one, c * one.length);
        bytes[c * one.length + 5 + c] ^= 0x21;
      }
      const w: LinearWeight = { kind: 'gguf', type: b.type, n, k: b.k, bytes };
      const [tokens, rows] = [21, 24];
      const x = randn(rows * b.k);
      const up = randn(rows * b.k);
      const bias = randn(n);
      const residual = randn(rows * n);
      const code = ggufModuleSource(gemmShader, b.type);
      const groups: [number, number] = [Math.ceil(n / 64), Math.ceil(tokens / 16)];
      const got = await runKernel(device, code, 'gemm', ggufGemmParams(b.type, b.k, n, 3, rows), { 1: x, 2: bytes, 3: bias, 4: residual, 7: up }, groups, [4]);
      close(new Float32Array(got.get(4)!).subarray(0, tokens * n), gemmReference(w, x, tokens, bias, residual));
      const fused = await runKernel(device, code, 'gemm', ggufGemmParams(b.type, b.k, n, 8, rows), { 1: x, 2: bytes, 3: bias, 4: residual, 7: up }, groups, [4]);
      close(new Float32Array(fused.get(4)!).subarray(0, tokens * n), gemmReference(w, swigluReference(x, up), tokens));
      // Prefill's embedding: token t's id at state[4t], its row of x at t·k.
      const ids = [n - 1, 0, 37];
      const state = new Uint32Array(12);
      ids.forEach((id, t) => { state[4 * t] = id; });
      const hidden = await run(b.type, 'embed', ggufParams(b.type, b.k, n, 0, 0), { 2: bytes, 5: state, 6: new Float32Array(3 * b.k) }, [Math.ceil(b.k / 64), 3], 6);
      ids.forEach((id, t) => close(hidden.subarray(t * b.k, (t + 1) * b.k), embedReference(w, id), 1e-6));
    });
  }
});

describe.skipIf(skipGpu)('GGUF fixtures through the WGSL decoder equal torch', () => {
  let device: GPUDevice;
  beforeAll(async () => { device = await getDevice('gguf decoder'); });

  for (const [name, model] of Object.entries(ref.models)) {
    it(`${name}: greedy tokens and first-step top-10 logits`, async () => {
      const bytes = fixture(model.file);
      const weights = llamaWeightsFromGguf(await readGguf(bytes));
      const decoder = await WgslDecoder.create(weights, { capacity: 64, ggufShader: shader }, device);
      try {
        for (const g of model.greedy) {
          const { tokens, logits } = await greedyOnGpu(decoder, g.input_ids, g.new_tokens.length);
          for (const [id, value] of g.top10) expect(Math.abs(logits[id] - value), `${g.prompt} logit ${id}`).toBeLessThan(1e-3 * (1 + Math.abs(value)));
          expect(tokens, `${name} ${g.prompt}`).toEqual(g.new_tokens);
          // stories260K: torch's tokens are llama2.c's published story (tests/fixtures/stories260k/reference.json).
          if (name.startsWith('stories260k')) expect(tokens).toEqual(published);
        }
      } finally {
        await decoder.release();
      }
    }, 240_000);
  }

  it('prefill equals the token-by-token path: tiny Qwen2 with every tensor in a different block type, a 72-token prompt (passes of 64 + 8) gives the same last logits, then the same greedy token', async () => {
    const weights = llamaWeightsFromGguf(await readGguf(fixture(ref.models['tiny-qwen2-mixed'].file)));
    const decoder = await WgslDecoder.create(weights, { capacity: 80, ggufShader: shader }, device);
    try {
      await expectPrefillEqualsStepwise(decoder, 11, true);
    } finally {
      await decoder.release();
    }
  }, 120_000);
});

describe.skipIf(skipGpu)('hearth.models.add(file) → the API on the WGSL decoder (Node; the store kept in memory)', () => {
  const kept = new Map<string, Blob>();
  const store = { keepLocal: async (f: ModelFile, blob: Blob) => { kept.set(f.url, blob); } } as unknown as ArtifactStore;
  const registry = new ModelRegistry();
  const models = localModels(registry, store);
  const llm = nodeLlm({
    devices: ['webgpu', 'wasm'],
    wgsl: { device: () => getDevice('gguf api'), ggufShader: shader },
    loadGguf: async (entry) => new Uint8Array(await kept.get(entry.files[0].url)!.arrayBuffer()),
  });
  const api = nodeApi({ registry, isDownloaded: async (e) => e.files.every((f) => kept.has(f.url)) }, llm);
  const file = (name: string) => new File([fixture(name)], name);

  it('stories260K Q8_0: completion gives the published story; GET /models lists it, downloaded, on wgsl', async () => {
    const entry = await models.add(file('stories260k-q8_0.gguf'));
    expect(entry.id).toBe('local/stories260k-q8_0');
    const res = await api.handle(post('/completions', { model: entry.id, prompt: 'Once upon a time', max_tokens: 30, temperature: 0 }));
    expect(res.status, await res.clone().text()).toBe(200);
    expect(res.headers.get('x-hearth-backend')).toBe('wgsl/webgpu');
    const body = await res.json() as { choices: { text: string }[] };
    expect('Once upon a time' + body.choices[0].text).toBe('Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day,');
    const model = await (await api.handle(get(`/models/${entry.id}`))).json() as { loaded_variant: string; downloaded: boolean; kind: string };
    expect(model).toMatchObject({ loaded_variant: 'wgsl:gguf', downloaded: true, kind: 'llm' });
    await (await api.engines.engine('llm')).unload(entry.id);
  }, 120_000);

  it('tiny Qwen2 (mixed block types): chat through its ChatML template equals torch', async () => {
    const entry = await models.add(file('tiny-qwen2-mixed.gguf'), { id: 'local/qwen' });
    const g = ref.models['tiny-qwen2-mixed'].greedy.find((x) => x.prompt === 'chat')!;
    const res = await api.handle(post('/completions', { model: entry.id, prompt: g.input_ids, max_tokens: g.new_tokens.length, temperature: 0, return_token_ids: true }));
    expect(res.status, await res.clone().text()).toBe(200);
    const body = await res.json() as { choices: { token_ids: number[] }[] };
    expect(body.choices[0].token_ids.slice(0, g.new_tokens.length)).toEqual(g.new_tokens.slice(0, body.choices[0].token_ids.length));
    const chat = await api.handle(post('/chat/completions', { model: entry.id, messages: [{ role: 'user', content: 'Hello' }], max_tokens: 4, temperature: 0 }));
    expect(chat.status, await chat.clone().text()).toBe(200);
    await (await api.engines.engine('llm')).unload(entry.id);
  }, 120_000);

  it('a bad file is refused by add() with a 400 before anything is stored or registered', async () => {
    const before = kept.size;
    const truncated = new File([fixture('tiny-llama-q4_k.gguf').subarray(0, 200_000)], 'cut.gguf');
    const e = await models.add(truncated).then(() => null, (x: unknown) => x as HearthError);
    expect(e?.status).toBe(400);
    expect(e?.code).toBe('invalid_gguf');
    expect(e?.message).toMatch(/truncated/);
    expect(kept.size).toBe(before);
    expect(registry.find('local/tiny-llama-q4_k')).toBeUndefined();
  });
});

// Hearth's WGSL decoder (src/engines/llm/wgsl/) on WebGPU in Node (Dawn on SwiftShader), against torch:
//  - the tiny Llama fixtures (public/models/hearth-tiny-llama/, fp32 model.onnx and 4-bit MatMulNBits model_q4.onnx),
//    weights read from the ONNX initializers: the first step's top-10 logits within 1e-3 of torch and 24 greedy
//    tokens (argmax on the GPU) equal to tests/fixtures/llm/reference.json, and the left-padded batch equal too
//    (every prompt and all 24 batch steps with HEARTH_WGSL_FULL=1: `npm run test:wgsl`);
//  - the same weights saved as model.safetensors (torch names, [out, in], zero Qwen2-style biases) give the same
//    greedy tokens;
//  - through the API (LlmService with WebGPU first): completions answer with `x-hearth-backend: wgsl/webgpu` and
//    torch's greedy text, logprobs within 1e-3 of torch's, a seeded sampled completion (top-k/top-p/min-p, penalties,
//    logit_bias) drawn on the GPU gives the CPU sampler's text (onnxruntime-web wasm), so does a json_object request
//    sampled under the grammar's bitmask (valid JSON), GET /models reports the wgsl variant; a model the WGSL
//    decoder cannot read falls back to onnxruntime-web with the reason recorded;
//  - stories260K (a real trained Llama, llama.c checkpoint read by ./llama2c.ts) gives its published greedy text;
//  - prefill (prompts through the tiled GEMMs and split-K attention, in passes of 64 tokens) gives the logits of the
//    token-by-token path on a 72-token prompt.
// Without an adapter the tests FAIL with an explanation, unless HEARTH_NO_GPU_TESTS=1.
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { getDevice, skipGpu } from './dawn';
import { expectPrefillEqualsStepwise, greedyOnGpu } from './wgsl-greedy';
import { llama2cDecoder, readLlama2c } from './llama2c';
import { get, nodeApi, nodeLlm, nodeLlmFiles, post, readJson, ROOT } from './node-api';
import { llamaArchitecture } from '../../src/engines/llm/wgsl/config';
import { WgslDecoder } from '../../src/engines/llm/wgsl/decoder';
import { llamaWeightsFromOnnx } from '../../src/engines/llm/wgsl/onnx-weights';
import { dequantize } from '../../src/engines/llm/wgsl/reference';
import { llamaWeightsFromSafetensors } from '../../src/engines/llm/wgsl/safetensors-weights';
import { LlmTokenizer } from '../../src/engines/llm/tokenizer';

interface FirstStep { prompt: string; top10: [number, number][]; greedy_logprobs: number[] }
interface Ref {
  model_dir: string;
  max_new_tokens: number;
  prompts: { name: string; input_ids: number[] }[];
  greedy: { prompt: string; new_tokens: number[] }[];
  logits_first_step: FirstStep[];
  batch: { input_ids: number[][]; attention_mask: number[][]; position_ids: number[][]; new_tokens: number[][] };
  q4: { model_file: string; greedy: { prompt: string; new_tokens: number[] }[]; logits_first_step: FirstStep[] };
}
const ref = readJson<Ref>('tests/fixtures/llm/reference.json');
const dir = `${ROOT}${ref.model_dir}/`;
const config = readJson<object>(`${ref.model_dir}/config.json`);
/** Every prompt and the whole batch (HEARTH_WGSL_FULL=1, `npm run test:wgsl`); by default one prompt per model and
 * 6 batch steps, to keep SwiftShader's ~0.3 s per token within npm test's budget (the API tests cover `text` too). */
const FULL = process.env.HEARTH_WGSL_FULL === '1';
const prompt = (name: string) => ref.prompts.find((p) => p.name === name)!.input_ids;

async function greedyRun(decoder: WgslDecoder, ids: number[], steps: number) {
  const run = await greedyOnGpu(decoder, ids, steps);
  expect(run.prefillTokens).toBe(1);
  return run;
}

/**
 * One device for the decoder tests of this file, with subgroups (SwiftShader has them): pipelines compile once
 * (SwiftShader: ~20 s per fresh device). The fixtures run the GEMVs' subgroup variants; stories260K and the
 * safetensors test run the workgroup-memory ones (`subgroups: false`).
 */
let devicePromise: Promise<GPUDevice> | undefined;
const sharedDevice = () => (devicePromise ??= getDevice('wgsl-llm tests', ['subgroups']));

describe.skipIf(skipGpu)('WGSL decoder on the tiny Llama fixtures equals torch', () => {
  let device: GPUDevice;
  beforeAll(async () => { device = await sharedDevice(); });

  for (const variant of ['fp32', 'q4'] as const) {
    it(`${variant}: top-10 first-step logits and 24 greedy tokens (every prompt with HEARTH_WGSL_FULL=1); the padded batch`, async () => {
      const file = variant === 'fp32' ? 'model.onnx' : ref.q4.model_file.split('/').pop()!;
      const weights = llamaWeightsFromOnnx(new Uint8Array(readFileSync(dir + file)), [], llamaArchitecture(config));
      expect(weights.layers[0].q.kind).toBe(variant === 'fp32' ? 'f32' : 'q4');
      expect(weights.lmHead).toBe(weights.embed); // tied: one upload
      const decoder = await WgslDecoder.create(weights, { capacity: 256 }, device);
      expect(decoder.subgroups).toBe(true);
      try {
        const expected = variant === 'fp32' ? ref : ref.q4;
        for (const g of expected.greedy.filter((x) => FULL || x.prompt === (variant === 'fp32' ? 'bos' : 'chat'))) {
          const { tokens, logits } = await greedyRun(decoder, prompt(g.prompt), ref.max_new_tokens);
          expect(tokens, g.prompt).toEqual(g.new_tokens);
          for (const [id, value] of expected.logits_first_step.find((f) => f.prompt === g.prompt)!.top10) {
            expect(Math.abs(logits[id] - value), `${g.prompt} logit ${id}`).toBeLessThan(1e-3);
          }
        }
        // Left-padded batch of two rows: each row its own KV cache, padding skipped.
        const b = ref.batch;
        const first = await decoder.step({ ids: b.input_ids, mask: b.attention_mask, positions: b.position_ids });
        const vocab = decoder.shape.vocabSize;
        const rows = b.input_ids.map((_, r) => {
          const row = first.logits.subarray(r * vocab, (r + 1) * vocab);
          let best = 0;
          for (let i = 1; i < vocab; i++) if (row[i] > row[best]) best = i;
          return [best];
        });
        const mask = b.attention_mask.map((m) => [...m]);
        const pos = b.attention_mask.map((m) => m.reduce((s, v) => s + v, 0));
        if (variant === 'fp32') {
          const steps = FULL ? b.new_tokens[0].length : 6;
          while (rows[0].length < steps) {
            mask.forEach((m) => m.push(1));
            const next = await decoder.stepGreedy({ ids: rows.map((r) => [r.at(-1)!]), mask, positions: pos.map((p, r) => [p + rows[r].length - 1]) });
            next.forEach((id, r) => rows[r].push(id));
          }
          expect(rows).toEqual(b.new_tokens.map((r) => r.slice(0, steps)));
        }
      } finally {
        await decoder.release();
      }
    }, 120_000);
  }
});

describe.skipIf(skipGpu)('WGSL prefill (tiled GEMM, split-K attention) equals the token-by-token path', () => {
  it('a 72-token prompt (two prefill passes: 64 + 8) gives the same last logits, then the same greedy tokens', async () => {
    const weights = llamaWeightsFromOnnx(new Uint8Array(readFileSync(dir + ref.q4.model_file.split('/').pop()!)), [], llamaArchitecture(config));
    const decoder = await WgslDecoder.create(weights, { capacity: 80 }, await sharedDevice());
    try {
      await expectPrefillEqualsStepwise(decoder, 7, false);
    } finally {
      await decoder.release();
    }
  }, 120_000);
});

/** A model.safetensors (F32, torch's names and [out, in] layout) holding the fp32 fixture's weights. */
function fixtureSafetensors(): Uint8Array {
  const w = llamaWeightsFromOnnx(new Uint8Array(readFileSync(`${dir}model.onnx`)), [], llamaArchitecture(config));
  const tensors: [string, number[], Float32Array][] = [['model.embed_tokens.weight', [w.embed.n, w.embed.k], dequantize(w.embed)]];
  w.layers.forEach((l, i) => {
    const p = `model.layers.${i}`;
    tensors.push([`${p}.input_layernorm.weight`, [l.attnNorm.length], l.attnNorm], [`${p}.post_attention_layernorm.weight`, [l.mlpNorm.length], l.mlpNorm]);
    for (const [name, m] of [['self_attn.q_proj', l.q], ['self_attn.k_proj', l.k], ['self_attn.v_proj', l.v], ['self_attn.o_proj', l.o], ['mlp.gate_proj', l.gate], ['mlp.up_proj', l.up], ['mlp.down_proj', l.down]] as const) {
      tensors.push([`${p}.${name}.weight`, [m.n, m.k], dequantize(m)]);
    }
    // Qwen2-style q/k/v biases, zero: the bias path runs (read, uploaded, added by the GEMV epilogue) and must not
    // change a single logit.
    for (const [name, m] of [['q_proj', l.q], ['k_proj', l.k], ['v_proj', l.v]] as const) tensors.push([`${p}.self_attn.${name}.bias`, [m.n], new Float32Array(m.n)]);
  });
  tensors.push(['model.norm.weight', [w.finalNorm.length], w.finalNorm]);
  const header: Record<string, object> = {};
  let offset = 0;
  for (const [name, shape, values] of tensors) {
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + values.byteLength] };
    offset += values.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const [, , values] of tensors) {
    out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), at);
    at += values.byteLength;
  }
  return out;
}

describe.skipIf(skipGpu)('the WGSL decoder from model.safetensors', () => {
  it('the fp32 fixture saved as safetensors (tied head, zero q/k/v biases) gives torch\'s greedy tokens', async () => {
    const weights = llamaWeightsFromSafetensors([fixtureSafetensors()], llamaArchitecture(config), true);
    expect(weights.lmHead).toBe(weights.embed);
    expect(weights.layers[1].kBias?.length).toBe(8);
    const decoder = await WgslDecoder.create(weights, { capacity: 64, subgroups: false }, await sharedDevice());
    expect(decoder.subgroups).toBe(false);
    try {
      const { tokens } = await greedyRun(decoder, prompt('text'), 6);
      expect(tokens).toEqual(ref.greedy.find((g) => g.prompt === 'text')!.new_tokens.slice(0, 6));
    } finally {
      await decoder.release();
    }
  }, 60_000);
});

describe.skipIf(skipGpu)('the WGSL backend through the API', () => {
  let api: ReturnType<typeof nodeApi>;
  beforeAll(() => {
    const llm = nodeLlm({ devices: ['webgpu', 'wasm'], wgsl: { device: sharedDevice } });
    api = nodeApi({}, llm);
  });
  afterAll(async () => { await (await api.engines.engine('llm')).unload('hearth/tiny-llama'); });

  const tokenizer = new LlmTokenizer(readJson(`${ref.model_dir}/tokenizer.json`), readJson(`${ref.model_dir}/tokenizer_config.json`));

  it('a greedy completion runs on wgsl/webgpu and equals torch; GET /models reports the wgsl variant', async () => {
    const res = await api.handle(post('/completions', { model: 'hearth/tiny-llama', prompt: prompt('text'), max_tokens: 12, temperature: 0 }));
    expect(res.status).toBe(200);
    expect(res.headers.get('x-hearth-backend')).toBe('wgsl/webgpu');
    const body = await res.json() as { choices: { text: string }[]; usage: { completion_tokens: number } };
    expect(body.choices[0].text).toBe(tokenizer.decode(ref.greedy.find((g) => g.prompt === 'text')!.new_tokens.slice(0, 12)));
    expect(body.usage.completion_tokens).toBe(12);
    const model = await (await api.handle(get('/models/hearth/tiny-llama'))).json() as { loaded_variant: string; device: string };
    expect(model.loaded_variant).toBe('wgsl:fp32');
    expect(model.device).toBe('webgpu');
  }, 120_000);

  it('logprobs (logits read back, sampled on the CPU) equal torch within 1e-3', async () => {
    const res = await api.handle(post('/completions', { model: 'hearth/tiny-llama', prompt: prompt('chat'), max_tokens: 8, temperature: 0, logprobs: 1 }));
    expect(res.status).toBe(200);
    const body = await res.json() as { choices: { logprobs: { token_logprobs: number[] } }[] };
    const want = ref.logits_first_step.find((f) => f.prompt === 'chat')!.greedy_logprobs.slice(0, 8);
    const got = body.choices[0].logprobs.token_logprobs;
    expect(got.length).toBe(8);
    got.forEach((lp, i) => expect(Math.abs(lp - want[i])).toBeLessThan(1e-3));
  }, 120_000);

  it('sampling with penalties, bias and a seed runs on the GPU (ids only) and gives the CPU sampler\'s tokens (onnxruntime-web wasm)', async () => {
    const body = {
      model: 'hearth/tiny-llama', prompt: prompt('text'), max_tokens: 12, seed: 1234, temperature: 0.9, top_k: 40, top_p: 0.9,
      min_p: 0.01, repetition_penalty: 1.2, frequency_penalty: 0.3, presence_penalty: 0.2, logit_bias: { 13: 3, 11: -100 },
    };
    const sample = vi.spyOn(WgslDecoder.prototype, 'stepSample');
    const step = vi.spyOn(WgslDecoder.prototype, 'step');
    try {
      const res = await api.handle(post('/completions', body));
      expect(res.status).toBe(200);
      expect(res.headers.get('x-hearth-backend')).toBe('wgsl/webgpu');
      const gpu = await res.json() as { choices: { text: string }[]; usage: { completion_tokens: number } };
      // The prompt's step reads logits back (the first token is drawn on the CPU); every later token is drawn on the GPU.
      expect(step).toHaveBeenCalledTimes(1);
      expect(sample).toHaveBeenCalledTimes(gpu.usage.completion_tokens - 1);
      const cpu = nodeApi({}, nodeLlm({ devices: ['wasm'] }));
      try {
        const want = await (await cpu.handle(post('/completions', body))).json() as { choices: { text: string }[] };
        expect(gpu.choices[0].text).toBe(want.choices[0].text);
      } finally {
        await (await cpu.engines.engine('llm')).unload('hearth/tiny-llama');
      }
    } finally {
      sample.mockRestore();
      step.mockRestore();
    }
  }, 180_000);

  it('json_object with a schema, sampled on the GPU under the grammar\'s bitmask: valid JSON, the CPU sampler\'s text', async () => {
    const schema = {
      type: 'object', required: ['color', 'ok', 'tag'],
      properties: { color: { enum: ['red', 'green', 'blue'] }, ok: { type: 'boolean' }, tag: { type: 'string', maxLength: 6 } },
    };
    const body = { model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'JSON please' }], max_tokens: 120, temperature: 1, seed: 2,
      response_format: { type: 'json_object', schema } };
    const sample = vi.spyOn(WgslDecoder.prototype, 'stepSample');
    try {
      const res = await api.handle(post('/chat/completions', body));
      expect(res.status).toBe(200);
      expect(res.headers.get('x-hearth-backend')).toBe('wgsl/webgpu');
      const gpu = await res.json() as { choices: { message: { content: string }; finish_reason: string }[] };
      expect(sample).toHaveBeenCalled();
      const content = gpu.choices[0].message.content;
      expect(gpu.choices[0].finish_reason, content).toBe('stop');
      const parsed = JSON.parse(content) as { color: string; ok: boolean; tag: string };
      expect(['red', 'green', 'blue']).toContain(parsed.color);
      expect(typeof parsed.ok).toBe('boolean');
      const cpu = nodeApi({}, nodeLlm({ devices: ['wasm'] }));
      try {
        const want = await (await cpu.handle(post('/chat/completions', body))).json() as { choices: { message: { content: string } }[] };
        expect(content).toBe(want.choices[0].message.content);
      } finally {
        await (await cpu.engines.engine('llm')).unload('hearth/tiny-llama');
      }
    } finally {
      sample.mockRestore();
    }
  }, 180_000);

  it('a model the WGSL decoder cannot read falls back to onnxruntime-web, the reason recorded', async () => {
    const llm = nodeLlm({
      devices: ['webgpu', 'wasm'],
      wgsl: { device: () => getDevice('wgsl-llm tests') },
      loadFiles: async (entry, variant) => {
        const files = await nodeLlmFiles(entry, variant);
        return { ...files, config: { ...files.config, model_type: 'gpt2' } };
      },
    });
    const fallback = nodeApi({}, llm);
    const res = await fallback.handle(post('/completions', { model: 'hearth/tiny-llama', prompt: prompt('text'), max_tokens: 4, temperature: 0 }));
    expect(res.status).toBe(200);
    expect(res.headers.get('x-hearth-backend')).toBe('onnx/wasm');
    const model = await (await fallback.handle(get('/models/hearth/tiny-llama'))).json() as { skipped_backends: { name: string; reason: string }[] };
    expect(model.skipped_backends[0].name).toBe('wgsl:fp32:webgpu');
    expect(model.skipped_backends[0].reason).toMatch(/model_type "gpt2"/);
    await llm.unload('hearth/tiny-llama');
  }, 120_000);
});

// stories260K (llama2.c's TinyStories model, a real trained Llama): read from its llama.c checkpoint as it is (RoPE on
// adjacent pairs), greedy from "Once upon a time" must give the text published in llama2.c's doc/stories260K.md.
const STORIES = '/work/shared/models/stories260K/';
describe.skipIf(skipGpu || !existsSync(`${STORIES}stories260K.bin`))('the WGSL decoder on stories260K', () => {
  it('greedy: "Once upon a time, there was a little girl named Lily. …" (30 tokens)', async () => {
    const device = await sharedDevice();
    const weights = readLlama2c(new Uint8Array(readFileSync(`${STORIES}stories260K.bin`)));
    const decode = llama2cDecoder(new Uint8Array(readFileSync(`${STORIES}tok512.bin`)));
    const decoder = await WgslDecoder.create(weights, { capacity: 64, subgroups: false }, device);
    expect(decoder.subgroups).toBe(false);
    try {
      const promptIds = [1, 403, 407, 261, 378];
      const { tokens } = await greedyRun(decoder, promptIds, 30);
      expect(decode([...promptIds, ...tokens])).toBe('Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day,');
    } finally {
      await decoder.release();
    }
  }, 60_000);
});

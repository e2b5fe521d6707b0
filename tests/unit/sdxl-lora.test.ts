// LoRA for SDXL, piece by piece: the safetensors reader, the adapter key layouts (PEFT, diffusers, kohya with SGM
// block names), the ONNX weight index (checked against values read with the python onnx package), the module →
// weight resolution on the tiny SDXL graphs, the merge (CPU reference against float64 math; the WGSL kernel on Dawn
// against the CPU reference, float32 and float16, both layouts), the whole-model merge's refusals (nothing written
// when an adapter does not fit) and the download's URL, header and error rules.
import { readFileSync } from 'node:fs';
import { getFloat16, setFloat16 } from '@petamoriken/float16';
import { describe, expect, it } from 'vitest';
import { HearthError } from '../../src/api/errors';
import { loraModules, sgmToDiffusers, type LoraModule } from '../../src/engines/image/lora/adapter-keys';
import { mergeLora } from '../../src/engines/image/lora/apply';
import { fetchLoraAdapter, loraUrl } from '../../src/engines/image/lora/fetch';
import { GpuLoraMerger } from '../../src/engines/image/lora/gpu-merge';
import { cpuMerger, mergeOnCpu, type MergeJob } from '../../src/engines/image/lora/merge';
import { indexOnnxWeights } from '../../src/engines/image/lora/onnx-weights';
import { readSafetensors, type SafetensorsDtype } from '../../src/engines/image/lora/safetensors';
import { resolveTargets } from '../../src/engines/image/lora/targets';
import { halfTable } from '../../src/util/float16';
import { getDevice, skipGpu } from './dawn';
import { mulberry32 } from './random';

const root = new URL('../../', import.meta.url);
const tiny = (part: string) => new Uint8Array(readFileSync(new URL(`public/models/hearth-tiny-sdxl/${part}`, root)));

// --- a safetensors writer for the tests (the fixture script writes the real files in python) ------------------------

interface TestTensor { name: string; dtype?: SafetensorsDtype; shape: number[]; data: ArrayLike<number> }

export function writeSafetensors(tensors: TestTensor[], metadata: Record<string, string> = {}): Uint8Array {
  const bytes = (t: TestTensor) => ({ F32: 4, F16: 2, BF16: 2, F64: 8 })[t.dtype ?? 'F32'] * t.data.length;
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype ?? 'F32', shape: t.shape, data_offsets: [offset, offset + bytes(t)] };
    offset += bytes(t);
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + json.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(json.length), true);
  out.set(new TextEncoder().encode(json), 8);
  let at = 8 + json.length;
  for (const t of tensors) {
    for (let i = 0; i < t.data.length; i++) {
      const v = t.data[i];
      switch (t.dtype ?? 'F32') {
        case 'F32': view.setFloat32(at + 4 * i, v, true); break;
        case 'F64': view.setFloat64(at + 8 * i, v, true); break;
        case 'F16': setFloat16(view, at + 2 * i, v, true); break;
        case 'BF16': view.setUint16(at + 2 * i, new Uint32Array(Float32Array.of(v).buffer)[0] >>> 16, true); break;
      }
    }
    at += bytes(t);
  }
  return out;
}

const randoms = (n: number, seed: number, scale = 1) => {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
};

async function rejection(p: Promise<unknown> | (() => unknown)): Promise<HearthError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(HearthError);
    return e as HearthError;
  }
  throw new Error('expected a HearthError');
}

// --- safetensors --------------------------------------------------------------------------------------------------

describe('float16 table', () => {
  it('holds the exact value of every half-precision bit pattern', () => {
    const table = halfTable();
    const view = new DataView(new ArrayBuffer(2));
    for (let bits = 0; bits < 65536; bits++) {
      view.setUint16(0, bits, true);
      expect(Object.is(table[bits], getFloat16(view, 0, true)) || (Number.isNaN(table[bits]) && Number.isNaN(getFloat16(view, 0, true))), `0x${bits.toString(16)}`).toBe(true);
    }
  });
});

describe('safetensors reader', () => {
  it('reads F32, F16, BF16 and F64 tensors and the metadata', () => {
    const file = readSafetensors(writeSafetensors([
      { name: 'a', shape: [2, 2], data: [1, -2, 3.5, 0.25] },
      { name: 'b', dtype: 'F16', shape: [3], data: [0.5, -1, 65504] },
      { name: 'c', dtype: 'BF16', shape: [2], data: [1.5, -256] },
      { name: 'd', dtype: 'F64', shape: [1], data: [0.1] },
    ], { format: 'pt' }));
    expect(file.metadata).toEqual({ format: 'pt' });
    expect([...file.tensors.get('a')!.values()]).toEqual([1, -2, 3.5, 0.25]);
    expect([...file.tensors.get('b')!.values()]).toEqual([0.5, -1, 65504]);
    expect([...file.tensors.get('c')!.values()]).toEqual([1.5, -256]);
    expect(file.tensors.get('d')!.values()[0]).toBeCloseTo(0.1, 7);
    expect(file.tensors.get('a')!.shape).toEqual([2, 2]);
  });

  it('refuses truncated, foreign and inconsistent files with a 400 naming the file', async () => {
    const good = writeSafetensors([{ name: 'a', shape: [4], data: [1, 2, 3, 4] }]);
    const cases: [Uint8Array, RegExp][] = [
      [good.subarray(0, 5), /shorter/],
      [good.subarray(0, good.length - 4), /does not fit/],
      [new TextEncoder().encode('PK\x03\x04 this is a zip file, not safetensors'), /header length|not JSON/],
      [(() => { const b = good.slice(); b[8] = 0x7b + 1; return b; })(), /not JSON/],
    ];
    for (const [bytes, message] of cases) {
      const e = await rejection(() => readSafetensors(bytes));
      expect(e.status).toBe(400);
      expect(e.param).toBe('lora_weight_filename');
      expect(e.message).toMatch(message);
    }
    const int = new TextEncoder().encode(JSON.stringify({ a: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }));
    const withInt = new Uint8Array(8 + int.length + 8);
    new DataView(withInt.buffer).setBigUint64(0, BigInt(int.length), true);
    withInt.set(int, 8);
    expect((await rejection(() => readSafetensors(withInt))).message).toMatch(/dtype I64/);
  });
});

// --- adapter layouts ----------------------------------------------------------------------------------------------

const pair = (key: string, down: string, up: string, rank = 2, inF = 3, outF = 4): TestTensor[] => [
  { name: key + down, shape: [rank, inF], data: randoms(rank * inF, 1) },
  { name: key + up, shape: [outF, rank], data: randoms(outF * rank, 2) },
];

describe('adapter key layouts', () => {
  it('reads PEFT, older diffusers and attention-processor keys into parts and dotted paths', () => {
    const modules = loraModules(readSafetensors(writeSafetensors([
      ...pair('unet.down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q', '.lora_A.weight', '.lora_B.weight'),
      ...pair('text_encoder.text_model.encoder.layers.0.self_attn.q_proj', '.lora_A.weight', '.lora_B.weight'),
      ...pair('text_encoder_2.text_model.encoder.layers.3.mlp.fc1', '.lora.down.weight', '.lora.up.weight'),
      ...pair('unet.mid_block.attentions.0.transformer_blocks.0.attn2.processor.to_out_lora', '.down.weight', '.up.weight'),
      ...pair('unet.up_blocks.0.attentions.1.transformer_blocks.2.attn1.processor.to_k_lora', '.down.weight', '.up.weight'),
    ])));
    const summary = modules.map((m) => [m.part, m.path, m.underscored, m.scale]);
    expect(summary).toEqual(expect.arrayContaining([
      ['unet', 'down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q', false, 1],
      ['text_encoder', 'text_model.encoder.layers.0.self_attn.q_proj', false, 1],
      ['text_encoder_2', 'text_model.encoder.layers.3.mlp.fc1', false, 1],
      ['unet', 'mid_block.attentions.0.transformer_blocks.0.attn2.to_out.0', false, 1],
      ['unet', 'up_blocks.0.attentions.1.transformer_blocks.2.attn1.to_k', false, 1],
    ]));
    expect(modules).toHaveLength(5);
  });

  it('reads kohya keys with their alpha (scale = alpha / rank) and renames SGM UNet blocks', () => {
    const modules = loraModules(readSafetensors(writeSafetensors([
      ...pair('lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q', '.lora_down.weight', '.lora_up.weight', 8),
      { name: 'lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q.alpha', shape: [], data: [4] },
      ...pair('lora_te1_text_model_encoder_layers_0_self_attn_q_proj', '.lora_down.weight', '.lora_up.weight', 4),
      ...pair('lora_te2_text_model_encoder_layers_0_mlp_fc2', '.lora_down.weight', '.lora_up.weight', 4),
    ])));
    const byPart = Object.fromEntries(modules.map((m) => [m.part, m]));
    expect(byPart.unet.path).toBe('down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q');
    expect(byPart.unet.underscored).toBe(true);
    expect(byPart.unet.scale).toBe(0.5);
    expect(byPart.text_encoder.path).toBe('text_model_encoder_layers_0_self_attn_q_proj');
    expect(byPart.text_encoder.scale).toBe(1);
    expect(byPart.text_encoder_2.path).toBe('text_model_encoder_layers_0_mlp_fc2');
  });

  it('maps SDXL SGM block names to diffusers blocks as diffusers does (layers_per_block 2)', () => {
    const cases: [string, string][] = [
      ['input_blocks_1_0_in_layers_2', 'down_blocks_0_resnets_0_conv1'],
      ['input_blocks_2_0_out_layers_3', 'down_blocks_0_resnets_1_conv2'],
      ['input_blocks_3_0_op', 'down_blocks_0_downsamplers_0_conv'],
      ['input_blocks_4_0_emb_layers_1', 'down_blocks_1_resnets_0_time_emb_proj'],
      ['input_blocks_4_0_skip_connection', 'down_blocks_1_resnets_0_conv_shortcut'],
      ['input_blocks_5_1_proj_in', 'down_blocks_1_attentions_1_proj_in'],
      ['input_blocks_8_1_transformer_blocks_9_ff_net_0_proj', 'down_blocks_2_attentions_1_transformer_blocks_9_ff_net_0_proj'],
      ['middle_block_0_in_layers_2', 'mid_block_resnets_0_conv1'],
      ['middle_block_1_transformer_blocks_3_attn2_to_k', 'mid_block_attentions_0_transformer_blocks_3_attn2_to_k'],
      ['middle_block_2_out_layers_3', 'mid_block_resnets_1_conv2'],
      ['output_blocks_0_1_transformer_blocks_0_attn1_to_out_0', 'up_blocks_0_attentions_0_transformer_blocks_0_attn1_to_out_0'],
      ['output_blocks_2_2_conv', 'up_blocks_0_upsamplers_0_conv'],
      ['output_blocks_5_1_proj_out', 'up_blocks_1_attentions_2_proj_out'],
      ['output_blocks_8_0_skip_connection', 'up_blocks_2_resnets_2_conv_shortcut'],
      ['input_blocks_0_0', 'conv_in'],
      ['time_embed_0', 'time_embedding_linear_1'],
      ['label_emb_0_2', 'add_embedding_linear_2'],
      ['down_blocks_1_attentions_0_proj_in', 'down_blocks_1_attentions_0_proj_in'],
    ];
    for (const [sgm, diffusers] of cases) expect(sgmToDiffusers(sgm), sgm).toBe(diffusers);
  });

  it('refuses LoHa / LoKr / DoRA, lone halves and files with no LoRA tensors', async () => {
    const loha = writeSafetensors([{ name: 'lora_unet_x.hada_w1_a', shape: [2, 2], data: [1, 2, 3, 4] }]);
    expect((await rejection(() => loraModules(readSafetensors(loha)))).code).toBe('unsupported_lora');
    const lone = writeSafetensors([{ name: 'unet.x.lora_A.weight', shape: [2, 2], data: [1, 2, 3, 4] }]);
    expect((await rejection(() => loraModules(readSafetensors(lone)))).message).toMatch(/no matching/);
    const none = writeSafetensors([{ name: 'model.weight', shape: [2], data: [1, 2] }]);
    expect((await rejection(() => loraModules(readSafetensors(none)))).message).toMatch(/no LoRA weights/);
    const bad = writeSafetensors([
      { name: 'unet.x.lora_A.weight', shape: [2, 3], data: randoms(6, 1) },
      { name: 'unet.x.lora_B.weight', shape: [4, 3], data: randoms(12, 1) },
    ]);
    expect((await rejection(() => loraModules(readSafetensors(bad)))).message).toMatch(/mismatched shapes/);
  });
});

// --- ONNX weight index and resolution -----------------------------------------------------------------------------

describe('ONNX weight index', () => {
  it('finds every initializer and weight node of the tiny UNet, with byte ranges that hold the values', () => {
    const bytes = tiny('unet/model.onnx');
    const index = indexOnnxWeights(bytes);
    // Counts and values as the python onnx package reads them (onnx.load + numpy_helper.to_array).
    expect(index.initializers.size).toBe(212);
    expect(index.nodes.filter((n) => index.initializers.has(n.inputs[1])).length).toBe(85);
    const w = index.initializers.get('onnx::MatMul_1494')!;
    expect(w.dims).toEqual([16, 16]);
    expect(w.type).toBe('float32');
    expect(w.file).toBeNull();
    const values = new Float32Array(bytes.slice(w.offset, w.offset + 16).buffer);
    expect([...values].map((v) => +v.toFixed(6))).toEqual([-0.406283, 0.099824, -0.111184, 0.151224]);
    const conv = index.nodes.find((n) => n.name === '/conv_in/Conv')!;
    expect(conv.inputs[1]).toBe('enc.conv_in.weight');
    expect(index.initializers.get('enc.conv_in.weight')!.dims).toEqual([16, 4, 3, 3]);
  });

  it('refuses bytes that are not an ONNX model', () => {
    expect(() => indexOnnxWeights(new TextEncoder().encode('not a model at all'))).toThrow();
  });
});

const moduleFor = (part: LoraModule['part'], path: string, rows: number, cols: number, rank = 2, underscored = false): LoraModule => ({
  part, path, underscored, key: path, scale: 1,
  down: { shape: [rank, cols], values: randoms(rank * cols, 3) },
  up: { shape: [rows, rank], values: randoms(rows * rank, 4) },
});

describe('LoRA module → ONNX weight', () => {
  const index = indexOnnxWeights(tiny('text_encoder/model.onnx'));
  it('matches node-named MatMul weights (transposed), by exact path, by suffix either way, and kohya underscores', () => {
    const { targets, unmatched } = resolveTargets(index, [
      moduleFor('text_encoder', 'layers.0.self_attn.q_proj', 32, 32),
      moduleFor('text_encoder', 'text_model.encoder.layers.1.self_attn.v_proj', 32, 32),
      moduleFor('text_encoder', 'layers_2_fc1', 64, 32, 2, true),
      moduleFor('text_encoder', 'text_model_encoder_layers_0_fc2', 32, 64, 2, true),
    ]);
    expect(unmatched).toEqual([]);
    expect(targets.map((t) => [t.initializer.name.startsWith('onnx::MatMul_'), t.transposed, t.rows, t.cols])).toEqual([
      [true, true, 32, 32], [true, true, 32, 32], [true, true, 64, 32], [true, true, 32, 64],
    ]);
  });

  it('reports unknown paths, ambiguous suffixes and shape mismatches', () => {
    const { targets, unmatched } = resolveTargets(index, [
      moduleFor('text_encoder', 'layers.0.self_attn.nope', 32, 32),
      moduleFor('text_encoder', 'q_proj', 32, 32),
      moduleFor('text_encoder', 'layers.0.self_attn.q_proj', 48, 32),
    ]);
    expect(targets).toEqual([]);
    expect(unmatched.map((u) => u.why)).toEqual([
      expect.stringMatching(/no weight/), expect.stringMatching(/matches 3 weights/), expect.stringMatching(/48×32/),
    ]);
  });

  it('matches Conv weights by initializer name, not transposed, with kernel size in cols', () => {
    const { targets, unmatched } = resolveTargets(indexOnnxWeights(tiny('unet/model.onnx')), [
      moduleFor('unet', 'enc.conv_in', 16, 4 * 9),
    ]);
    expect(unmatched).toEqual([]);
    expect(targets[0].initializer.name).toBe('enc.conv_in.weight');
    expect(targets[0].transposed).toBe(false);
  });
});

// --- merge --------------------------------------------------------------------------------------------------------

function job(rows: number, cols: number, rank: number, transposed: boolean, type: 'float32' | 'float16', seed: number): MergeJob {
  const count = rows * cols;
  const bytes = new Uint8Array(count * (type === 'float32' ? 4 : 2));
  const view = new DataView(bytes.buffer);
  const base = randoms(count, seed);
  for (let e = 0; e < count; e++) (type === 'float32' ? view.setFloat32(4 * e, base[e], true) : setFloat16(view, 2 * e, base[e], true));
  return { bytes, type, rows, cols, rank, transposed, scale: 0.75, up: randoms(rows * rank, seed + 1, 0.5), down: randoms(rank * cols, seed + 2, 0.5) };
}
const valuesOf = (j: MergeJob) => {
  const view = new DataView(j.bytes.buffer, j.bytes.byteOffset, j.bytes.byteLength);
  return Array.from({ length: j.rows * j.cols }, (_, e) => (j.type === 'float32' ? view.getFloat32(4 * e, true) : getFloat16(view, 2 * e, true)));
};
const copyJob = (j: MergeJob): MergeJob => ({ ...j, bytes: j.bytes.slice() });

describe('LoRA merge', () => {
  it('CPU reference = W + scale · up @ down in float64, in both stored layouts', () => {
    for (const transposed of [false, true]) {
      const j = job(5, 7, 3, transposed, 'float32', 10);
      const before = valuesOf(j);
      mergeOnCpu(j);
      const after = valuesOf(j);
      for (let o = 0; o < 5; o++) {
        for (let k = 0; k < 7; k++) {
          let delta = 0;
          for (let r = 0; r < 3; r++) delta += j.up[o * 3 + r] * j.down[r * 7 + k];
          const e = transposed ? k * 5 + o : o * 7 + k;
          expect(after[e]).toBeCloseTo(before[e] + 0.75 * delta, 5);
        }
      }
    }
  });

  it.skipIf(skipGpu)('the WGSL kernel equals the CPU reference: float32 and float16, both layouts, odd sizes', async () => {
    const device = await getDevice('sdxl-lora');
    const merger = await GpuLoraMerger.create(device, readFileSync(new URL('shaders/lora/merge.wgsl', root), 'utf8'));
    const jobs = [
      job(64, 80, 4, true, 'float32', 20), job(33, 17, 8, false, 'float32', 21),
      job(16, 36, 4, false, 'float16', 22), job(7, 9, 3, true, 'float16', 23), job(1, 1, 1, false, 'float16', 24),
    ];
    const expected = jobs.map(copyJob);
    for (const j of expected) mergeOnCpu(j);
    // Views at odd offsets inside a bigger buffer, as weights lie inside a model file.
    const inside = jobs.map((j) => {
      const host = new Uint8Array(j.bytes.byteLength + 3);
      host.set(j.bytes, 1);
      return { ...j, bytes: host.subarray(1, 1 + j.bytes.byteLength) };
    });
    await merger.merge(inside);
    inside.forEach((j, i) => {
      const got = valuesOf(j);
      const want = valuesOf(expected[i]);
      const tolerance = j.type === 'float32' ? 1e-6 : 1e-3;
      got.forEach((v, e) => expect(Math.abs(v - want[e]), `job ${i} element ${e}`).toBeLessThanOrEqual(tolerance * Math.max(1, Math.abs(want[e]))));
      expect(got).not.toEqual(valuesOf(jobs[i]));
    });
    expect(merger.cpuFallbacks).toBe(0);
    device.destroy();
  });
});

// --- whole-model merge: refusals ----------------------------------------------------------------------------------

describe('mergeLora', () => {
  it('refuses an adapter for another model with a 400 naming the misses, and writes nothing', async () => {
    const model = tiny('text_encoder/model.onnx');
    const pristine = model.slice();
    const adapter = writeSafetensors([
      ...pair('text_encoder.layers.0.self_attn.q_proj', '.lora_A.weight', '.lora_B.weight', 2, 32, 32),
      ...pair('text_encoder.text_model.encoder.layers.11.self_attn.q_proj', '.lora_A.weight', '.lora_B.weight', 2, 768, 768),
    ]);
    const e = await rejection(mergeLora({ text_encoder: { model } }, adapter, cpuMerger, 'hearth/tiny-sdxl'));
    expect(e.status).toBe(400);
    expect(e.param).toBe('lora_adapter_name');
    expect(e.code).toBe('lora_mismatch');
    expect(e.message).toMatch(/1 of 2 modules.*layers\.11/);
    expect(model).toEqual(pristine);
  });

  it('refuses UNet modules when the model has no UNet graph', async () => {
    const adapter = writeSafetensors(pair('unet.conv_in', '.lora_A.weight', '.lora_B.weight'));
    expect((await rejection(mergeLora({ text_encoder: { model: tiny('text_encoder/model.onnx') } }, adapter, cpuMerger, 'x'))).message)
      .toMatch(/has no unet/);
  });

  it('merges into every graph a module targets and reports the counts', async () => {
    const graphs = { unet: { model: tiny('unet/model.onnx') }, unet_controlnet: { model: tiny('unet/model_controlnet.onnx') } };
    const adapter = writeSafetensors([
      { name: 'unet.enc.conv_in.lora_A.weight', shape: [2, 4, 3, 3], data: randoms(72, 5) },
      { name: 'unet.enc.conv_in.lora_B.weight', shape: [16, 2, 1, 1], data: randoms(32, 6) },
    ]);
    const before = graphs.unet.model.slice();
    const report = await mergeLora(graphs, adapter, cpuMerger, 'hearth/tiny-sdxl');
    expect(report).toMatchObject({ modules: 1, weights: { unet: 1, unet_controlnet: 1 }, device: 'cpu' });
    expect(graphs.unet.model).not.toEqual(before);
    expect(graphs.unet.model.length).toBe(before.length);
  });
});

// --- weights in external data (how exports over 2 GB store them) ------------------------------------------------

describe('merging into external data', () => {
  it('rewrites weights in the .onnx_data file; the merged text encoder equals torch', async () => {
    const ort = await import('onnxruntime-web');
    ort.env.wasm.numThreads = 1;
    const dir = 'tests/fixtures/sdxl/external/text_encoder/';
    const model = new Uint8Array(readFileSync(new URL(`${dir}model.onnx`, root)));
    const data = new Uint8Array(readFileSync(new URL(`${dir}model.onnx_data`, root)));
    const pristine = model.slice();
    const index = indexOnnxWeights(model);
    expect([...index.initializers.values()].every((i) => i.file === 'model.onnx_data')).toBe(true);
    // The PEFT fixture's text_encoder modules only (this test has no UNet graph to merge the rest into).
    const peft = readSafetensors(new Uint8Array(readFileSync(new URL('public/hub/hearth/tiny-sdxl-lora/resolve/main/pytorch_lora_weights.safetensors', root))));
    const adapter = writeSafetensors([...peft.tensors.values()].filter((t) => t.name.startsWith('text_encoder.'))
      .map((t) => ({ name: t.name, shape: t.shape, data: t.values() })));
    const graphs = { text_encoder: { model, externalData: [{ path: 'model.onnx_data', data }] } };
    const report = await mergeLora(graphs, adapter, cpuMerger, 'hearth/tiny-sdxl');
    expect(report.weights).toEqual({ text_encoder: 12 });
    expect(model).toEqual(pristine); // the graph itself is untouched: only the data file changed
    const session = await ort.InferenceSession.create(model, { executionProviders: ['wasm'], externalData: [{ path: 'model.onnx_data', data }] });
    const ref = JSON.parse(readFileSync(new URL('tests/fixtures/sdxl/reference.json', root), 'utf8')) as { parts: { text_encoder: { inputs: { input_ids: { shape: number[]; data: number[] } } } } };
    const ids = ref.parts.text_encoder.inputs.input_ids;
    const out = await session.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.data.map(BigInt)), ids.shape) });
    const lref = JSON.parse(readFileSync(new URL('tests/fixtures/sdxl/lora-reference.json', root), 'utf8')) as { adapters: { peft: { parts: { text_encoder: { outputs: Record<string, { b64: string }> } } } } };
    const want = new Float32Array(new Uint8Array(Buffer.from(lref.adapters.peft.parts.text_encoder.outputs['hidden_states.2'].b64, 'base64')).buffer);
    const got = out['hidden_states.2'].data as Float32Array;
    expect(got.length).toBe(want.length);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i])));
    expect(worst).toBeLessThan(1e-5);
    await session.release();
  });
});

// --- download -----------------------------------------------------------------------------------------------------

describe('LoRA download', () => {
  const options = { hubEndpoint: 'https://huggingface.co/', builtinHub: 'http://app.test/hub/' };

  it('builds Hugging Face resolve URLs, and app URLs for built-in hearth/ adapters', () => {
    expect(loraUrl({ repo: 'jbilcke-hf/sdxl-botw', filename: 'lora.safetensors' }, options))
      .toBe('https://huggingface.co/jbilcke-hf/sdxl-botw/resolve/main/lora.safetensors');
    expect(loraUrl({ repo: 'hearth/tiny-sdxl-lora', filename: 'sub dir/x.safetensors' }, options))
      .toBe('http://app.test/hub/hearth/tiny-sdxl-lora/resolve/main/sub%20dir/x.safetensors');
  });

  it('sends the access key only as that request\'s Authorization, and caches only adapters fetched without one', async () => {
    const seen: { url: string; auth: string | null }[] = [];
    const stored: string[] = [];
    const cache = { match: async () => undefined, put: async (url: string) => { stored.push(url); } } as unknown as Cache;
    const fakeFetch = (async (url: string, init: RequestInit) => {
      seen.push({ url, auth: new Headers(init.headers).get('authorization') });
      return new Response(new Uint8Array([1, 2, 3]));
    }) as unknown as typeof fetch;
    await fetchLoraAdapter({ repo: 'me/private', filename: 'a.safetensors', accessKey: 'hf_secret' }, { ...options, fetch: fakeFetch, cache: async () => cache });
    await fetchLoraAdapter({ repo: 'me/public', filename: 'a.safetensors' }, { ...options, fetch: fakeFetch, cache: async () => cache });
    await fetchLoraAdapter({ repo: 'hearth/tiny-sdxl-lora', filename: 'a.safetensors', accessKey: 'hf_secret' }, { ...options, fetch: fakeFetch, cache: async () => cache });
    expect(seen).toEqual([
      { url: 'https://huggingface.co/me/private/resolve/main/a.safetensors', auth: 'Bearer hf_secret' },
      { url: 'https://huggingface.co/me/public/resolve/main/a.safetensors', auth: null },
      { url: 'http://app.test/hub/hearth/tiny-sdxl-lora/resolve/main/a.safetensors', auth: null },
    ]);
    expect(stored).toEqual(['https://huggingface.co/me/public/resolve/main/a.safetensors', 'http://app.test/hub/hearth/tiny-sdxl-lora/resolve/main/a.safetensors']);
  });

  it('maps 401/403, 404, server errors and network failures to clear errors', async () => {
    const answer = (status: number) => (async () => new Response('no', { status })) as unknown as typeof fetch;
    const src = { repo: 'me/repo', filename: 'a.safetensors' };
    expect(await rejection(fetchLoraAdapter(src, { ...options, fetch: answer(401) }))).toMatchObject({ status: 400, code: 'lora_access_denied', param: 'lora_adapter_name' });
    expect((await rejection(fetchLoraAdapter(src, { ...options, fetch: answer(403) }))).message).toMatch(/Huggingface-Access-Key/);
    expect(await rejection(fetchLoraAdapter(src, { ...options, fetch: answer(404) }))).toMatchObject({ status: 400, code: 'lora_not_found', param: 'lora_weight_filename' });
    expect(await rejection(fetchLoraAdapter(src, { ...options, fetch: answer(502) }))).toMatchObject({ status: 503, code: 'lora_download_failed' });
    const offline = (async () => { throw new TypeError('Failed to fetch'); }) as unknown as typeof fetch;
    expect(await rejection(fetchLoraAdapter(src, { ...options, fetch: offline }))).toMatchObject({ status: 503, code: 'lora_download_failed' });
  });

  it('without a file name: diffusers\' default, else the repo\'s only .safetensors file from the Hub\'s file list', async () => {
    const hub = (files: Record<string, string>, listing: string[]) => {
      const seen: string[] = [];
      const f = (async (url: string) => {
        seen.push(url);
        if (url.endsWith('/api/models/me/repo')) return Response.json({ siblings: listing.map((rfilename) => ({ rfilename })) });
        const name = url.split('/resolve/main/')[1];
        return name && name in files ? new Response(files[name]) : new Response('Entry not found', { status: 404 });
      }) as unknown as typeof fetch;
      return { f, seen };
    };
    const src = { repo: 'me/repo' };
    const withDefault = hub({ 'pytorch_lora_weights.safetensors': 'A', 'other.safetensors': 'B' }, []);
    expect(await fetchLoraAdapter(src, { ...options, fetch: withDefault.f })).toMatchObject({ filename: 'pytorch_lora_weights.safetensors' });
    expect(withDefault.seen).toHaveLength(1);

    const single = hub({ 'lora.safetensors': 'L' }, ['README.md', 'lora.safetensors', 'images/1.png']);
    const got = await fetchLoraAdapter(src, { ...options, fetch: single.f });
    expect(got.filename).toBe('lora.safetensors');
    expect(new TextDecoder().decode(got.bytes)).toBe('L');
    expect(single.seen).toEqual([
      'https://huggingface.co/me/repo/resolve/main/pytorch_lora_weights.safetensors',
      'https://huggingface.co/api/models/me/repo',
      'https://huggingface.co/me/repo/resolve/main/lora.safetensors',
    ]);

    const several = hub({}, ['a.safetensors', 'b.safetensors']);
    expect(await rejection(fetchLoraAdapter(src, { ...options, fetch: several.f }))).toMatchObject({ status: 400, code: 'lora_file_ambiguous', param: 'lora_weight_filename' });
    const none = hub({}, ['README.md']);
    expect(await rejection(fetchLoraAdapter(src, { ...options, fetch: none.f }))).toMatchObject({ status: 400, code: 'lora_not_found' });
  });

  it('refuses names that are not a repo id or a .safetensors file', async () => {
    for (const [repo, filename, param] of [['no-slash', 'a.safetensors', 'lora_adapter_name'], ['a/../b', 'a.safetensors', 'lora_adapter_name'],
      ['me/repo', 'weights.bin', 'lora_weight_filename'], ['me/repo', '../x.safetensors', 'lora_weight_filename']]) {
      expect((await rejection(fetchLoraAdapter({ repo, filename }, options))).param).toBe(param);
    }
  });
});

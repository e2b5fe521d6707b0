// The tiny SDXL parts (public/models/hearth-tiny-sdxl/, an Optimum-style ONNX export at toy size) run in
// onnxruntime-web (wasm backend, in Node) and reproduce the torch references that scripts/fixtures_sdxl.py wrote to
// tests/fixtures/sdxl/reference.json: every part on fixed inputs (both UNet timestep variants, the ControlNet pair,
// odd latent sizes), the hand-built CLIP BPE tokenizers, the Karras/K_DPMPP_2M schedule (recomputed here), and one
// whole text-to-image run plus one image-to-image and one ControlNet run, sampled here with the models in ORT.
// The `seeded` references use noise made from the seed alone (gaussianNoise): the TS generator is checked against the
// Python port that made them, and text-to-image is re-sampled here from gaussianNoise(42) and gaussianNoise(43).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-web';
import { Tokenizer } from '@huggingface/tokenizers';
import { gaussianNoise } from '../../src/engines/image/noise';

const root = fileURLToPath(new URL('../../', import.meta.url));
const readJson = (rel: string): any => JSON.parse(readFileSync(root + rel, 'utf8'));

interface F32 { dtype: 'float32'; shape: number[]; b64: string }
interface U8 { dtype: 'uint8'; shape: number[]; b64: string }
interface I64 { dtype: 'int64'; shape: number[]; data: number[] }
interface From { from: string; transform?: string }
type TensorRef = F32 | U8 | I64 | From;
interface Part { model: string; inputs: Record<string, TensorRef>; outputs: Record<string, F32> }
interface PromptRef { text: string; ids: number[]; input_ids: number[]; input_ids_2: number[] }
interface I2ICase {
  init_image_mode: 'IMAGE_STRENGTH' | 'STEP_SCHEDULE';
  image_strength?: number;
  step_schedule_start?: number;
  step_schedule_end?: number;
  schedule_start: number;
  schedule_end: number;
  first: number;
  last: number;
  sigmas_run: number[];
  latents: F32;
  image: U8;
}

const ref = readJson('tests/fixtures/sdxl/reference.json');
const dir = `${ref.model_dir as string}/`;

ort.env.wasm.numThreads = 1;

// ---------------------------------------------------------------------------------------------------------------------
// tensors
// ---------------------------------------------------------------------------------------------------------------------

function bytes(b64: string): Uint8Array {
  return new Uint8Array(Buffer.from(b64, 'base64')); // a fresh, aligned copy
}
const f32 = (t: F32): Float32Array => new Float32Array(bytes(t.b64).buffer);
const u8 = (t: U8): Uint8Array => bytes(t.b64);

/** Resolves a "from" path (dots separate levels; a key may itself contain dots, e.g. down_block_res_samples.0). */
function resolve(path: string): any {
  let obj: any = ref;
  let rest = path;
  while (rest) {
    if (rest in obj) return obj[rest];
    const dot = rest.indexOf('.');
    if (dot < 0) throw new Error(`bad path ${path}`);
    obj = obj[rest.slice(0, dot)];
    rest = rest.slice(dot + 1);
  }
  return obj;
}

/** uint8 HWC image -> float32 [batch, 3, H, W] (the preprocessing the reference documents). */
function hwcToChw(img: U8, f: (v: number) => number, batch: number): ort.Tensor {
  const [h, w] = img.shape as [number, number, number];
  const src = u8(img);
  const out = new Float32Array(batch * 3 * h * w);
  for (let c = 0; c < 3; c++) for (let i = 0; i < h * w; i++) out[c * h * w + i] = f(src[i * 3 + c]!);
  for (let b = 1; b < batch; b++) out.copyWithin(b * 3 * h * w, 0, 3 * h * w);
  return new ort.Tensor('float32', out, [batch, 3, h, w]);
}

function toOrt(t: TensorRef): ort.Tensor {
  if ('from' in t) {
    const src = resolve(t.from);
    if (t.from === 'images.edge_map') return hwcToChw(src, (v) => v / 255, 2);
    if (t.from === 'images.init_image') return hwcToChw(src, (v) => v / 127.5 - 1, 1);
    return toOrt(src);
  }
  if (t.dtype === 'int64') return new ort.Tensor('int64', BigInt64Array.from(t.data, (v) => BigInt(v)), t.shape);
  if (t.dtype === 'float32') return new ort.Tensor('float32', f32(t), t.shape);
  throw new Error(`unexpected ${t.dtype}`);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

function expectClose(got: ort.Tensor, want: F32, tol = 1e-4) {
  expect(got.dims).toEqual(want.shape);
  const d = maxAbsDiff(got.data as Float32Array, f32(want));
  expect(d, `max |diff| ${d}`).toBeLessThan(tol);
}

// ---------------------------------------------------------------------------------------------------------------------
// sessions, created once per model file
// ---------------------------------------------------------------------------------------------------------------------

const MODEL_FILES = [
  'text_encoder/model.onnx',
  'text_encoder_2/model.onnx',
  'unet/model.onnx',
  'unet/model_int64ts.onnx',
  'unet/model_controlnet.onnx',
  'controlnet/model.onnx',
  'vae_decoder/model.onnx',
  'vae_encoder/model.onnx',
];
const sessions: Record<string, ort.InferenceSession> = {};

beforeAll(async () => {
  for (const f of MODEL_FILES) {
    sessions[f] = await ort.InferenceSession.create(readFileSync(root + dir + f), { executionProviders: ['wasm'] });
  }
}, 60_000); // ~1-2 s on an idle 2-core machine, more when it is busy
afterAll(async () => {
  for (const s of Object.values(sessions)) await s.release();
});

// ---------------------------------------------------------------------------------------------------------------------
// files
// ---------------------------------------------------------------------------------------------------------------------

describe('fixture hearth-tiny-sdxl: files', () => {
  it('mirrors an Optimum SDXL export folder, every file < 2 MB, < 8 MB in all', () => {
    let total = 0;
    const walk = (rel: string): string[] =>
      readdirSync(root + rel).flatMap((n) =>
        statSync(`${root}${rel}/${n}`).isDirectory() ? walk(`${rel}/${n}`) : [`${rel}/${n}`],
      );
    const files = walk(ref.model_dir).map((f) => f.slice(dir.length));
    for (const f of files) {
      const size = statSync(root + dir + f).size;
      expect(size, f).toBeLessThan(2_000_000);
      total += size;
    }
    expect(total).toBeLessThan(8_000_000);
    for (const f of [...MODEL_FILES, 'model_index.json', 'scheduler/scheduler_config.json', 'tokenizer/tokenizer.json',
      'tokenizer_2/tokenizer.json', 'vae_decoder/config.json', 'unet/config.json']) {
      expect(files).toContain(f);
    }
  });

  it('has the SDXL scheduler config, model index and VAE scaling factor', () => {
    expect(readJson(`${dir}scheduler/scheduler_config.json`)).toMatchObject({
      _class_name: 'EulerDiscreteScheduler',
      num_train_timesteps: 1000,
      beta_start: 0.00085,
      beta_end: 0.012,
      beta_schedule: 'scaled_linear',
      prediction_type: 'epsilon',
      timestep_spacing: 'leading',
      steps_offset: 1,
    });
    const index = readJson(`${dir}model_index.json`);
    expect(index._class_name).toBe('StableDiffusionXLPipeline');
    for (const k of ['text_encoder', 'text_encoder_2', 'tokenizer', 'tokenizer_2', 'unet', 'vae_encoder', 'vae_decoder',
      'controlnet', 'scheduler']) {
      expect(index[k], k).toHaveLength(2);
    }
    expect(readJson(`${dir}vae_decoder/config.json`).scaling_factor).toBe(0.13025);
    expect(ref.config.scaling_factor).toBe(0.13025);
  });
});

// ---------------------------------------------------------------------------------------------------------------------
// tokenizers
// ---------------------------------------------------------------------------------------------------------------------

describe('fixture hearth-tiny-sdxl: CLIP BPE tokenizers', () => {
  const load = (sub: string) =>
    new Tokenizer(readJson(`${dir}${sub}/tokenizer.json`), readJson(`${dir}${sub}/tokenizer_config.json`));
  const tok1 = load('tokenizer');
  const tok2 = load('tokenizer_2');
  const { bos_token_id: BOS, eos_token_id: EOS, max_length: L } = ref.config;
  /** The pipeline's 77 ids: BOS + at most 75 ids + EOS, then padding. */
  const pad = (full: number[], padId: number) => {
    const t = full.length > L ? [...full.slice(0, L - 1), EOS] : full;
    return [...t, ...new Array<number>(L - t.length).fill(padId)];
  };

  it('has the CLIP specials at the top of a 1000-id vocabulary', () => {
    expect(ref.config.vocab_size).toBe(1000);
    expect(tok1.token_to_id('<|startoftext|>')).toBe(BOS);
    expect(tok1.token_to_id('<|endoftext|>')).toBe(EOS);
    expect([BOS, EOS]).toEqual([998, 999]);
    expect(tok2.token_to_id('!')).toBe(ref.config.pad_token_id.tokenizer_2);
    expect(readJson(`${dir}tokenizer/tokenizer_config.json`).pad_token).toBe('<|endoftext|>');
    expect(readJson(`${dir}tokenizer_2/tokenizer_config.json`).pad_token).toBe('!');
  });

  it.each([['prompt'], ['negative_prompt'], ['long_prompt']])('%s encodes to the reference ids', (key) => {
    const p = ref[key] as PromptRef;
    for (const tok of [tok1, tok2]) {
      const enc = tok.encode(p.text);
      expect(enc.ids).toEqual([BOS, ...p.ids, EOS]); // RobertaProcessing adds BOS/EOS
    }
    const full = [BOS, ...p.ids, EOS];
    expect(pad(full, ref.config.pad_token_id.tokenizer)).toEqual(p.input_ids);
    expect(pad(full, ref.config.pad_token_id.tokenizer_2)).toEqual(p.input_ids_2);
    expect(p.input_ids).toHaveLength(77);
  });

  it('lower-cases, splits punctuation and digits, and marks word ends', () => {
    const enc = tok1.encode('A lighthouse, 42!');
    expect(enc.tokens).toContain('lighthouse</w>');
    expect(enc.tokens).toContain('4</w>');
    expect(enc.tokens).toContain('2</w>');
    expect(tok1.encode('A  LIGHTHOUSE').ids).toEqual(tok1.encode('a lighthouse').ids);
    expect(tok1.decode(ref.prompt.input_ids, { skip_special_tokens: true })).toBe(
      'a lighthouse on a cliff, at sunset : 2 red boats!', // the decoder's clean_up_tokenization_spaces
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------------
// parts
// ---------------------------------------------------------------------------------------------------------------------

async function runPart(key: string, overrides: Record<string, ort.Tensor> = {}) {
  const part = ref.parts[key] as Part;
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, t] of Object.entries(part.inputs)) feeds[name] = toOrt(t);
  Object.assign(feeds, overrides);
  return sessions[part.model]!.run(feeds);
}

describe('fixture hearth-tiny-sdxl: each part matches torch (onnxruntime-web wasm)', () => {
  it('has the Optimum I/O names (and our ControlNet names)', () => {
    for (const f of MODEL_FILES) {
      const s = sessions[f]!;
      expect(s.inputNames, f).toEqual(ref.io[f].inputs);
      expect(s.outputNames, f).toEqual(ref.io[f].outputs);
      for (const m of [...s.inputMetadata, ...s.outputMetadata]) {
        expect(m.isTensor && { dtype: m.type, shape: m.shape }, `${f} ${m.name}`).toEqual(ref.io[f].types[m.name]);
      }
    }
    // timestep: float32 rank 0 in the current exports, int64 [1] in the older one; conditioning_scale rank 0
    expect(ref.io['unet/model.onnx'].types.timestep).toEqual({ dtype: 'float32', shape: [] });
    expect(ref.io['unet/model_int64ts.onnx'].types.timestep).toEqual({ dtype: 'int64', shape: [1] });
    expect(ref.io['controlnet/model.onnx'].types.conditioning_scale).toEqual({ dtype: 'float32', shape: [] });
    expect(ref.parts.unet.inputs.timestep.shape).toEqual([]);
    expect(ref.io['text_encoder/model.onnx'].outputs).toEqual([
      'last_hidden_state', 'pooler_output', 'hidden_states.0', 'hidden_states.1', 'hidden_states.2', 'hidden_states.3',
    ]);
    expect(ref.io['text_encoder_2/model.onnx'].outputs).toEqual([
      'text_embeds', 'last_hidden_state', 'hidden_states.0', 'hidden_states.1', 'hidden_states.2', 'hidden_states.3',
    ]);
    const unetIn = ['sample', 'timestep', 'encoder_hidden_states', 'text_embeds', 'time_ids'];
    const res = ['down_block_res_samples.0', 'down_block_res_samples.1', 'down_block_res_samples.2',
      'down_block_res_samples.3', 'mid_block_res_sample'];
    const names = (f: string) => ({ inputs: ref.io[f].inputs, outputs: ref.io[f].outputs });
    expect(names('unet/model.onnx')).toEqual({ inputs: unetIn, outputs: ['out_sample'] });
    expect(names('unet/model_int64ts.onnx')).toEqual({ inputs: unetIn, outputs: ['out_sample'] });
    expect(names('unet/model_controlnet.onnx')).toEqual({ inputs: [...unetIn, ...res], outputs: ['out_sample'] });
    expect(names('controlnet/model.onnx')).toEqual({
      inputs: [...unetIn, 'controlnet_cond', 'conditioning_scale'], outputs: res,
    });
    expect(names('vae_decoder/model.onnx')).toEqual({ inputs: ['latent_sample'], outputs: ['sample'] });
    expect(names('vae_encoder/model.onnx')).toEqual({ inputs: ['sample'], outputs: ['latent_parameters'] });
  });

  it.each(Object.keys(ref.parts).map((k) => [k]))('%s', async (key) => {
    const out = await runPart(key);
    const part = ref.parts[key] as Part;
    for (const [name, want] of Object.entries(part.outputs)) expectClose(out[name]!, want);
  });

  it('the int64-timestep UNet equals the float one at an integer timestep', async () => {
    const a = await runPart('unet_int64ts');
    const b = await runPart('unet', { timestep: new ort.Tensor('float32', Float32Array.of(487), []) });
    expect(maxAbsDiff(a.out_sample!.data as Float32Array, b.out_sample!.data as Float32Array)).toBeLessThan(1e-5);
  });

  it('the ControlNet UNet with zero residuals equals the plain UNet', async () => {
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of ref.config.controlnet_residuals as string[]) {
      const shape = [2, ...ref.config.controlnet_residual_shapes[name]];
      feeds[name] = new ort.Tensor('float32', new Float32Array(shape.reduce((a, b) => a * b)), shape);
    }
    const a = await runPart('unet_controlnet', feeds);
    const b = await runPart('unet');
    expect(maxAbsDiff(a.out_sample!.data as Float32Array, b.out_sample!.data as Float32Array)).toBeLessThan(1e-5);
  });

  it('dynamic shapes: batch 1 at 40x72 pixels (5x9 latents)', async () => {
    const s = ref.shapes;
    const unetIn = ref.parts.unet.inputs;
    const ehs = f32(unetIn.encoder_hidden_states).slice(0, 77 * 80);
    const te = f32(unetIn.text_embeds).slice(0, 48);
    const common = {
      sample: toOrt(s.sample),
      timestep: new ort.Tensor('float32', Float32Array.of(s.timestep), []),
      encoder_hidden_states: new ort.Tensor('float32', ehs, [1, 77, 80]),
      text_embeds: new ort.Tensor('float32', te, [1, 48]),
      time_ids: new ort.Tensor('float32', Float32Array.from(s.time_ids), [1, 6]),
    };
    expectClose((await sessions['unet/model.onnx']!.run(common)).out_sample!, s.unet_out_sample);
    const img = f32(s.image);
    const cn = await sessions['controlnet/model.onnx']!.run({
      ...common,
      controlnet_cond: new ort.Tensor('float32', img, [1, 3, 40, 72]),
      conditioning_scale: new ort.Tensor('float32', Float32Array.of(1), []),
    });
    for (const [name, want] of Object.entries(s.controlnet_outputs as Record<string, F32>)) {
      expectClose(cn[name]!, want);
    }
    const dec = await sessions['vae_decoder/model.onnx']!.run({ latent_sample: toOrt(s.sample) });
    expectClose(dec.sample!, s.vae_decoder_sample);
    const enc = await sessions['vae_encoder/model.onnx']!.run({
      sample: new ort.Tensor('float32', img.map((v) => 2 * v - 1), [1, 3, 40, 72]),
    });
    expectClose(enc.latent_parameters!, s.vae_encoder_latent_parameters);
  });
});

// ---------------------------------------------------------------------------------------------------------------------
// schedule: recomputed here from the scheduler config, k-diffusion's formulas, float64
// ---------------------------------------------------------------------------------------------------------------------

function trainSigmas(cfg: { num_train_timesteps: number; beta_start: number; beta_end: number }): number[] {
  const n = cfg.num_train_timesteps;
  const s0 = Math.sqrt(cfg.beta_start);
  const s1 = Math.sqrt(cfg.beta_end);
  const out: number[] = [];
  let acp = 1;
  for (let i = 0; i < n; i++) {
    const beta = (s0 + (i / (n - 1)) * (s1 - s0)) ** 2;
    acp *= 1 - beta;
    out.push(Math.sqrt((1 - acp) / acp));
  }
  return out;
}
const TRAIN = trainSigmas(ref.schedule.config);
const LOG_SIGMAS = TRAIN.map(Math.log);

function karras(n: number, rho = 7): number[] {
  const minInv = TRAIN[0]! ** (1 / rho);
  const maxInv = TRAIN[TRAIN.length - 1]! ** (1 / rho);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((maxInv + (n > 1 ? i / (n - 1) : 0) * (minInv - maxInv)) ** rho);
  return [...out, 0];
}

function sigmaToT(sigma: number): number {
  const ls = Math.log(sigma);
  let low = 0;
  for (let i = 0; i < LOG_SIGMAS.length; i++) if (ls - LOG_SIGMAS[i]! >= 0) low = i;
  low = Math.min(low, LOG_SIGMAS.length - 2);
  const w = Math.min(1, Math.max(0, (LOG_SIGMAS[low]! - ls) / (LOG_SIGMAS[low]! - LOG_SIGMAS[low + 1]!)));
  return (1 - w) * low + w * (low + 1);
}

const relClose = (a: number, b: number, tol = 1e-12) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

describe('fixture hearth-tiny-sdxl: Karras sigmas and timesteps are self-consistent', () => {
  it('sigma_min / sigma_max come from the scaled_linear alphas_cumprod', () => {
    expect(relClose(TRAIN[0]!, ref.schedule.sigma_min)).toBe(true);
    expect(relClose(TRAIN[999]!, ref.schedule.sigma_max)).toBe(true);
    for (const [i, s] of Object.entries(ref.schedule.train_sigmas_check as Record<string, number>)) {
      expect(relClose(TRAIN[Number(i)]!, s)).toBe(true);
    }
    expect(ref.schedule.sigma_min).toBeCloseTo(0.0292, 4);
    expect(ref.schedule.sigma_max).toBeCloseTo(14.6146, 4);
  });

  it.each([['10'], ['20'], ['30']])('%s steps', (n) => {
    const { sigmas, timesteps } = ref.schedule.karras[n] as { sigmas: number[]; timesteps: number[] };
    const steps = Number(n);
    expect(sigmas).toHaveLength(steps + 1);
    expect(timesteps).toHaveLength(steps);
    karras(steps).forEach((s, i) => expect(relClose(s, sigmas[i]!), `sigma ${i}`).toBe(true));
    expect(sigmas[steps]).toBe(0);
    for (let i = 1; i < steps; i++) expect(sigmas[i]!).toBeLessThan(sigmas[i - 1]!);
    expect(relClose(sigmas[0]!, ref.schedule.sigma_max)).toBe(true);
    expect(relClose(sigmas[steps - 1]!, ref.schedule.sigma_min)).toBe(true);
    timesteps.forEach((t, i) => expect(Math.abs(sigmaToT(sigmas[i]!) - t)).toBeLessThan(1e-9));
    expect(timesteps[0]).toBeCloseTo(999, 9);
    expect(timesteps[steps - 1]).toBeCloseTo(0, 9);
    // t is the fractional index whose log-sigma interpolates to the sigma
    timesteps.forEach((t, i) => {
      const lo = Math.floor(t);
      const hi = Math.min(lo + 1, 999);
      const ls = LOG_SIGMAS[lo]! + (t - lo) * (LOG_SIGMAS[hi]! - LOG_SIGMAS[lo]!);
      expect(Math.abs(Math.exp(ls) - sigmas[i]!)).toBeLessThan(1e-9 * sigmas[i]!);
    });
  });

  it('agrees with src/engines/image/scheduler.ts where present', async () => {
    let mod: any;
    try {
      mod = await import('../../src/engines/image/scheduler');
    } catch {
      return; // the engine is not there (or moved): nothing to compare
    }
    if (!mod.KarrasSchedule) return;
    const k = new mod.KarrasSchedule(ref.schedule.config);
    for (const n of ['10', '20', '30']) {
      const { sigmas, timesteps } = ref.schedule.karras[n];
      Array.from(k.sigmas(Number(n)) as Float64Array).forEach((s, i) => expect(relClose(s, sigmas[i])).toBe(true));
      timesteps.forEach((t: number, i: number) => expect(Math.abs(k.sigmaToT(sigmas[i]) - t)).toBeLessThan(1e-9));
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------------
// whole runs, sampled here (float32 state, float64 coefficients, as the reference)
// ---------------------------------------------------------------------------------------------------------------------

const B = 1; // samples
const LAT = 4 * 8 * 8;

/** Prompt conditioning, batched [uncond; cond] for one sample. */
function conditioning() {
  const ehs = f32(ref.parts.unet.inputs.encoder_hidden_states); // rows: prompt, negative
  const pooled = f32(ref.parts.unet.inputs.text_embeds);
  const n = 77 * 80;
  const e = new Float32Array(2 * n);
  e.set(ehs.subarray(n, 2 * n), 0); // uncond first
  e.set(ehs.subarray(0, n), n);
  const p = new Float32Array(2 * 48);
  p.set(pooled.subarray(48, 96), 0);
  p.set(pooled.subarray(0, 48), 48);
  const tids = new Float32Array(12);
  tids.set(ref.txt2img.add_time_ids, 0);
  tids.set(ref.txt2img.add_time_ids, 6);
  return {
    encoder_hidden_states: new ort.Tensor('float32', e, [2, 77, 80]),
    text_embeds: new ort.Tensor('float32', p, [2, 48]),
    time_ids: new ort.Tensor('float32', tids, [2, 6]),
  };
}

async function sample(
  sigmas: number[],
  x0: Float32Array,
  control?: { cond: ort.Tensor; scale: number; keep: number[] },
): Promise<Float32Array> {
  const cond = conditioning();
  const cfg = ref.txt2img.cfg_scale as number;
  let x = x0;
  let old: Float32Array | null = null;
  for (let i = 0; i < sigmas.length - 1; i++) {
    const s = sigmas[i]!;
    const next = sigmas[i + 1]!;
    const cIn = 1 / Math.sqrt(s * s + 1);
    const xin = new Float32Array(2 * LAT);
    for (let k = 0; k < LAT; k++) xin[k] = xin[LAT + k] = x[k]! * cIn;
    const feeds: Record<string, ort.Tensor> = {
      sample: new ort.Tensor('float32', xin, [2 * B, 4, 8, 8]),
      timestep: new ort.Tensor('float32', Float32Array.of(sigmaToT(s)), []),
      ...cond,
    };
    let unet = sessions['unet/model.onnx']!;
    if (control) {
      const r = await sessions['controlnet/model.onnx']!.run({
        ...feeds,
        controlnet_cond: control.cond,
        conditioning_scale: new ort.Tensor('float32', Float32Array.of(control.scale * control.keep[i]!), []),
      });
      Object.assign(feeds, r);
      unet = sessions['unet/model_controlnet.onnx']!;
    }
    const eps = (await unet.run(feeds)).out_sample!.data as Float32Array;
    const d = new Float32Array(LAT);
    for (let k = 0; k < LAT; k++) {
      const e = Math.fround(eps[k]! + cfg * (eps[LAT + k]! - eps[k]!));
      d[k] = x[k]! - s * e;
    }
    const nx = new Float32Array(LAT);
    if (next === 0) nx.set(d);
    else {
      const t = -Math.log(s);
      const h = -Math.log(next) - t;
      const ratio = next / s;
      const coeff = -Math.expm1(-h);
      if (!old) for (let k = 0; k < LAT; k++) nx[k] = ratio * x[k]! + coeff * d[k]!;
      else {
        const r = (t + Math.log(sigmas[i - 1]!)) / h;
        const a = 1 + 1 / (2 * r);
        const b = 1 / (2 * r);
        for (let k = 0; k < LAT; k++) nx[k] = ratio * x[k]! + coeff * (a * d[k]! - b * old[k]!);
      }
    }
    old = d;
    x = nx;
  }
  return x;
}

async function decodeToImage(latents: Float32Array): Promise<Uint8Array> {
  const sf = ref.config.scaling_factor as number;
  const out = await sessions['vae_decoder/model.onnx']!.run({
    latent_sample: new ort.Tensor('float32', latents.map((v) => v / sf), [1, 4, 8, 8]),
  });
  const dec = out.sample!.data as Float32Array;
  const hw = 64 * 64;
  const img = new Uint8Array(hw * 3);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < hw; i++) {
      img[i * 3 + c] = Math.round(Math.min(1, Math.max(0, dec[c * hw + i]! / 2 + 0.5)) * 255);
    }
  }
  return img;
}

/** Latents within 1e-4 of their scale; at most a few pixels off by one (rounding boundaries), none by more. */
function expectRun(latents: Float32Array, image: Uint8Array, want: { latents: F32; image: U8 }) {
  const wl = f32(want.latents);
  const d = maxAbsDiff(latents, wl);
  expect(d, `latents max |diff| ${d} (scale ${maxAbs(wl)})`).toBeLessThan(1e-4 * Math.max(1, maxAbs(wl)));
  const wi = u8(want.image);
  let off = 0;
  for (let i = 0; i < wi.length; i++) {
    expect(Math.abs(image[i]! - wi[i]!)).toBeLessThanOrEqual(1);
    if (image[i] !== wi[i]) off++;
  }
  expect(off).toBeLessThanOrEqual(wi.length / 100);
}

describe('fixture hearth-tiny-sdxl: K_DPMPP_2M runs in onnxruntime-web reproduce the references', () => {
  const noise = () => f32(ref.txt2img.noise).slice(0, LAT);

  it('text-to-image, 10 steps, cfg 7, 64x64', async () => {
    const sigmas = ref.txt2img.sigmas as number[];
    const x0 = noise().map((v) => v * sigmas[0]!);
    const latents = await sample(sigmas, x0);
    expectRun(latents, await decodeToImage(latents), ref.txt2img.samples_1);
    // the first row of the two-sample run is the one-sample run
    expect(maxAbsDiff(f32(ref.txt2img.samples_2.latents).slice(0, LAT), f32(ref.txt2img.samples_1.latents)))
      .toBeLessThan(1e-4);
  });

  /** Stability-style window: [first, last] indices into the n + 1 sigmas (see the README). */
  const windowOf = (n: number, start: number, end: number) => {
    const first = n - Math.min(n, Math.floor(n * start + 1e-6));
    const last = n - Math.min(n, Math.floor(n * end + 1e-6));
    return [first, Math.max(first, last)];
  };

  it('image-to-image windows follow the documented formula', () => {
    for (const c of ref.img2img.cases as I2ICase[]) {
      const want = c.init_image_mode === 'IMAGE_STRENGTH'
        ? [1 - c.image_strength!, 0]
        : [c.step_schedule_start, c.step_schedule_end];
      expect([c.schedule_start, c.schedule_end]).toEqual(want);
      expect(windowOf(10, c.schedule_start, c.schedule_end)).toEqual([c.first, c.last]);
      expect(c.sigmas_run).toEqual((ref.txt2img.sigmas as number[]).slice(c.first, c.last + 1));
    }
  });

  it.each([
    ['IMAGE_STRENGTH 0.6 (= step_schedule_start 0.4)', (c: I2ICase) => c.image_strength === 0.6],
    ['STEP_SCHEDULE 0.7 / 0.1 (stops at sigma_min)', (c: I2ICase) => c.step_schedule_start === 0.7],
  ])('image-to-image, %s', async (_name, pick) => {
    const c = (ref.img2img.cases as I2ICase[]).find(pick)!;
    // encode the init image, then latents = (mean + exp(logvar / 2) * encoder_noise) * scaling_factor
    const enc = await runPart('vae_encoder');
    const p = enc.latent_parameters!.data as Float32Array;
    const en = f32(ref.img2img.encoder_noise);
    const sf = ref.config.scaling_factor as number;
    const init = new Float32Array(LAT);
    for (let k = 0; k < LAT; k++) {
      const logvar = Math.min(20, Math.max(-30, p[LAT + k]!));
      init[k] = (p[k]! + Math.exp(0.5 * logvar) * en[k]!) * sf;
    }
    expect(maxAbsDiff(init, f32(ref.img2img.init_latents))).toBeLessThan(1e-5);
    const sigmas = c.sigmas_run;
    const n = f32(ref.img2img.noise);
    const x0 = init.map((v, k) => v + n[k]! * sigmas[0]!);
    const latents = await sample(sigmas, x0);
    expectRun(latents, await decodeToImage(latents), c);
  });

  it('control_net, conditioning_scale 0.8, control window [0, 1]', async () => {
    const c = ref.controlnet.cases[0];
    expect([c.step_schedule_start, c.step_schedule_end]).toEqual([0, 1]);
    const sigmas = ref.txt2img.sigmas as number[];
    const x0 = noise().map((v) => v * sigmas[0]!);
    const cond = hwcToChw(ref.images.edge_map, (v) => v / 255, 2);
    const latents = await sample(sigmas, x0, { cond, scale: ref.controlnet.conditioning_scale, keep: c.control_keep });
    expectRun(latents, await decodeToImage(latents), c);
  });
});

// ---------------------------------------------------------------------------------------------------------------------
// seeded runs: the noise comes from the request's seed alone (src/engines/image/noise.ts), as the pipeline makes it
// ---------------------------------------------------------------------------------------------------------------------

describe('fixture hearth-tiny-sdxl: seeded references (noise from gaussianNoise(seed))', () => {
  const s = ref.seeded;
  const sampleSeed = (seed: number, k: number) => (seed + k) % 2 ** 32;
  const encoderSeed = (sk: number) => (sk ^ 0x9e3779b9) >>> 0;

  it('the TS gaussianNoise equals the Python port that made the references', () => {
    expect(s.seed).toBe(42);
    expect(s.noise_check.seed).toBe(sampleSeed(s.seed, 0));
    expect(s.encoder_noise_check.seed).toBe(encoderSeed(sampleSeed(s.seed, 0)));
    expect(s.encoder_noise_check.seed).toBe(2654435731);
    for (const c of [s.noise_check, s.encoder_noise_check]) {
      expect(c.length).toBe(LAT);
      const want = f32(c.head);
      expect(want).toHaveLength(64);
      const got = gaussianNoise(c.seed, c.length).subarray(0, 64);
      expect(maxAbsDiff(got, want)).toBeLessThan(1e-6); // measured: bit-identical
    }
    expect(s.txt2img.samples_1.seeds).toEqual([42]);
    expect(s.txt2img.samples_2.seeds).toEqual([42, 43]);
    expect([s.height, s.width, s.steps, s.cfg_scale]).toEqual([64, 64, 10, 7]);
    expect(s.add_time_ids).toEqual([64, 64, 0, 0, 64, 64]);
    expect([s.prompt, s.negative_prompt]).toEqual([ref.prompt.text, '']);
  });

  it('samples 2 = samples 1 with seeds 42 and 43 (rows of the recorded images)', () => {
    const img2 = u8(s.txt2img.samples_2.image);
    const n = 64 * 64 * 3;
    expect(s.txt2img.samples_2.image.shape).toEqual([2, 64, 64, 3]);
    expect(img2.subarray(0, n)).toEqual(u8(s.txt2img.samples_1.image)); // decoded one sample at a time
    expect(maxAbsDiff(f32(s.txt2img.samples_2.latents).subarray(0, LAT), f32(s.txt2img.samples_1.latents)))
      .toBeLessThan(1e-4);
  });

  /** Row `row` of a recorded [b, ...] run as a one-sample reference. */
  const rowOf = (run: { latents: F32; image: U8 }, row: number) => {
    const n = 64 * 64 * 3;
    const lat = f32(run.latents).slice(row * LAT, (row + 1) * LAT);
    const img = u8(run.image).slice(row * n, (row + 1) * n);
    return {
      latents: { dtype: 'float32', shape: [1, 4, 8, 8], b64: Buffer.from(lat.buffer).toString('base64') } as F32,
      image: { dtype: 'uint8', shape: [1, 64, 64, 3], b64: Buffer.from(img).toString('base64') } as U8,
    };
  };

  it.each([
    ['samples 1, seed 42', 42, () => s.txt2img.samples_1],
    ['samples 2, sample 1 (= samples 1, seed 43)', 43, () => rowOf(s.txt2img.samples_2, 1)],
  ])('text-to-image re-sampled in ORT from the seed alone: %s', async (_name, seed, want) => {
    const sigmas = ref.txt2img.sigmas as number[];
    const x0 = gaussianNoise(seed, LAT).map((v) => v * sigmas[0]!);
    const latents = await sample(sigmas, x0);
    expectRun(latents, await decodeToImage(latents), want());
  });

  it('records image-to-image (IMAGE_STRENGTH 0.6, STEP_SCHEDULE 0.7 / 0.1) and control_net [0, 1]', () => {
    const cases = s.img2img.cases as I2ICase[];
    expect(cases.map((c) => [c.init_image_mode, c.first, c.last])).toEqual([
      ['IMAGE_STRENGTH', 6, 10],
      ['STEP_SCHEDULE', 3, 9],
    ]);
    for (const c of cases) expect(c.image.shape).toEqual([1, 64, 64, 3]);
    expect(s.controlnet.conditioning_scale).toBe(0.8);
    expect([s.controlnet.step_schedule_start, s.controlnet.step_schedule_end]).toEqual([0, 1]);
    expect(s.controlnet.image.shape).toEqual([1, 64, 64, 3]);
  });
});

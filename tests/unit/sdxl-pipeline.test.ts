// The SDXL pipeline of src/engines/image in Node on onnxruntime-web wasm with the tiny fixture: Karras sigmas and
// timesteps, the img2img/step-schedule windows and ControlNet windows against the fixture script, and a whole seeded
// text-to-image run and a whole seeded ControlNet run (window [0, 1], conditioning_scale 0.8) equal to torch (pixels
// within ±1, at most 3 values off as the fixture README allows; ControlNet latents within 1e-4 relative).
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { ClipTokenizer } from '../../src/engines/image/clip';
import { controlKeep, scheduleWindow, SdxlPipeline } from '../../src/engines/image/pipeline';
import { KarrasSchedule, type SchedulerConfig } from '../../src/engines/image/scheduler';
import { CATALOG } from '../../src/models/catalog';
import { readJson, ROOT } from './node-api';

ort.env.wasm.numThreads = 1;
const DIR = 'public/models/hearth-tiny-sdxl';
interface T { shape: number[]; b64: string }
const ref = readJson<{
  schedule: { karras: Record<string, { sigmas: number[]; timesteps: number[] }> };
  img2img: { cases: { schedule_start: number; schedule_end: number; first: number; last: number }[] };
  images: { edge_map: T };
  seeded: {
    prompt: string; txt2img: { samples_1: { image: T } };
    controlnet: { conditioning_scale: number; step_schedule_start: number; step_schedule_end: number; latents: T; image: T };
  };
}>('tests/fixtures/sdxl/reference.json');
const u8 = (t: T) => new Uint8Array(Buffer.from(t.b64, 'base64'));
const f32 = (t: T) => new Float32Array(u8(t).buffer);
const schedule = new KarrasSchedule(readJson<SchedulerConfig>(`${DIR}/scheduler/scheduler_config.json`));

describe('schedule', () => {
  it('Karras sigmas and their timesteps equal the fixture script (k-diffusion)', () => {
    for (const [n, r] of Object.entries(ref.schedule.karras)) {
      const sigmas = schedule.sigmas(Number(n));
      r.sigmas.forEach((s, i) => expect(sigmas[i]).toBeCloseTo(s, 10));
      r.timesteps.forEach((t, i) => expect(schedule.sigmaToT(sigmas[i])).toBeCloseTo(t, 8));
    }
  });

  it('img2img and step-schedule windows start and stop where the script does', () => {
    for (const c of ref.img2img.cases) expect(scheduleWindow(10, c.schedule_start, c.schedule_end)).toEqual([c.first, c.last]);
    expect(scheduleWindow(10, 1, 0)).toEqual([0, 10]); // text-to-image: the whole schedule
    expect(scheduleWindow(10, 0, 0)).toEqual([10, 10]); // image_strength 1: no step, the init image itself
  });

  it('ControlNet applies within its step window', () => {
    expect([...Array(10).keys()].map((i) => controlKeep(i, 10, 0.2, 0.7))).toEqual([0, 0, 1, 1, 1, 1, 1, 0, 0, 0]);
    expect([...Array(10).keys()].every((i) => controlKeep(i, 10, 0, 1) === 1)).toBe(true);
  });
});

describe('SdxlPipeline on wasm', () => {
  const entry = CATALOG.find((e) => e.id === 'hearth/tiny-sdxl')!;
  const session = (path: string) => ort.InferenceSession.create(new Uint8Array(readFileSync(`${ROOT}${DIR}/${path}`)), { executionProviders: ['wasm'] });
  const tokenizers = () => ({
    one: new ClipTokenizer(readJson(`${DIR}/tokenizer/tokenizer.json`), readJson(`${DIR}/tokenizer/tokenizer_config.json`)),
    two: new ClipTokenizer(readJson(`${DIR}/tokenizer_2/tokenizer.json`), readJson(`${DIR}/tokenizer_2/tokenizer_config.json`)),
  });
  /** Pixels more than 1 off, and the count of values off at all, against a torch image. */
  const compare = (rgba: Uint8Array, expected: Uint8Array) => {
    let off = 0;
    let far = 0;
    for (let p = 0; p < 64 * 64; p++) {
      for (let c = 0; c < 3; c++) {
        const d = Math.abs(rgba[p * 4 + c] - expected[p * 3 + c]);
        if (d > 1) far++;
        if (d > 0) off++;
      }
    }
    return { off, far };
  };

  it('a seeded text-to-image run equals torch', async () => {
    const pipeline = new SdxlPipeline({
      ort, device: 'wasm', spec: entry.image!, schedule, tokenizers: tokenizers(),
      sessions: {
        textEncoder: await session('text_encoder/model.onnx'), textEncoder2: await session('text_encoder_2/model.onnx'),
        unet: await session('unet/model.onnx'), vaeDecoder: await session('vae_decoder/model.onnx'),
      },
    });
    const steps: number[] = [];
    const rgba = await pipeline.sample({
      prompt: ref.seeded.prompt, negativePrompt: '', width: 64, height: 64, steps: 10, cfgScale: 7, seed: 42,
      schedule: { start: 1, end: 0 },
    }, (step) => steps.push(step));
    expect(steps).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const expected = u8(ref.seeded.txt2img.samples_1.image);
    let off = 0;
    for (let p = 0; p < 64 * 64; p++) for (let c = 0; c < 3; c++) if (Math.abs(rgba[p * 4 + c] - expected[p * 3 + c]) > 1) off++;
    expect(off).toBeLessThanOrEqual(3);
  });

  it('a seeded control_net run (edge map, conditioning_scale 0.8, window [0, 1]) equals torch', async () => {
    const c = ref.seeded.controlnet;
    expect([c.conditioning_scale, c.step_schedule_start, c.step_schedule_end]).toEqual([0.8, 0, 1]);
    const vae = await session('vae_decoder/model.onnx');
    let latents: Float32Array | undefined;
    const controlnet = await session('controlnet/model.onnx');
    const unetControlnet = await session('unet/model_controlnet.onnx');
    let controlRuns = 0;
    const pipeline = new SdxlPipeline({
      ort, device: 'wasm', spec: entry.image!, schedule, tokenizers: tokenizers(),
      sessions: {
        textEncoder: await session('text_encoder/model.onnx'), textEncoder2: await session('text_encoder_2/model.onnx'),
        unet: await session('unet/model.onnx'),
        // the latents the pipeline decodes, for the latent comparison
        vaeDecoder: { run: (feeds: Record<string, ort.Tensor>) => {
          latents = (feeds.latent_sample!.data as Float32Array).map((v) => v * entry.image!.scalingFactor);
          return vae.run(feeds);
        } } as unknown as ort.InferenceSession,
        controlnet: { run: (feeds: Record<string, ort.Tensor>) => {
          controlRuns++;
          expect(feeds.controlnet_cond!.location).toBe('cpu');
          return controlnet.run(feeds);
        } } as unknown as ort.InferenceSession,
        unetControlnet,
      },
    });
    // The edge map as the pipeline gets it from canny: CHW float in {0, 1}, 3 × 64 × 64.
    const hwc = u8(ref.images.edge_map);
    const chw = new Float32Array(3 * 64 * 64);
    for (let p = 0; p < 64 * 64; p++) for (let ch = 0; ch < 3; ch++) chw[ch * 64 * 64 + p] = hwc[p * 3 + ch] / 255;
    const steps: number[] = [];
    const rgba = await pipeline.sample({
      prompt: ref.seeded.prompt, negativePrompt: '', width: 64, height: 64, steps: 10, cfgScale: 7, seed: 42,
      schedule: { start: 1, end: 0 }, control: { chw, scale: c.conditioning_scale, start: 0, end: 1 },
    }, (step) => steps.push(step));
    expect(steps).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(controlRuns).toBe(10);
    const want = f32(c.latents);
    let d = 0;
    let m = 0;
    for (let k = 0; k < want.length; k++) {
      d = Math.max(d, Math.abs(latents![k] - want[k]));
      m = Math.max(m, Math.abs(want[k]));
    }
    expect(d, `latents max |diff| ${d} on ${m}`).toBeLessThan(1e-4 * Math.max(1, m));
    const { off, far } = compare(rgba, u8(c.image));
    expect(far).toBe(0);
    expect(off).toBeLessThanOrEqual(3);
  });
});

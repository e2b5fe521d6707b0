// The SDXL pipeline of src/engines/sdxl in Node on onnxruntime-web wasm with the tiny fixture: Karras sigmas and
// timesteps, the img2img/step-schedule windows and ControlNet windows against the fixture script, and a whole seeded
// text-to-image run equal to torch (pixels within ±1, at most 3 values off as the fixture README allows).
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { ClipTokenizer } from '../../src/engines/sdxl/clip';
import { controlKeep, scheduleWindow, SdxlPipeline } from '../../src/engines/sdxl/pipeline';
import { KarrasSchedule, type SchedulerConfig } from '../../src/engines/sdxl/scheduler';
import { CATALOG } from '../../src/models/catalog';
import { readJson, ROOT } from './node-api';

ort.env.wasm.numThreads = 1;
const DIR = 'public/models/hearth-tiny-sdxl';
interface T { shape: number[]; b64: string }
const ref = readJson<{
  schedule: { karras: Record<string, { sigmas: number[]; timesteps: number[] }> };
  img2img: { cases: { schedule_start: number; schedule_end: number; first: number; last: number }[] };
  seeded: { prompt: string; txt2img: { samples_1: { image: T } } };
}>('tests/fixtures/sdxl/reference.json');
const u8 = (t: T) => new Uint8Array(Buffer.from(t.b64, 'base64'));
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
  it('a seeded text-to-image run equals torch', async () => {
    const entry = CATALOG.find((e) => e.id === 'hearth/tiny-sdxl')!;
    const session = (path: string) => ort.InferenceSession.create(new Uint8Array(readFileSync(`${ROOT}${DIR}/${path}`)), { executionProviders: ['wasm'] });
    const pipeline = new SdxlPipeline({
      ort, device: 'wasm', spec: entry.image!, schedule,
      tokenizers: {
        one: new ClipTokenizer(readJson(`${DIR}/tokenizer/tokenizer.json`), readJson(`${DIR}/tokenizer/tokenizer_config.json`)),
        two: new ClipTokenizer(readJson(`${DIR}/tokenizer_2/tokenizer.json`), readJson(`${DIR}/tokenizer_2/tokenizer_config.json`)),
      },
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
});

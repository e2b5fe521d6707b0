// The Turbo layouts (scripts/fixtures_turbo.py → tests/fixtures/sdxl/turbo-reference.json) through the real image
// engine (ImageService on onnxruntime-web wasm, in Node), with files gathered by loadImageFiles as the worker does:
// - CLIP tokenizers built from vocab.json + merges.txt encode a corpus exactly as the published tokenizer.json does
//   (the tiny SDXL's, made from the same vocabulary) and as the Python reference tokenizer;
// - hearth/tiny-sdxl-turbo (microsoft/sdxl-turbo-webnn layout: int32 ids, one hidden state per encoder,
//   model.onnx.data external data, float32 [1] timestep; VAE encoder emitting latent_sample) and hearth/tiny-sd-turbo
//   (schmuell/sd-turbo-ort-web layout: SD 2.1, one encoder, int64 timestep; UNet weights in weights.pb) give torch's
//   images for the trailing Euler schedule, without guidance at cfg_scale ≤ 1 and with it above.
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { Tokenizer } from '@huggingface/tokenizers';
import { ClipTokenizer } from '../../src/engines/image/clip';
import { clipTokenizerJson } from '../../src/engines/image/clip-files';
import type { ImageCodec } from '../../src/engines/image/codec';
import { loadImageFiles, type ModelFileReader } from '../../src/engines/image/files';
import { trailingSchedule } from '../../src/engines/image/euler';
import { KarrasSchedule, type SchedulerConfig } from '../../src/engines/image/scheduler';
import { ImageService } from '../../src/engines/image/service';
import type { ImageEvent, ImageJob } from '../../src/engines/image/types';
import { CATALOG } from '../../src/models/catalog';
import { dataPathOf, externalDataFiles } from '../../src/models/store';
import type { CatalogEntry } from '../../src/models/types';
import { nodeApi, post, readJson, ROOT } from './node-api';

ort.env.wasm.numThreads = 1;

interface T { shape: number[]; b64: string }
interface Case { name: string; prompt: string; negative_prompt: string; seed: number; steps: number; cfg_scale: number; width: number; height: number; image: T; image_strength?: number; init_image?: T }
interface Ref {
  tokenizer_corpus: { text: string; input_ids: number[]; input_ids_pad0: number[] }[];
  sdxl_turbo: { cases: Case[] };
  sd_turbo: { cases: Case[] };
}
const ref = readJson<Ref>('tests/fixtures/sdxl/turbo-reference.json');
const u8 = (t: T) => new Uint8Array(Buffer.from(t.b64, 'base64'));
const entry = (id: string) => CATALOG.find((e) => e.id === id)!;

/** The built-in files, read from public/ as the store would hand them over. */
const file = (e: CatalogEntry, role: string) => e.files.find((f) => f.role === role)!;
const publicReader: ModelFileReader = {
  read: async (e, role) => new Uint8Array(readFileSync(`${ROOT}public/${file(e, role).url}`)),
  readJson: async (e, role) => JSON.parse(readFileSync(`${ROOT}public/${file(e, role).url}`, 'utf8')) as object,
  readExternalData: async (e, role) => externalDataFiles(e, role).map((f) => ({ path: dataPathOf(f), data: new Uint8Array(readFileSync(`${ROOT}public/${f.url}`)) })),
};

/** Raw pixels in and out: an "encoded" init image is its RGBA bytes; the output bytes are the RGBA pixels. */
const rawCodec = {
  decode: async (image: { bytes: ArrayBuffer }) => new Uint8Array(image.bytes),
  encode: async (img: { data: Uint8Array }) => img.data.slice().buffer,
} as unknown as ImageCodec;

const service = () => new ImageService({
  ort, devices: ['wasm'], codec: rawCodec, loadFiles: (e) => loadImageFiles(e, publicReader),
  canny: async () => { throw new Error('no ControlNet here'); },
});

function rgbToRgba(rgb: Uint8Array): Uint8Array {
  const out = new Uint8Array((rgb.length / 3) * 4);
  for (let p = 0; p < rgb.length / 3; p++) out.set([rgb[p * 3], rgb[p * 3 + 1], rgb[p * 3 + 2], 255], p * 4);
  return out;
}

async function generate(s: ImageService, e: CatalogEntry, c: Case) {
  const job: ImageJob = {
    entry: e, mode: c.init_image ? 'image_to_image' : 'text_to_image', prompt: c.prompt, negativePrompt: c.negative_prompt,
    width: c.width, height: c.height, steps: c.steps, cfgScale: c.cfg_scale, samples: 1, seed: c.seed,
    schedule: c.image_strength ? { start: 1 - c.image_strength, end: 0 } : { start: 1, end: 0 },
    output: { type: 'image/png' },
    ...(c.init_image && { init: { bytes: rgbToRgba(u8(c.init_image)).buffer as ArrayBuffer, type: 'image/raw' } }),
  };
  const reader = (await s.run(job)).getReader();
  let rgba: Uint8Array | undefined;
  const steps: number[] = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    const ev = value as ImageEvent;
    if (ev.type === 'image') rgba = new Uint8Array(ev.bytes);
    if (ev.type === 'progress') steps.push(ev.step);
  }
  return { rgba: rgba!, steps };
}

/** Channel values more than 1 off, and the mean difference, of an RGBA image against a torch RGB one. */
function compare(rgba: Uint8Array, rgb: Uint8Array) {
  let far = 0;
  let sum = 0;
  for (let p = 0; p < rgb.length / 3; p++) {
    for (let c = 0; c < 3; c++) {
      const d = Math.abs(rgba[p * 4 + c] - rgb[p * 3 + c]);
      sum += d;
      if (d > 1) far++;
    }
  }
  return { far, mean: sum / rgb.length };
}

describe('CLIP tokenizer from vocab.json + merges.txt', () => {
  const dir = 'public/models/hearth-tiny-sdxl-turbo/tokenizer';
  const config = readJson<object>(`${dir}/tokenizer_config.json`);
  const built = clipTokenizerJson(readJson(`${dir}/vocab.json`), readFileSync(`${ROOT}${dir}/merges.txt`, 'utf8'), config);
  const published = readJson<object>('public/models/hearth-tiny-sdxl/tokenizer/tokenizer.json');

  it('encodes a corpus exactly as the published tokenizer.json (with and without special tokens)', () => {
    const a = new Tokenizer(built, config);
    const b = new Tokenizer(published, config);
    for (const { text } of ref.tokenizer_corpus) {
      expect(a.encode(text).ids, text).toEqual(b.encode(text).ids);
      expect(a.encode(text, { add_special_tokens: false }).tokens, text).toEqual(b.encode(text, { add_special_tokens: false }).tokens);
    }
  });

  it('gives the 77 pipeline ids of the Python reference tokenizer (pad <|endoftext|> and pad "!")', () => {
    const eosPad = new ClipTokenizer(built, config);
    const dir2 = 'public/models/hearth-tiny-sdxl-turbo/tokenizer_2';
    const config2 = readJson<object>(`${dir2}/tokenizer_config.json`);
    const bangPad = new ClipTokenizer(clipTokenizerJson(readJson(`${dir2}/vocab.json`), readFileSync(`${ROOT}${dir2}/merges.txt`, 'utf8'), config2), config2);
    for (const c of ref.tokenizer_corpus) {
      expect(eosPad.ids77(c.text), c.text).toEqual(c.input_ids);
      expect(bangPad.ids77(c.text), c.text).toEqual(c.input_ids_pad0);
    }
  });
});

describe('trailing Euler schedule', () => {
  it('has diffusers\' trailing timesteps (numpy rounding) and their training sigmas', () => {
    const train = new KarrasSchedule(readJson<SchedulerConfig>('public/models/hearth-tiny-sdxl-turbo/scheduler/scheduler_config.json'));
    expect(trailingSchedule(train, 1).timesteps).toEqual([999]);
    expect(trailingSchedule(train, 4).timesteps).toEqual([999, 749, 499, 249]);
    expect(trailingSchedule(train, 3).timesteps).toEqual([999, 666, 332]);
    expect(trailingSchedule(train, 16).timesteps.slice(0, 4)).toEqual([999, 937, 874, 811]); // 937.5 → 938 and 812.5 → 812 (ties to even)
    const s = trailingSchedule(train, 1).sigmas;
    expect(s[0]).toBeCloseTo(14.6146, 3); // sigma_max, the Turbo demos' constant
    expect(s[1]).toBe(0);
  });
});

describe.each([
  ['hearth/tiny-sdxl-turbo', ref.sdxl_turbo.cases],
  ['hearth/tiny-sd-turbo', ref.sd_turbo.cases],
] as const)('%s equals torch (wasm)', (id, cases) => {
  const s = service();
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const { rgba, steps } = await generate(s, entry(id), c);
    const want = u8(c.image);
    const d = compare(rgba, want);
    expect(d.far, `${d.far} values more than 1 off (mean ${d.mean})`).toBe(0);
    expect(d.mean).toBeLessThan(0.02);
    expect(steps.length).toBe(c.image_strength ? Math.round(c.steps * c.image_strength) : c.steps);
  });

  it('the reference images are not trivial and differ between cases', () => {
    const imgs = cases.map((c) => u8(c.image));
    for (const img of imgs) expect(new Set(img).size).toBeGreaterThan(20);
    expect(compare(rgbToRgba(imgs[0]), imgs[1]).mean).toBeGreaterThan(5);
  });
});

describe('steps below the spec\'s minimum of 10, for Turbo entries only', () => {
  const { handle } = nodeApi();
  const call = async (model: string, steps: number) => {
    const res = await handle(post('/image_generation/accounts/fireworks/models/stable-diffusion-xl-1024-v1-0', { model, text_prompts: [{ text: 'x' }], steps, width: 64, height: 64 }));
    const json = res.headers.get('content-type')?.includes('json');
    return { status: res.status, body: (json ? await res.json() : null) as { error: { param: string; message: string } } };
  };

  it('a Turbo entry takes 1 step (the Node image engine runs it)', async () => {
    expect((await call('hearth/tiny-sdxl-turbo', 1)).status).toBe(200);
  });

  it('0 steps on a Turbo entry, and 5 on SDXL, are 400s naming steps', async () => {
    const zero = await call('hearth/tiny-sdxl-turbo', 0);
    expect(zero.status).toBe(400);
    expect(zero.body.error).toMatchObject({ param: 'steps' });
    expect(zero.body.error.message).toContain('>= 1 for hearth/tiny-sdxl-turbo');
    const sdxl = await call('hearth/tiny-sdxl', 5);
    expect(sdxl.status).toBe(400);
    expect(sdxl.body.error).toMatchObject({ param: 'steps' });
  });
});

describe('fp16 image exports (requiresF16)', () => {
  it('are refused on wasm, saying they need WebGPU with shader-f16', async () => {
    const base = entry('hearth/tiny-sd-turbo');
    const f16 = { ...base, id: 'test/f16-sd-turbo', image: { ...base.image!, requiresF16: true } };
    const c = ref.sd_turbo.cases[0];
    await expect(generate(service(), f16, c)).rejects.toThrow(/shader-f16/);
  });
});

// The image engine end to end (ImageService on onnxruntime-web wasm in Node, the tiny SDXL from public/).
// LoRA:
// the built-in adapters are fetched through the real URL rules (hearth/… → the app's hub/ folder, read from
// public/hub here), merged — PEFT on the CPU, kohya with the WGSL kernel on Dawn — and sampled; the images equal the
// torch references of tests/fixtures/sdxl/lora-reference.json, differ from the base model's, and the base model
// still gives its own reference afterwards. Bad adapters are 400s that leave the engine serving.
// Safety check: the tiny checker's concept 0 is the seed-42 reference image (tests/fixtures/sdxl/README.md), so with
// `safetyCheck` sample 0 (seed 42) comes back black and CONTENT_FILTERED and sample 1 (seed 43) untouched.
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { HearthError } from '../../src/api/errors';
import { cannyReference } from '../../src/engines/image/canny-cpu';
import type { ImageCodec } from '../../src/engines/image/codec';
import { fetchLoraAdapter } from '../../src/engines/image/lora/fetch';
import { GpuLoraMerger } from '../../src/engines/image/lora/gpu-merge';
import { cpuMerger, type WeightMerger } from '../../src/engines/image/lora/merge';
import { loadImageFiles } from '../../src/engines/image/files';
import { ImageService, type SdxlFiles } from '../../src/engines/image/service';
import { directoryFiles } from '../../src/server/model-files';
import type { ImageEvent, ImageJob } from '../../src/engines/image/types';
import { CATALOG } from '../../src/models/catalog';
import type { CatalogEntry } from '../../src/models/types';
import { getDevice, skipGpu } from './dawn';
import { readJson, ROOT } from './node-api';

ort.env.wasm.numThreads = 1;

interface T { shape: number[]; b64: string }
interface LoraCase { seed: number; prompt: string; negative_prompt: string; width: number; height: number; steps: number; cfg_scale: number; image: T }
const lref = readJson<{ adapters: Record<'peft' | 'kohya', { file: string; cases: { txt2img: LoraCase } }> }>('tests/fixtures/sdxl/lora-reference.json');
const ref = readJson<{ seeded: { txt2img: { samples_1: { image: T } } } }>('tests/fixtures/sdxl/reference.json');
const u8 = (t: T) => new Uint8Array(Buffer.from(t.b64, 'base64'));

const entry = CATALOG.find((e) => e.id === 'hearth/tiny-sdxl')!;
const read = (e: CatalogEntry, role: string) => new Uint8Array(readFileSync(`${ROOT}public/${e.files.find((f) => f.role === role)!.url}`));
const json = (e: CatalogEntry, role: string) => JSON.parse(new TextDecoder().decode(read(e, role))) as object;

/** The model's files as the worker gathers them (sdxl/files.ts), read from public/. */
const loadFiles = (e: CatalogEntry): Promise<SdxlFiles> => loadImageFiles(e, directoryFiles(`${ROOT}public`));

/** The app's hub/ folder as the browser would fetch it, read from public/hub. */
const APP_HUB = 'http://app.test/hub/';
const fetched: string[] = [];
const appFetch = (async (url: string) => {
  fetched.push(url);
  if (!url.startsWith(APP_HUB)) return new Response('not here', { status: 404 });
  try {
    return new Response(readFileSync(`${ROOT}public/hub/${decodeURIComponent(url.slice(APP_HUB.length))}`));
  } catch {
    return new Response('Entry not found', { status: 404 });
  }
}) as unknown as typeof fetch;

/** Raw RGBA as the "encoded" image: the pixels are what is compared. */
const rawCodec: ImageCodec = {
  decode: async () => { throw new Error('not used'); },
  encode: async (img: { data: Uint8Array }) => img.data.slice().buffer,
} as unknown as ImageCodec;

function service(merger: () => Promise<WeightMerger> = async () => cpuMerger) {
  return new ImageService({
    loadSafetyChecker: async (e) => ({ model: read(e, 'safety_checker'), preprocessor: json(e, 'safety_checker_config') }),
    ort, devices: ['wasm'], loadFiles, codec: rawCodec,
    canny: async (rgba, w, h, low, high) => { const r = cannyReference(rgba, w, h, { low, high }); return { chw: r.chw, rgba: r.edges }; },
    fetchLora: (source) => fetchLoraAdapter(source, { hubEndpoint: 'https://huggingface.co', builtinHub: APP_HUB, fetch: appFetch }),
    loraMerger: merger,
  });
}

function job(c: LoraCase, lora?: ImageJob['lora']): ImageJob {
  return {
    entry, mode: 'text_to_image', prompt: c.prompt, negativePrompt: c.negative_prompt, width: c.width, height: c.height,
    steps: c.steps, cfgScale: c.cfg_scale, samples: 1, seed: c.seed, schedule: { start: 1, end: 0 },
    output: { type: 'image/png' }, ...(lora && { lora }),
  };
}

async function generateAll(s: ImageService, j: ImageJob) {
  const reader = (await s.run(j)).getReader();
  const images: { rgba: Uint8Array; finishReason: string; seed: number }[] = [];
  let backend = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    const e = value as ImageEvent;
    if (e.type === 'start') backend = e.backend;
    if (e.type === 'image') images.push({ rgba: new Uint8Array(e.bytes), finishReason: e.finishReason, seed: e.seed });
  }
  return { images, backend };
}

async function generate(s: ImageService, j: ImageJob): Promise<{ rgba: Uint8Array; backend: string }> {
  const { images, backend } = await generateAll(s, j);
  return { rgba: images[0].rgba, backend };
}

/** Values more than 1 off, and values off at all, of an RGBA image against a torch RGB one. */
function compare(rgba: Uint8Array, rgb: Uint8Array) {
  let far = 0;
  let off = 0;
  let sum = 0;
  for (let p = 0; p < rgb.length / 3; p++) {
    for (let c = 0; c < 3; c++) {
      const d = Math.abs(rgba[p * 4 + c] - rgb[p * 3 + c]);
      sum += d;
      if (d > 1) far++;
      if (d > 0) off++;
    }
  }
  return { far, off, mean: sum / rgb.length };
}

const repo = 'hearth/tiny-sdxl-lora';

describe('LoRA in the SDXL engine (wasm, tiny SDXL)', () => {
  it('PEFT adapter merged on the CPU: the image equals torch and differs from the base model', async () => {
    const s = service(async () => cpuMerger);
    const c = lref.adapters.peft.cases.txt2img;
    const { rgba, backend } = await generate(s, job(c, { repo, filename: lref.adapters.peft.file }));
    expect(backend).toBe('onnx/wasm+lora');
    const vsTorch = compare(rgba, u8(c.image));
    expect(vsTorch.far).toBe(0);
    expect(vsTorch.off).toBeLessThanOrEqual(3);
    expect(compare(rgba, u8(ref.seeded.txt2img.samples_1.image)).mean).toBeGreaterThan(10);
    expect(await s.loaded()).toEqual([{ id: 'hearth/tiny-sdxl', device: 'wasm', backend: 'onnx', skipped: [], loras: [`${repo}/pytorch_lora_weights.safetensors`] }]);
    expect(fetched.at(-1)).toBe(`${APP_HUB}${repo}/resolve/main/pytorch_lora_weights.safetensors`);

    // The plain model is loaded from untouched bytes: it still gives its own reference.
    const base = await generate(s, job(c));
    expect(base.backend).toBe('onnx/wasm');
    expect(compare(base.rgba, u8(ref.seeded.txt2img.samples_1.image)).far).toBe(0);
    await s.unload('hearth/tiny-sdxl');
    expect(await s.loaded()).toEqual([]);
  });

  it.skipIf(skipGpu)('kohya adapter (fp16, alpha, LoCon convs) merged by the WGSL kernel: the image equals torch', async () => {
    const device = await getDevice('sdxl-lora-service');
    const gpu = await GpuLoraMerger.create(device, readFileSync(`${ROOT}shaders/lora/merge.wgsl`, 'utf8'));
    const s = service(async () => gpu);
    const c = lref.adapters.kohya.cases.txt2img;
    const { rgba } = await generate(s, job(c, { repo, filename: lref.adapters.kohya.file }));
    const vsTorch = compare(rgba, u8(c.image));
    expect(vsTorch.far).toBe(0);
    expect(vsTorch.off).toBeLessThanOrEqual(3);
    expect(gpu.cpuFallbacks).toBe(0);
    device.destroy();
  });

  it('bad adapters are 400s before any model is loaded, and the engine keeps serving', async () => {
    const s = service(async () => cpuMerger);
    const c = lref.adapters.peft.cases.txt2img;
    const failures: [ImageJob['lora'], Partial<HearthError>][] = [
      [{ repo, filename: 'sdxl_base_lora.safetensors' }, { status: 400, code: 'lora_mismatch', param: 'lora_adapter_name' }],
      [{ repo, filename: 'missing.safetensors' }, { status: 400, code: 'lora_not_found', param: 'lora_weight_filename' }],
    ];
    for (const [lora, expected] of failures) {
      const error = await generate(s, job(c, lora)).then(() => null, (e: unknown) => e as HearthError);
      expect(error).toBeInstanceOf(HearthError);
      expect(error).toMatchObject(expected);
    }
    expect(await s.loaded()).toEqual([]);
    const { rgba } = await generate(s, job(c, { repo, filename: lref.adapters.peft.file }));
    expect(compare(rgba, u8(c.image)).far).toBe(0);
  });
});

describe('safety check in the SDXL engine (wasm, tiny SDXL and its tiny checker)', () => {
  it('filters the flagged sample (black, CONTENT_FILTERED) and leaves the other untouched', async () => {
    const s = service();
    const c = lref.adapters.peft.cases.txt2img;
    const checked = await generateAll(s, { ...job(c), samples: 2, safetyCheck: true });
    expect(checked.images.map((i) => [i.seed, i.finishReason])).toEqual([[42, 'CONTENT_FILTERED'], [43, 'SUCCESS']]);
    const black = checked.images[0].rgba;
    expect(black.every((v, i) => v === (i % 4 === 3 ? 255 : 0))).toBe(true);
    const unchecked = await generateAll(s, { ...job(c), samples: 2 });
    expect(unchecked.images.map((i) => i.finishReason)).toEqual(['SUCCESS', 'SUCCESS']);
    expect(compare(unchecked.images[0].rgba, u8(ref.seeded.txt2img.samples_1.image)).far).toBe(0);
    expect(checked.images[1].rgba).toEqual(unchecked.images[1].rgba);
  });
});

describe('jobs in the SDXL engine (wasm, tiny SDXL)', () => {
  const c = lref.adapters.peft.cases.txt2img;

  it('progress is live: step events arrive while the sample is still denoising', async () => {
    const s = service();
    await generate(s, job(c)); // load first, so timings are the sampling's
    const reader = (await s.run(job(c))).getReader();
    const at: Record<string, number[]> = { progress: [], image: [] };
    const t0 = performance.now();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (value.type === 'progress' || value.type === 'image') at[value.type].push(performance.now() - t0);
    }
    expect(at.progress).toHaveLength(10);
    const spread = at.progress[9] - at.progress[0];
    const total = at.image[0];
    // Buffered progress would arrive in one burst at the end; live progress spans most of the sampling.
    expect(spread, `progress at ${at.progress.map((t) => t.toFixed(0)).join(', ')} ms, image at ${total.toFixed(0)} ms`).toBeGreaterThan(total * 0.5);
  });

  it('a job keeps its pipeline when another adapter replaces it mid-run, and a cancelled job frees the queue', async () => {
    const s = service();
    const a = (await s.run(job(c, { repo, filename: lref.adapters.peft.file }))).getReader();
    expect((await a.read()).value?.type).toBe('start');
    // B's adapter retires A's merged copy while A is denoising: A must finish on it, correctly.
    const bStream = s.run(job(lref.adapters.kohya.cases.txt2img, { repo, filename: lref.adapters.kohya.file }));
    let aImage: Uint8Array | undefined;
    for (;;) {
      const { value, done } = await a.read();
      if (done) break;
      if (value.type === 'image') aImage = new Uint8Array(value.bytes);
    }
    expect(compare(aImage!, u8(c.image)).far).toBe(0);
    const b = await collect(await bStream);
    expect(compare(b, u8(lref.adapters.kohya.cases.txt2img.image)).far).toBe(0);
    expect((await s.loaded()).flatMap((m) => m.loras ?? [])).toEqual([`${repo}/${lref.adapters.kohya.file}`]);

    // Cancel after the first step: the next job runs and equals its reference.
    const cancelled = (await s.run(job(c))).getReader();
    for (;;) {
      const { value } = await cancelled.read();
      if (value?.type === 'progress') break;
    }
    await cancelled.cancel();
    const after = await collect(await s.run(job(c)));
    expect(compare(after, u8(ref.seeded.txt2img.samples_1.image)).far).toBe(0);
  });
});

async function collect(stream: ReadableStream<ImageEvent>): Promise<Uint8Array> {
  const reader = stream.getReader();
  let rgba: Uint8Array | undefined;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    if (value.type === 'image') rgba = new Uint8Array(value.bytes);
  }
  return rgba!;
}

describe('LoRA with ControlNet (wasm, tiny SDXL)', () => {
  it('the UNet-with-residuals graph is merged too: the PEFT control_net image equals torch', async () => {
    const edges = readJson<{ images: { edge_map: T } }>('tests/fixtures/sdxl/reference.json').images.edge_map;
    const hwc = u8(edges);
    const chw = new Float32Array(3 * 64 * 64);
    for (let p = 0; p < 64 * 64; p++) for (let ch = 0; ch < 3; ch++) chw[ch * 64 * 64 + p] = hwc[p * 3 + ch] / 255;
    // The torch reference feeds the edge map itself as the control image: so does this "canny" (the detector is
    // tested against its CPU reference in canny.test.ts).
    const s = new ImageService({
      ort, devices: ['wasm'], loadFiles,
      codec: { decode: async () => new Uint8Array(64 * 64 * 4), encode: async (img: { data: Uint8Array }) => img.data.slice().buffer } as unknown as ImageCodec,
      canny: async () => ({ chw, rgba: new Uint8Array(0) }),
      fetchLora: (source) => fetchLoraAdapter(source, { hubEndpoint: 'https://huggingface.co', builtinHub: APP_HUB, fetch: appFetch }),
      loraMerger: async () => cpuMerger,
    });
    const c = lref.adapters.peft.cases as unknown as { control_net: LoraCase & { conditioning_scale: number } };
    const cn = c.control_net;
    const rgba = await collect(await s.run({
      ...job(cn, { repo, filename: lref.adapters.peft.file }), mode: 'control_net',
      control: { image: { bytes: new ArrayBuffer(8), type: 'image/png' }, scale: cn.conditioning_scale, start: 0, end: 1, lowThreshold: 100, highThreshold: 200 },
    }));
    const vsTorch = compare(rgba, u8(cn.image));
    expect(vsTorch.far).toBe(0);
    expect(vsTorch.off).toBeLessThanOrEqual(3);
  });
});

// The safety checker (src/engines/image/safety.ts) against tests/fixtures/sdxl/safety-reference.json, written by
// scripts/fixtures_safety.py: CLIPImageProcessor's preprocessing reproduced exactly (uint8 crop bit for bit, float32
// clip_input), the tiny StableDiffusionSafetyChecker export (public/models/hearth-tiny-sdxl/safety_checker/) run in
// onnxruntime-web (wasm, in Node) giving torch's has_nsfw_concepts for every test image, the named cases (seed 42
// flagged, seed 43 not, one flagged through the special-care adjustment only, one near miss), and a batch = singles.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-web';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  CLIP_PREPROCESS, SAFETY_IO, SafetyChecker, clipCrop, clipNormalize, clipPreprocess, parsePreprocessorConfig,
  pilResize, resizeOutputSize, type ClipPreprocessConfig,
} from '../../src/engines/image/safety';
import type { RgbaImage } from '../../src/engines/image/types';

const root = fileURLToPath(new URL('../../', import.meta.url));
const readJson = <T>(rel: string): T => JSON.parse(readFileSync(root + rel, 'utf8')) as T;

interface U8 { dtype: 'uint8'; shape: number[]; b64: string }
interface ValueType { dtype: string; shape: (string | number)[] }
interface SafetyImage {
  name: string;
  source: { from: string; index: number } | { synthetic: { height: number; width: number } };
  source_sha256: string;
  height: number;
  width: number;
  resized: [number, number];
  crop_top_left: [number, number];
  crop_sha256: string;
  crop?: U8;
  clip_input_sha256: string;
  clip_input_sample: { index: number[]; value: number[] };
  clip_input_sum: number;
  clip_input_abs_sum: number;
  special_scores: number[];
  special_care: boolean;
  concept_scores: number[];
  has_nsfw_concepts: boolean;
}
interface SafetyReference {
  model: string;
  io: { inputs: string[]; outputs: string[]; types: Record<string, ValueType> };
  fp16io: { model: string; io: { inputs: string[]; outputs: string[]; types: Record<string, ValueType> } };
  preprocess: { config: Record<string, unknown> };
  cases: { flagged: string; not_flagged: string; flagged_by_special_care: string; near_miss: string; flagged_all: string[] };
  min_margin: number;
  images: SafetyImage[];
}

const ref = readJson<SafetyReference>('tests/fixtures/sdxl/safety-reference.json');
const sdxlRef = readJson<Record<string, unknown>>('tests/fixtures/sdxl/reference.json');
const modelDir = 'public/models/hearth-tiny-sdxl/safety_checker/';

ort.env.wasm.numThreads = 1;

const bytes = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));
const view = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const sha256 = (a: ArrayBufferView) => createHash('sha256').update(view(a)).digest('hex');
/** Byte equality of two typed arrays (vitest's toEqual is slow on millions of elements). */
const same = (a: ArrayBufferView, b: ArrayBufferView) => a.constructor === b.constructor && view(a).equals(view(b));

/** The fixture's synthetic picture: r = x*255 // (w-1), g = y*255 // (h-1), b = (x² + 3y² + 7xy) % 256. */
function synthetic(h: number, w: number): Uint8Array {
  const out = new Uint8Array(h * w * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 3;
      out[o] = Math.floor((x * 255) / (w - 1));
      out[o + 1] = Math.floor((y * 255) / (h - 1));
      out[o + 2] = (x * x + 3 * y * y + 7 * x * y) % 256;
    }
  }
  return out;
}

/** A uint8 tensor of reference.json by dotted path (numeric parts index arrays), one row of a batch. */
function referenceImage(path: string, index: number): Uint8Array {
  let obj: unknown = sdxlRef;
  for (const key of path.split('.')) obj = Array.isArray(obj) ? obj[Number(key)] : (obj as Record<string, unknown>)[key];
  const t = obj as U8;
  const data = bytes(t.b64);
  const per = t.shape.slice(-3).reduce((a, b) => a * b, 1);
  return data.slice(index * per, (index + 1) * per);
}

const rgbOf = (img: SafetyImage): Uint8Array => ('from' in img.source
  ? referenceImage(img.source.from, img.source.index)
  : synthetic(img.source.synthetic.height, img.source.synthetic.width));

function toRgba(rgb: Uint8Array): Uint8Array {
  const out = new Uint8Array((rgb.length / 3) * 4);
  for (let p = 0, q = 0; p < rgb.length; p += 3, q += 4) {
    out[q] = rgb[p];
    out[q + 1] = rgb[p + 1];
    out[q + 2] = rgb[p + 2];
    out[q + 3] = 255;
  }
  return out;
}

const images: RgbaImage[] = ref.images.map((img) => ({ width: img.width, height: img.height, data: toRgba(rgbOf(img)) }));
const byName = (name: string) => ref.images.findIndex((i) => i.name === name);

describe('safety checker preprocessing (CLIPImageProcessor)', () => {
  it('starts from the pictures the fixture was made from', () => {
    // a mismatch means reference.json (the tiny SDXL's outputs) changed: re-run scripts/fixtures_safety.py
    for (const [k, img] of ref.images.entries()) {
      expect(images[k].data.length).toBe(img.height * img.width * 4);
      expect(sha256(rgbOf(img)), `${img.name}: source changed, re-run scripts/fixtures_safety.py`).toBe(img.source_sha256);
    }
  });

  it('reads preprocessor_config.json in both formats', () => {
    const fixture = parsePreprocessorConfig(readJson<unknown>(`${modelDir}preprocessor_config.json`));
    expect(fixture).toEqual(CLIP_PREPROCESS);
    expect(parsePreprocessorConfig(ref.preprocess.config)).toEqual(CLIP_PREPROCESS);
    // CompVis/stable-diffusion-safety-checker's own file (the older CLIPFeatureExtractor format)
    const compvis = {
      crop_size: 224, do_center_crop: true, do_normalize: true, do_resize: true, feature_extractor_type: 'CLIPFeatureExtractor',
      image_mean: [0.48145466, 0.4578275, 0.40821073], image_std: [0.26862954, 0.26130258, 0.27577711], resample: 3, size: 224,
    };
    expect(parsePreprocessorConfig(compvis)).toEqual(CLIP_PREPROCESS);
    expect(parsePreprocessorConfig(undefined)).toEqual(CLIP_PREPROCESS);
    expect(parsePreprocessorConfig({ size: { height: 100, width: 50 }, crop_size: { height: 32, width: 16 }, resample: 2, image_mean: [0, 0, 0] }))
      .toMatchObject({ size: { height: 100, width: 50 }, crop: { height: 32, width: 16 }, resample: 2, mean: [0, 0, 0] });
    expect(() => parsePreprocessorConfig({ resample: 1 })).toThrow(/resample/);
  });

  it('resizes the shortest edge to 224 and crops the centre as transformers does', () => {
    for (const img of ref.images) {
      expect(resizeOutputSize(img.height, img.width, 224), img.name).toEqual(img.resized);
      const [rh, rw] = img.resized;
      expect([Math.floor((rh - 224) / 2), Math.floor((rw - 224) / 2)], img.name).toEqual(img.crop_top_left);
    }
  });

  it('gives the uint8 crop bit for bit (PIL bicubic port) and the float32 clip_input of the reference', () => {
    for (const [k, img] of ref.images.entries()) {
      const crop = clipCrop(images[k].data, img.width, img.height);
      expect([crop.width, crop.height]).toEqual([224, 224]);
      if (img.crop) expect(same(crop.data, bytes(img.crop.b64)), img.name).toBe(true);
      expect(sha256(crop.data), img.name).toBe(img.crop_sha256);
      const x = clipNormalize(crop);
      expect(same(x, clipPreprocess(images[k].data, img.width, img.height))).toBe(true);
      img.clip_input_sample.index.forEach((i, j) => expect(Math.abs(x[i] - img.clip_input_sample.value[j]), `${img.name}[${i}]`).toBeLessThan(1e-6));
      let sum = 0;
      let abs = 0;
      for (const v of x) {
        sum += v;
        abs += Math.abs(v);
      }
      expect(Math.abs(sum - img.clip_input_sum)).toBeLessThan(1e-6 * img.clip_input_abs_sum);
      expect(Math.abs(abs - img.clip_input_abs_sum)).toBeLessThan(1e-6 * img.clip_input_abs_sum);
      // the float math is numpy's float32 arithmetic exactly, so the bytes match too
      expect(sha256(x), img.name).toBe(img.clip_input_sha256);
    }
  });

  it('takes RGB as well as RGBA, ignores alpha, and skips unchanged axes', () => {
    const k = byName('synthetic_144x80');
    const img = ref.images[k];
    const rgb = rgbOf(img);
    const want = clipCrop(images[k].data, img.width, img.height).data;
    expect(same(clipCrop(rgb, img.width, img.height, CLIP_PREPROCESS, 3).data, want)).toBe(true);
    const transparent = images[k].data.slice();
    for (let i = 3; i < transparent.length; i += 4) transparent[i] = 0;
    expect(same(clipCrop(transparent, img.width, img.height).data, want)).toBe(true);
    expect(same(pilResize(rgb, img.width, img.height, 3, img.width, img.height), rgb)).toBe(true);
    expect(() => clipCrop(rgb, img.width, img.height)).toThrow(/pixel values/);
  });

  it('pads a crop larger than an un-resized image with zeros, as transformers does', () => {
    const config: ClipPreprocessConfig = { ...CLIP_PREPROCESS, doResize: false, crop: { height: 4, width: 4 } };
    const rgb = new Uint8Array(2 * 3 * 3).fill(7); // 2 high, 3 wide
    const crop = clipCrop(rgb, 3, 2, config, 3);
    // top = (2 - 4) // 2 = -1, left = (3 - 4) // 2 = -1: rows 1–2 and columns 1–3 hold the image
    const at = (y: number, x: number) => crop.data[(y * 4 + x) * 3];
    expect([at(0, 0), at(1, 1), at(2, 3), at(3, 1), at(1, 0)]).toEqual([0, 7, 7, 0, 0]);
  });
});

describe('safety checker model (onnxruntime-web, wasm)', () => {
  let session: ort.InferenceSession;
  beforeAll(async () => {
    session = await ort.InferenceSession.create(new Uint8Array(readFileSync(root + ref.model)), { executionProviders: ['wasm'] });
  });

  it('has the diffusers export I/O', () => {
    expect(session.inputNames).toEqual(ref.io.inputs);
    expect(session.outputNames).toEqual(ref.io.outputs);
    expect(ref.io.inputs).toEqual([SAFETY_IO.clipInput, SAFETY_IO.images]);
    expect(ref.io.outputs).toEqual([SAFETY_IO.outImages, SAFETY_IO.hasNsfw]);
    const types = Object.fromEntries([...session.inputMetadata, ...session.outputMetadata]
      .map((m) => [m.name, m.isTensor ? { dtype: m.type, shape: m.shape } : null]));
    expect(types).toEqual(ref.io.types);
  });

  it('the graph flags what torch flags and zeroes those images (any images size)', async () => {
    for (const [k, img] of ref.images.entries()) {
      const clip = new ort.Tensor('float32', clipPreprocess(images[k].data, img.width, img.height), [1, 3, 224, 224]);
      const rgb = rgbOf(img);
      const pixels = Float32Array.from(rgb, (v) => v / 255);
      const out = await session.run({ clip_input: clip, images: new ort.Tensor('float32', pixels, [1, img.height, img.width, 3]) });
      const flags = out.has_nsfw_concepts;
      const outImages = out.out_images;
      expect(flags.type).toBe('bool');
      expect(Boolean(flags.data[0]), img.name).toBe(img.has_nsfw_concepts);
      expect(outImages.dims).toEqual([1, img.height, img.width, 3]);
      const data = outImages.data as Float32Array;
      expect(same(data, img.has_nsfw_concepts ? new Float32Array(pixels.length) : pixels), img.name).toBe(true);
    }
  });

  it('SafetyChecker.check gives torch\'s has_nsfw_concepts for every reference image', async () => {
    const checker = new SafetyChecker(ort, session, { preprocessor: readJson<unknown>(`${modelDir}preprocessor_config.json`) });
    expect(checker.batchSize).toBe(1);
    const got = await checker.check(images);
    expect(got).toEqual(ref.images.map((i) => i.has_nsfw_concepts));
    expect(ref.images.filter((_, k) => got[k]).map((i) => i.name)).toEqual(ref.cases.flagged_all);
  });

  it('covers the named cases: flagged, not flagged, special care, near miss', async () => {
    const checker = new SafetyChecker(ort, session);
    const names = [ref.cases.flagged, ref.cases.not_flagged, ref.cases.flagged_by_special_care, ref.cases.near_miss];
    expect(names).toEqual(['seeded_txt2img_seed42', 'seeded_txt2img_seed43', 'seeded_img2img_strength06', 'seeded_controlnet']);
    expect(await checker.check(names.map((n) => images[byName(n)]))).toEqual([true, false, true, false]);
    const special = ref.images[byName(ref.cases.flagged_by_special_care)];
    const near = ref.images[byName(ref.cases.near_miss)];
    // flagged only because special care adds 0.01; the near miss is within 0.01 of its threshold, without special care
    expect(special.special_care).toBe(true);
    expect(Math.max(...special.concept_scores.map((s) => s - 0.01))).toBeLessThan(0);
    expect(near.special_care).toBe(false);
    expect(Math.max(...near.concept_scores)).toBeGreaterThan(-0.01);
    for (const img of ref.images) {
      for (const s of [...img.special_scores, ...img.concept_scores]) expect(Math.abs(s)).toBeGreaterThan(ref.min_margin);
      expect(img.special_care).toBe(img.special_scores.some((s) => s > 0));
      expect(img.has_nsfw_concepts).toBe(img.concept_scores.some((s) => s > 0));
    }
  });

  it('a batch of mixed sizes equals the single runs', async () => {
    const singles = await new SafetyChecker(ort, session).check(images);
    const all = await new SafetyChecker(ort, session, { batchSize: images.length }).check(images);
    const threes = await new SafetyChecker(ort, session, { batchSize: 3 }).check([...images].reverse());
    expect(all).toEqual(singles);
    expect(threes).toEqual([...singles].reverse());
    expect(await new SafetyChecker(ort, session).check([])).toEqual([]);
  });

  it('keeps its decision when a few pixel values are off by one (as ORT-sampled images are)', async () => {
    const checker = new SafetyChecker(ort, session);
    const perturbed = images.map((im) => {
      const data = im.data.slice();
      for (let i = 0; i < data.length; i += 1013) if (i % 4 !== 3) data[i] = data[i] === 255 ? 254 : data[i] + 1;
      return { ...im, data };
    });
    expect(await checker.check(perturbed)).toEqual(ref.images.map((i) => i.has_nsfw_concepts));
  });

  it('feeds float16 exports float16 (same flags)', async () => {
    const fp16 = await ort.InferenceSession.create(new Uint8Array(readFileSync(root + ref.fp16io.model)), { executionProviders: ['wasm'] });
    const meta = Object.fromEntries(fp16.inputMetadata.map((m) => [m.name, m.isTensor ? m.type : 'non-tensor']));
    expect(meta).toEqual({ clip_input: 'float16', images: 'float16' });
    expect(ref.fp16io.io.types.out_images.dtype).toBe('float16');
    const got = await new SafetyChecker(ort, fp16, { batchSize: 4 }).check(images);
    expect(got).toEqual(ref.images.map((i) => i.has_nsfw_concepts));
    await fp16.release();
  });

  it('refuses a session that is not a safety checker', async () => {
    const vae = await ort.InferenceSession.create(new Uint8Array(readFileSync(`${root}public/models/hearth-tiny-sdxl/vae_decoder/model.onnx`)));
    expect(() => new SafetyChecker(ort, vae)).toThrow(/Not a safety-checker export/);
    await vae.release();
  });
});

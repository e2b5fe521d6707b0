/**
 * The image safety checker behind `safety_check: true`: diffusers' StableDiffusionSafetyChecker
 * (CompVis/stable-diffusion-safety-checker: a CLIP vision tower, a projection, and cosine similarities against fixed
 * "concept" embeddings with per-concept thresholds) as diffusers exports it to ONNX (`forward_onnx`): inputs
 * `clip_input` [B, 3, 224, 224] and `images` [B, H, W, 3], outputs `out_images` (flagged images zeroed) and
 * `has_nsfw_concepts` [B] (bool). A flagged image is answered with Finish-Reason CONTENT_FILTERED.
 *
 * `clipPreprocess` is CLIPImageProcessor's preprocessing, done as transformers does it on a PIL image: resize the
 * shortest edge to 224 with PIL's bicubic filter (ported exactly from Pillow's libImaging/Resample.c: fixed-point
 * 8-bit coefficients, horizontal pass then vertical, each pass rounded to uint8), centre crop 224 × 224, rescale by
 * 1/255 and normalise with CLIP's mean/std in float32. There is no deviation to document: the uint8 crop equals
 * Pillow's bit for bit (checked by scripts/fixtures_safety.py against Pillow, and by the unit test against its
 * reference), and the float32 arithmetic is numpy's. Pure code, no DOM: it runs in workers and in Node.
 */
import { setFloat16 } from '@petamoriken/float16';
import type * as OrtModule from 'onnxruntime-web';
import type { Ort } from '../../core/session';
import type { RgbaImage } from './types';

type Session = OrtModule.InferenceSession;

/** The ONNX export's I/O names (diffusers' scripts/convert_stable_diffusion_checkpoint_to_onnx.py). */
export const SAFETY_IO = {
  clipInput: 'clip_input',
  images: 'images',
  outImages: 'out_images',
  hasNsfw: 'has_nsfw_concepts',
} as const;

type Rgb3 = [number, number, number];

/** CLIPImageProcessor's settings, as read from a preprocessor_config.json. */
export interface ClipPreprocessConfig {
  doResize: boolean;
  /** `shortestEdge`: scale so the shorter side is that long (CLIP); `height`/`width`: resize to exactly that. */
  size: { shortestEdge: number } | { height: number; width: number };
  /** PIL's filter id: 2 bilinear, 3 bicubic (CLIP's). */
  resample: 2 | 3;
  doCenterCrop: boolean;
  crop: { height: number; width: number };
  doRescale: boolean;
  rescaleFactor: number;
  doNormalize: boolean;
  mean: Rgb3;
  std: Rgb3;
}

/** CompVis/stable-diffusion-safety-checker's preprocessor (openai/clip-vit-large-patch14's). */
export const CLIP_PREPROCESS: Readonly<ClipPreprocessConfig> = Object.freeze<ClipPreprocessConfig>({
  doResize: true,
  size: { shortestEdge: 224 },
  resample: 3,
  doCenterCrop: true,
  crop: { height: 224, width: 224 },
  doRescale: true,
  rescaleFactor: 1 / 255,
  doNormalize: true,
  mean: [0.48145466, 0.4578275, 0.40821073],
  std: [0.26862954, 0.26130258, 0.27577711],
});

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const posInt = (v: unknown): number | undefined => (typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined);

/**
 * Reads a preprocessor_config.json (CLIPImageProcessor's or the older CLIPFeatureExtractor's: `size` 224 or
 * `{shortest_edge}` or `{height, width}`, `crop_size` 224 or `{height, width}`); what it lacks is CLIP's default.
 */
export function parsePreprocessorConfig(json: unknown): ClipPreprocessConfig {
  const c: ClipPreprocessConfig = { ...CLIP_PREPROCESS, mean: [...CLIP_PREPROCESS.mean], std: [...CLIP_PREPROCESS.std] };
  if (!isRecord(json)) return c;
  const bool = (key: string, fallback: boolean) => (typeof json[key] === 'boolean' ? (json[key] as boolean) : fallback);
  const rgb = (key: string, fallback: Rgb3): Rgb3 => {
    const v = json[key];
    return Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number') ? [v[0], v[1], v[2]] : fallback;
  };
  c.doResize = bool('do_resize', c.doResize);
  c.doCenterCrop = bool('do_center_crop', c.doCenterCrop);
  c.doRescale = bool('do_rescale', c.doRescale);
  c.doNormalize = bool('do_normalize', c.doNormalize);
  const size = json.size;
  if (posInt(size)) c.size = { shortestEdge: size as number };
  else if (isRecord(size)) {
    if (posInt(size.shortest_edge)) c.size = { shortestEdge: size.shortest_edge as number };
    else if (posInt(size.height) && posInt(size.width)) c.size = { height: size.height as number, width: size.width as number };
  }
  const crop = json.crop_size;
  if (posInt(crop)) c.crop = { height: crop as number, width: crop as number };
  else if (isRecord(crop) && posInt(crop.height) && posInt(crop.width)) c.crop = { height: crop.height as number, width: crop.width as number };
  if (json.resample !== undefined) {
    if (json.resample !== 2 && json.resample !== 3) throw new Error(`Unsupported preprocessor resample ${String(json.resample)} (2 bilinear and 3 bicubic are)`);
    c.resample = json.resample;
  }
  if (typeof json.rescale_factor === 'number') c.rescaleFactor = json.rescale_factor;
  c.mean = rgb('image_mean', c.mean);
  c.std = rgb('image_std', c.std);
  return c;
}

// ---------------------------------------------------------------------------------------------------------------------
// PIL's resize (Pillow libImaging/Resample.c, 8 bits per channel), exactly
// ---------------------------------------------------------------------------------------------------------------------

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 1 << PRECISION_BITS;

function bicubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

function bilinear(x: number): number {
  if (x < 0) x = -x;
  return x < 1 ? 1 - x : 0;
}

interface Coeffs { ksize: number; xmin: Int32Array; count: Int32Array; k: Int32Array }

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for the box (0, inSize). */
function precomputeCoeffs(inSize: number, outSize: number, resample: 2 | 3): Coeffs {
  const [filter, filterSupport] = resample === 3 ? [bicubic, 2] : [bilinear, 1];
  const scale = inSize / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = filterSupport * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const xmins = new Int32Array(outSize);
  const counts = new Int32Array(outSize);
  const k = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1.0 / filterscale;
    let xmin = Math.trunc(center - support + 0.5); // C's (int) cast
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      w[x] = filter((x + xmin - center + 0.5) * ss);
      ww += w[x];
    }
    for (let x = 0; x < xmax; x++) {
      const v = ww !== 0 ? w[x] / ww : w[x];
      k[xx * ksize + x] = v < 0 ? Math.trunc(-0.5 + v * ONE) : Math.trunc(0.5 + v * ONE);
    }
    xmins[xx] = xmin;
    counts[xx] = xmax;
  }
  return { ksize, xmin: xmins, count: counts, k };
}

const clip8 = (ss: number): number => {
  const v = Math.floor(ss / ONE); // Pillow: ss >> PRECISION_BITS, clamped to [0, 255]
  return v < 0 ? 0 : v > 255 ? 255 : v;
};

/** One pass along x (`horizontal`) or y of an interleaved uint8 image with `ch` channels. */
function resamplePass(src: Uint8Array, w: number, h: number, ch: number, outSize: number, horizontal: boolean, resample: 2 | 3): Uint8Array {
  const c = precomputeCoeffs(horizontal ? w : h, outSize, resample);
  const ow = horizontal ? outSize : w;
  const oh = horizontal ? h : outSize;
  const out = new Uint8Array(ow * oh * ch);
  const half = 1 << (PRECISION_BITS - 1);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      const o = horizontal ? x : y;
      const kOff = o * c.ksize;
      const min = c.xmin[o];
      const n = c.count[o];
      for (let b = 0; b < ch; b++) {
        let ss = half;
        if (horizontal) for (let t = 0; t < n; t++) ss += src[(y * w + min + t) * ch + b] * c.k[kOff + t];
        else for (let t = 0; t < n; t++) ss += src[((min + t) * w + x) * ch + b] * c.k[kOff + t];
        out[(y * ow + x) * ch + b] = clip8(ss);
      }
    }
  }
  return out;
}

/**
 * PIL's `Image.resize((outW, outH), resample)` of an interleaved uint8 image: the horizontal pass, then the vertical
 * one; a pass whose size does not change is skipped, as Pillow does.
 */
export function pilResize(src: Uint8Array, width: number, height: number, channels: number, outWidth: number, outHeight: number, resample: 2 | 3 = 3): Uint8Array {
  let img = src;
  let w = width;
  if (outWidth !== width) {
    img = resamplePass(img, w, height, channels, outWidth, true, resample);
    w = outWidth;
  }
  if (outHeight !== height) img = resamplePass(img, w, height, channels, outHeight, false, resample);
  return img === src ? src.slice() : img;
}

/** transformers' get_resize_output_image_size(shortest_edge, default_to_square=False): [height, width]. */
export function resizeOutputSize(height: number, width: number, shortestEdge: number): [number, number] {
  const [short, long] = width <= height ? [width, height] : [height, width];
  const newLong = Math.trunc((shortestEdge * long) / short);
  return width <= height ? [newLong, shortestEdge] : [shortestEdge, newLong];
}

/** The uint8 RGB (HWC) picture CLIPImageProcessor normalises: resized and centre-cropped, before any float math. */
export interface ClipCrop { width: number; height: number; data: Uint8Array }

/** RGBA (or RGB, `channels` 3) → the resized, centre-cropped uint8 RGB image. */
export function clipCrop(pixels: Uint8Array, width: number, height: number, config: ClipPreprocessConfig = CLIP_PREPROCESS, channels: 3 | 4 = 4): ClipCrop {
  if (pixels.length !== width * height * channels) throw new Error(`Expected ${width}×${height}×${channels} pixel values, got ${pixels.length}`);
  let rgb: Uint8Array;
  if (channels === 4) {
    rgb = new Uint8Array(width * height * 3);
    for (let p = 0, q = 0; q < rgb.length; p += 4, q += 3) {
      rgb[q] = pixels[p];
      rgb[q + 1] = pixels[p + 1];
      rgb[q + 2] = pixels[p + 2];
    }
  } else rgb = pixels;
  let w = width;
  let h = height;
  if (config.doResize) {
    const [rh, rw] = 'shortestEdge' in config.size ? resizeOutputSize(height, width, config.size.shortestEdge) : [config.size.height, config.size.width];
    rgb = pilResize(rgb, w, h, 3, rw, rh, config.resample);
    w = rw;
    h = rh;
  }
  if (!config.doCenterCrop) return { width: w, height: h, data: rgb === pixels ? rgb.slice() : rgb };
  // transformers' center_crop: top = (H - ch) // 2, left = (W - cw) // 2; zero outside a smaller image
  const { height: chh, width: cw } = config.crop;
  const top = Math.floor((h - chh) / 2);
  const left = Math.floor((w - cw) / 2);
  const out = new Uint8Array(chh * cw * 3);
  for (let y = 0; y < chh; y++) {
    const sy = top + y;
    if (sy < 0 || sy >= h) continue;
    for (let x = 0; x < cw; x++) {
      const sx = left + x;
      if (sx < 0 || sx >= w) continue;
      const s = (sy * w + sx) * 3;
      const d = (y * cw + x) * 3;
      out[d] = rgb[s];
      out[d + 1] = rgb[s + 1];
      out[d + 2] = rgb[s + 2];
    }
  }
  return { width: cw, height: chh, data: out };
}

/** The crop's `clip_input` (CHW float32): numpy's float32 rescale (float64 product, rounded) then normalise. */
export function clipNormalize(crop: ClipCrop, config: ClipPreprocessConfig = CLIP_PREPROCESS, out?: Float32Array, offset = 0): Float32Array {
  const n = crop.width * crop.height;
  const dst = out ?? new Float32Array(3 * n);
  const mean = config.mean.map(Math.fround);
  const std = config.std.map(Math.fround);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < n; i++) {
      const v = crop.data[i * 3 + c];
      let x = config.doRescale ? Math.fround(v * config.rescaleFactor) : v;
      if (config.doNormalize) x = Math.fround(Math.fround(x - mean[c]) / std[c]);
      dst[offset + c * n + i] = x;
    }
  }
  return dst;
}

/** CLIPImageProcessor on an RGBA image: `clip_input` for one image, CHW float32 ([3, 224, 224] for CLIP). */
export function clipPreprocess(rgba: Uint8Array, width: number, height: number, config: ClipPreprocessConfig = CLIP_PREPROCESS): Float32Array {
  return clipNormalize(clipCrop(rgba, width, height, config), config);
}

/** IEEE half-precision bits (round to nearest even), for float16 exports. */
function toFloat16Array(src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length);
  const view = new DataView(out.buffer);
  for (let i = 0; i < src.length; i++) setFloat16(view, 2 * i, src[i], true);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------------
// The checker
// ---------------------------------------------------------------------------------------------------------------------

export interface SafetyCheckerOptions {
  /** The model's preprocessor_config.json (parsed JSON) or a config; CLIP's when absent. */
  preprocessor?: unknown;
  /**
   * Images per session.run. 1 by default, as diffusers' ONNX pipeline runs it: exports traced at batch 1 may not take
   * more. Hearth's tiny fixture takes any batch.
   */
  batchSize?: number;
}

const isConfig = (v: unknown): v is ClipPreprocessConfig => isRecord(v) && 'doResize' in v && 'crop' in v && 'mean' in v;

/** Runs a safety-checker ONNX session on finished images: one boolean per image, true = filter it. */
export class SafetyChecker {
  readonly config: ClipPreprocessConfig;
  readonly batchSize: number;
  private readonly clipType: 'float32' | 'float16';
  private readonly imagesType: 'float32' | 'float16';

  constructor(private readonly ort: Ort, private readonly session: Session, options: SafetyCheckerOptions = {}) {
    const missing = [SAFETY_IO.clipInput, SAFETY_IO.images].filter((n) => !session.inputNames.includes(n));
    if (missing.length || !session.outputNames.includes(SAFETY_IO.hasNsfw)) {
      throw new Error(`Not a safety-checker export: inputs [${session.inputNames.join(', ')}], outputs [${session.outputNames.join(', ')}]; `
        + `expected inputs ${SAFETY_IO.clipInput}, ${SAFETY_IO.images} and output ${SAFETY_IO.hasNsfw}`);
    }
    this.config = isConfig(options.preprocessor) ? options.preprocessor : parsePreprocessorConfig(options.preprocessor);
    this.batchSize = Math.max(1, Math.floor(options.batchSize ?? 1));
    this.clipType = this.inputType(SAFETY_IO.clipInput);
    this.imagesType = this.inputType(SAFETY_IO.images);
  }

  /** True for each image the checker flags (diffusers' `has_nsfw_concepts`). Images may differ in size. */
  release(): Promise<void> {
    return this.session.release();
  }

  async check(images: readonly RgbaImage[]): Promise<boolean[]> {
    const out: boolean[] = [];
    for (let start = 0; start < images.length; start += this.batchSize) {
      out.push(...await this.run(images.slice(start, start + this.batchSize)));
    }
    return out;
  }

  private async run(batch: readonly RgbaImage[]): Promise<boolean[]> {
    const crops = batch.map((im) => clipCrop(im.data, im.width, im.height, this.config));
    const { width: w, height: h } = crops[0];
    if (crops.some((c) => c.width !== w || c.height !== h)) {
      // only without a centre crop: inputs of different sizes cannot share a batch
      const out: boolean[] = [];
      for (const im of batch) out.push(...await this.run([im]));
      return out;
    }
    const n = w * h;
    const clip = new Float32Array(batch.length * 3 * n);
    // `images` is only zeroed by the graph, never read back: the crop in [0, 1] (NHWC) is a valid input of every export
    const pixels = new Float32Array(batch.length * n * 3);
    crops.forEach((crop, b) => {
      clipNormalize(crop, this.config, clip, b * 3 * n);
      for (let i = 0; i < n * 3; i++) pixels[b * n * 3 + i] = crop.data[i] / 255;
    });
    const feeds = {
      [SAFETY_IO.clipInput]: this.tensor(this.clipType, clip, [batch.length, 3, h, w]),
      [SAFETY_IO.images]: this.tensor(this.imagesType, pixels, [batch.length, h, w, 3]),
    };
    const result = await this.session.run(feeds, [SAFETY_IO.hasNsfw]);
    const flags = result[SAFETY_IO.hasNsfw];
    if (!flags || !('data' in flags) || flags.size !== batch.length) {
      throw new Error(`Safety checker returned ${flags && 'size' in flags ? flags.size : 'no'} ${SAFETY_IO.hasNsfw} values for ${batch.length} images`);
    }
    const data = flags.data;
    const out: boolean[] = [];
    for (let i = 0; i < batch.length; i++) {
      const v = data[i];
      out.push(typeof v === 'bigint' ? v !== 0n : Number(v) !== 0);
    }
    return out;
  }

  private tensor(type: 'float32' | 'float16', data: Float32Array, dims: number[]): OrtModule.Tensor {
    return type === 'float16' ? new this.ort.Tensor('float16', toFloat16Array(data), dims) : new this.ort.Tensor('float32', data, dims);
  }

  /** float16 when the export says so (Microsoft's WebNN/ORT-web exports are float16), else float32. */
  private inputType(name: string): 'float32' | 'float16' {
    const meta = this.session.inputMetadata?.find((m) => m.name === name);
    return meta?.isTensor && meta.type === 'float16' ? 'float16' : 'float32';
  }
}

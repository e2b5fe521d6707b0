/**
 * The SDXL denoising pipeline over onnxruntime-web sessions: text conditioning, classifier-free guidance (uncond and
 * cond rows in one UNet run), the K_DPMPP_2M sampler over a window of the Karras schedule (text-to-image runs all of
 * it; image-to-image starts from the VAE-encoded init image part-way), ControlNet residuals within their step window,
 * and VAE decoding to RGBA. Pixel I/O is raw (RGB in, RGBA out) so this runs in workers and in Node alike.
 * Turbo models (spec.sampler 'euler_trailing') take diffusers' trailing Euler schedule instead, and with
 * spec.guidanceOffAtOrBelowOne a cfg_scale ≤ 1 runs the prompt alone (no negative batch); SD 1.x/2.x models
 * (spec.family 'sd') have one text encoder and a UNet without SDXL's added text/time inputs. Input dtypes and the
 * parts' optional outputs are read from the sessions, so exports that differ there load as they are.
 */
import type * as OrtModule from 'onnxruntime-web';
import { internal } from '../../core/errors';
import type { Ort } from '../../core/session';
import type { ImageSpec } from '../../models/types';
import type { OrtDevice } from '../embeddings/types';
import { encodePrompt, zeroConditioning, type ClipTokenizer, type TextConditioning } from './clip';
import { eulerStep, trailingSchedule } from './euler';
import { GpuDenoiser } from './gpu-loop';
import { gaussianNoise } from './noise';
import { dpmpp2mStep, type KarrasSchedule } from './scheduler';
import type { ImageJob } from './types';

type Session = OrtModule.InferenceSession;

export interface SdxlModel {
  ort: Ort;
  device: OrtDevice;
  spec: ImageSpec;
  schedule: KarrasSchedule;
  /** `two` and `textEncoder2` for SDXL only. */
  tokenizers: { one: ClipTokenizer; two?: ClipTokenizer };
  sessions: {
    textEncoder: Session; textEncoder2?: Session; unet: Session; vaeDecoder: Session;
    vaeEncoder?: Session; controlnet?: Session; unetControlnet?: Session;
  };
}

/** One sample of a job: the job's prompt and size settings, plus this sample's own seed and inputs. */
export interface SampleRequest extends Pick<ImageJob, 'prompt' | 'negativePrompt' | 'width' | 'height' | 'steps' | 'cfgScale'> {
  /** This sample's seed: latent noise is gaussianNoise(seed), posterior noise gaussianNoise(seed ^ 0x9E3779B9). */
  seed: number;
  /** Noise-schedule fractions (1 = pure noise): sampling runs from start down to end. */
  schedule: { start: number; end: number };
  /** Init image for image-to-image: RGB, HWC, width × height. */
  initRgb?: Uint8Array;
  /** ControlNet conditioning: CHW float in [0, 1], 3 × height × width, applied within [start, end] of the steps. */
  control?: { chw: Float32Array; scale: number; start: number; end: number };
}

export const POSTERIOR_SEED_XOR = 0x9e3779b9;

/** [first, last] indices into the steps + 1 sigmas for a schedule window (Stability's step_schedule_start/end). */
export function scheduleWindow(steps: number, start: number, end: number): [number, number] {
  const eps = 1e-6;
  const first = steps - Math.min(steps, Math.floor(steps * start + eps));
  const last = steps - Math.min(steps, Math.floor(steps * end + eps));
  return [first, Math.max(first, last)];
}

/** diffusers' controlnet_keep: whether step i of n lies in the control window. */
export const controlKeep = (i: number, n: number, start: number, end: number) => (i / n < start || (i + 1) / n > end ? 0 : 1);

export class SdxlPipeline {
  private readonly textCache = new Map<string, TextConditioning>();
  /** WebGPU only: the GPU-resident loops, per latent size (4·h·w), on the device onnxruntime-web runs on. */
  private readonly gpuLoops = new Map<number, Promise<GpuDenoiser>>();

  constructor(readonly model: SdxlModel) {}

  /** Denoises one sample; `onStep` sees progress and may throw to cancel between steps. Returns RGBA pixels. */
  async sample(req: SampleRequest, onStep: (step: number, total: number) => void): Promise<Uint8Array> {
    const { ort, spec, schedule } = this.model;
    const h = req.height / 8;
    const w = req.width / 8;
    const size = 4 * h * w;
    const euler = spec.sampler === 'euler_trailing';
    const guided = !(spec.guidanceOffAtOrBelowOne && req.cfgScale <= 1);
    const cond = await this.text(req.prompt);
    const uncond = !guided ? undefined
      : req.negativePrompt === '' && spec.zerosForEmptyPrompt ? zeroConditioning(cond) : await this.text(req.negativePrompt);

    const trailing = euler ? trailingSchedule(schedule, req.steps) : undefined;
    const sigmas = trailing?.sigmas ?? schedule.sigmas(req.steps);
    const [first, last] = scheduleWindow(req.steps, req.schedule.start, req.schedule.end);
    const noise = gaussianNoise(req.seed, size);
    let x: Float32Array;
    if (req.initRgb) {
      const init = await this.encodeImage(req.initRgb, req.width, req.height, gaussianNoise((req.seed ^ POSTERIOR_SEED_XOR) >>> 0, size));
      x = first === last ? init : init.map((v, k) => v + sigmas[first] * noise[k]);
    } else {
      x = noise.map((v) => v * sigmas[first]);
    }

    const rows = uncond ? 2 : 1;
    const hidden = uncond ? concat(uncond.hidden, cond.hidden) : cond.hidden;
    const pooled = uncond ? concat(uncond.pooled, cond.pooled) : cond.pooled;
    const timeIds = repeatRows(Float32Array.from([req.height, req.width, 0, 0, req.height, req.width]), rows);
    const window = Array.from(sigmas.subarray(first, last + 1));
    /** The UNet's timestep at window step i: trailing integer timesteps, or the Karras sigma's fractional one. */
    const timestepAt = (i: number) => (trailing ? trailing.timesteps[first + i] : schedule.sigmaToT(window[i]));
    // The ControlNet's `controlnet_cond` [2, 3, H, W] (the image for both CFG rows), built once per sample.
    const controlCond = req.control ? repeatRows(req.control.chw, rows) : undefined;
    if (this.model.device === 'webgpu' && !euler && uncond) {
      // Latents stay on the GPU for the whole loop (src/engines/image/gpu-loop.ts); only the final ones come back.
      // The text conditioning (and, with ControlNet, the control image) is uploaded once per sample, and the
      // residuals go from the ControlNet's outputs straight into the UNet's inputs as GPU buffers.
      const denoiser = await this.gpuLoop(size);
      const upload = (data: Float32Array, dims: number[]) => new GpuConstant(ort, denoiser.device, data, dims);
      const text = {
        encoder_hidden_states: upload(hidden, [2, 77, hidden.length / 2 / 77]),
        text_embeds: upload(pooled, [2, pooled.length / 2]),
        time_ids: upload(timeIds, [2, 6]),
      };
      const control = controlCond && upload(controlCond, [2, 3, req.height, req.width]);
      try {
        x = await denoiser.denoise({
          ort, x, sigmas: window, cfgScale: req.cfgScale, sampleDims: [2, 4, h, w], onStep,
          runUnet: (sample, i) => this.unetOutputs(this.unetFeeds({
            sample,
            timestep: this.timestep(timestepAt(i)),
            encoder_hidden_states: text.encoder_hidden_states.tensor(),
            text_embeds: text.text_embeds.tensor(),
            time_ids: text.time_ids.tensor(),
          }), req, first + i, () => control!.tensor()),
        });
      } finally {
        // Their last reads are already submitted: WebGPU keeps the buffers alive until they run.
        for (const c of [...Object.values(text), control]) c?.destroy();
      }
      return this.decode(x, h, w);
    }
    let old: Float32Array | null = null;
    const total = last - first;
    for (let i = 0; i < total; i++) {
      const sigma = window[i];
      const cIn = 1 / Math.sqrt(sigma * sigma + 1);
      const scaled = new Float32Array(rows * size);
      for (let k = 0; k < size; k++) for (let r = 0; r < rows; r++) scaled[k + r * size] = x[k] * cIn;
      const feeds = this.unetFeeds({
        sample: new ort.Tensor('float32', scaled, [rows, 4, h, w]),
        timestep: this.timestep(timestepAt(i)),
        encoder_hidden_states: new ort.Tensor('float32', hidden, [rows, 77, hidden.length / rows / 77]),
        text_embeds: new ort.Tensor('float32', pooled, [rows, pooled.length / rows]),
        time_ids: new ort.Tensor('float32', timeIds, [rows, 6]),
      });
      const out = await this.unet(feeds, req, first + i, controlCond && (() => new ort.Tensor('float32', controlCond, [rows, 3, req.height, req.width])));
      const eps = uncond ? new Float32Array(size) : out;
      if (uncond) for (let k = 0; k < size; k++) eps[k] = Math.fround(out[k] + req.cfgScale * (out[k + size] - out[k]));
      if (euler) {
        eulerStep(x, eps, window, i);
      } else {
        const denoised = new Float32Array(size);
        for (let k = 0; k < size; k++) denoised[k] = x[k] - sigma * eps[k];
        dpmpp2mStep(x, denoised, old, window, i);
        old = denoised;
      }
      onStep(i + 1, total);
    }
    return this.decode(x, h, w);
  }

  /** The feeds the UNet declares: SD 1.x/2.x UNets take no `text_embeds` / `time_ids`. */
  private unetFeeds(feeds: Record<string, OrtModule.Tensor>): Record<string, OrtModule.Tensor> {
    const names = this.model.sessions.unet.inputNames;
    for (const name of Object.keys(feeds)) if (!names.includes(name)) delete feeds[name];
    return feeds;
  }

  private async text(prompt: string): Promise<TextConditioning> {
    let c = this.textCache.get(prompt);
    if (!c) {
      const { ort, sessions, tokenizers, spec } = this.model;
      c = await encodePrompt(ort, { one: sessions.textEncoder, two: sessions.textEncoder2 }, tokenizers, prompt, spec.family ?? 'sdxl');
      if (this.textCache.size > 16) this.textCache.clear();
      this.textCache.set(prompt, c);
    }
    return c;
  }

  /** The UNet's `timestep` as it declares it: int64 [1] (older exports: the nearest integer), float32 [] or [1]. */
  private timestep(t: number): OrtModule.Tensor {
    const { ort, sessions } = this.model;
    const meta = sessions.unet.inputMetadata.find((m) => m.name === 'timestep');
    const type = meta?.isTensor ? meta.type : 'float32';
    const dims = meta?.isTensor && meta.shape.length === 0 ? [] : [1];
    if (type === 'int64') return new ort.Tensor('int64', BigInt64Array.from([BigInt(Math.round(t))]), [1]);
    if (type !== 'float32') throw internal(`The UNet's timestep is ${type}; float32 and int64 are supported`, 'bad_model_io');
    return new ort.Tensor('float32', Float32Array.from([t]), dims);
  }

  private gpuLoop(size: number): Promise<GpuDenoiser> {
    let p = this.gpuLoops.get(size);
    if (!p) {
      if (this.gpuLoops.size >= 4) this.gpuLoops.clear(); // a few latent sizes at most; the buffers are small
      // `env.webgpu.device` (onnxruntime-web 1.30): a Promise of the GPUDevice its WebGPU EP created with the sessions.
      p = Promise.resolve(this.model.ort.env.webgpu.device as unknown as Promise<GPUDevice>)
        .then((device) => GpuDenoiser.create(device, size));
      p.catch(() => this.gpuLoops.delete(size));
      this.gpuLoops.set(size, p);
    }
    return p;
  }

  /** Epsilon for [uncond; cond], with ControlNet residuals when this step is inside the control window. */
  private async unet(feeds: Record<string, OrtModule.Tensor>, req: SampleRequest, step: number, controlCond?: () => OrtModule.Tensor): Promise<Float32Array> {
    return readData(await this.unetOutputs(feeds, req, step, controlCond), 'out_sample');
  }

  /**
   * The UNet's outputs (`out_sample` = epsilon for [uncond; cond]); the caller disposes them. Inside the control
   * window the ControlNet runs first on the same feeds plus `controlCond()` ([2, 3, H, W]); its outputs (GPU buffers on
   * WebGPU, where the session prefers 'gpu-buffer' outputs) are fed as they are to the UNet-with-residuals, then freed.
   */
  private async unetOutputs(
    feeds: Record<string, OrtModule.Tensor>, req: SampleRequest, step: number, controlCond?: () => OrtModule.Tensor,
  ): Promise<Record<string, OrtModule.Tensor>> {
    const { ort, sessions } = this.model;
    const control = req.control;
    if (control && controlCond && controlKeep(step, req.steps, control.start, control.end) && control.scale !== 0) {
      if (!sessions.controlnet || !sessions.unetControlnet) throw internal('This model has no ControlNet', 'no_controlnet');
      const residuals = await sessions.controlnet.run({
        ...feeds,
        controlnet_cond: controlCond(),
        conditioning_scale: new ort.Tensor('float32', Float32Array.from([control.scale]), []),
      });
      try {
        return await sessions.unetControlnet.run({ ...feeds, ...residuals });
      } finally {
        // GPU residuals go back to ORT's pool; the UNet's reads of them are already submitted, so they come first.
        for (const t of Object.values(residuals)) t.dispose();
      }
    }
    return sessions.unet.run(feeds);
  }

  /** VAE-encodes an RGB image into scaled latents, sampling the posterior with the given noise. */
  private async encodeImage(rgb: Uint8Array, width: number, height: number, posteriorNoise: Float32Array): Promise<Float32Array> {
    const { ort, sessions, spec } = this.model;
    if (!sessions.vaeEncoder) throw internal('This model has no VAE encoder', 'no_vae_encoder');
    const pixels = new Float32Array(3 * width * height);
    for (let p = 0; p < width * height; p++) for (let c = 0; c < 3; c++) pixels[c * width * height + p] = rgb[p * 3 + c] / 127.5 - 1;
    const outputs = await sessions.vaeEncoder.run({ sample: new ort.Tensor('float32', pixels, [1, 3, height, width]) });
    if (!outputs.latent_parameters && outputs.latent_sample) {
      // 2023 exports sample the posterior inside the graph: their latent only needs the scaling factor.
      return takeData(outputs, 'latent_sample').map((v) => v * spec.scalingFactor);
    }
    const params = takeData(outputs, 'latent_parameters');
    const size = params.length / 2;
    const latents = new Float32Array(size);
    for (let k = 0; k < size; k++) {
      const logvar = Math.min(20, Math.max(-30, params[size + k]));
      latents[k] = (params[k] + Math.exp(logvar / 2) * posteriorNoise[k]) * spec.scalingFactor;
    }
    return latents;
  }

  private async decode(latents: Float32Array, h: number, w: number): Promise<Uint8Array> {
    const { ort, sessions, spec } = this.model;
    const scaled = latents.map((v) => v / spec.scalingFactor);
    const image = takeData(await sessions.vaeDecoder.run({ latent_sample: new ort.Tensor('float32', scaled, [1, 4, h, w]) }), 'sample');
    const W = w * 8;
    const H = h * 8;
    const rgba = new Uint8Array(W * H * 4);
    for (let p = 0; p < W * H; p++) {
      for (let c = 0; c < 3; c++) rgba[p * 4 + c] = Math.round(Math.min(1, Math.max(0, image[c * W * H + p] / 2 + 0.5)) * 255);
      rgba[p * 4 + 3] = 255;
    }
    return rgba;
  }
}

/**
 * A per-sample constant input on the GPU (WebGPU only): the text conditioning and the ControlNet's `controlnet_cond`.
 * One buffer on ORT's device, written once per sample and fed to every run of the sample (Tensor.fromGpuBuffer; ORT
 * does not own or free it).
 */
class GpuConstant {
  private buffer: GPUBuffer | null = null;
  private gpuTensor: OrtModule.Tensor | null = null;

  constructor(private readonly ort: Ort, private readonly device: GPUDevice, private readonly data: Float32Array, private readonly dims: readonly number[]) {}

  /** The tensor over the uploaded image; uploads on first use (a sample whose window has no control step never does). */
  tensor(): OrtModule.Tensor {
    if (!this.gpuTensor) {
      // STORAGE | COPY_SRC | COPY_DST (spec values: this file does not need the GPU* globals).
      this.buffer = this.device.createBuffer({ size: this.data.byteLength, usage: 0x0080 | 0x0004 | 0x0008 });
      this.device.queue.writeBuffer(this.buffer, 0, this.data as Float32Array<ArrayBuffer>);
      this.gpuTensor = this.ort.Tensor.fromGpuBuffer(this.buffer as never, { dataType: 'float32', dims: this.dims });
    }
    return this.gpuTensor;
  }

  destroy(): void {
    this.buffer?.destroy();
    this.buffer = null;
    this.gpuTensor = null;
  }
}

/** `rows` copies of `a` end to end (a batch of identical rows). */
function repeatRows(a: Float32Array, rows: number): Float32Array {
  const out = new Float32Array(rows * a.length);
  for (let r = 0; r < rows; r++) out.set(a, r * a.length);
  return out;
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** Reads an output (on the CPU or, with 'gpu-buffer' outputs, on the GPU) and frees every output tensor. */
async function readData(out: Record<string, OrtModule.Tensor>, name: string): Promise<Float32Array> {
  const t = out[name];
  if (!t) throw internal(`The model produced no "${name}" output`, 'bad_model_output');
  const data = (t.location === 'cpu' ? (t.data as Float32Array).slice() : ((await t.getData()) as Float32Array).slice());
  for (const v of Object.values(out)) v.dispose();
  return data;
}

/** Copies an output out of ORT and frees every output tensor. */
function takeData(out: Record<string, OrtModule.Tensor>, name: string): Float32Array {
  const t = out[name];
  if (!t) throw internal(`The model produced no "${name}" output`, 'bad_model_output');
  const data = (t.data as Float32Array).slice();
  for (const v of Object.values(out)) v.dispose();
  return data;
}

/**
 * The image engine as its worker runs it: loads an SDXL pipeline per catalog entry on the first device that works
 * (WebGPU, then wasm; every part on the same device), runs one job at a time, and streams progress per denoising
 * step and each finished image (encoded PNG/JPEG). Cancelling the stream stops the job between steps.
 */
import type * as OrtModule from 'onnxruntime-web';
import { HearthError, invalidRequest, toHearthError } from '../../api/errors';
import type { CatalogEntry } from '../../models/types';
import { resolveBackend } from '../backends';
import type { OrtDevice } from '../embeddings/types';
import { ClipTokenizer } from './clip';
import { rgbaToRgb, type ImageCodec } from './codec';
import { SdxlPipeline, type SdxlModel } from './pipeline';
import { KarrasSchedule, type SchedulerConfig } from './scheduler';
import type { EncodedImage, ImageEngine, ImageEvent, ImageJob, LoadedImageInfo } from './types';

type Ort = typeof OrtModule;

/** The bytes of every part (by catalog role) and the parsed JSON configs. */
export interface SdxlFiles {
  models: Record<string, Uint8Array>;
  /** External weights by part (`unet` → [{path, data}]) for exports over 2 GB. */
  externalData: Record<string, { path: string; data: Uint8Array }[]>;
  tokenizer: object; tokenizerConfig: object; tokenizer2: object; tokenizer2Config: object;
  schedulerConfig: SchedulerConfig;
}

/** Edge detection for ControlNet: RGBA in, CHW float [3, H, W] in {0, 1} out. */
export type CannyFn = (rgba: Uint8Array, width: number, height: number, low: number, high: number) => Promise<{ chw: Float32Array; rgba: Uint8Array }>;

export interface SdxlServiceOptions {
  ort: Ort;
  devices: OrtDevice[];
  loadFiles(entry: CatalogEntry): Promise<SdxlFiles>;
  codec: ImageCodec;
  canny: CannyFn;
}

const PARTS = ['text_encoder', 'text_encoder_2', 'unet', 'vae_decoder', 'vae_encoder', 'controlnet', 'unet_controlnet'] as const;

export class SdxlService implements ImageEngine {
  private readonly models = new Map<string, Promise<SdxlPipeline>>();
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: SdxlServiceOptions) {}

  async generate(job: ImageJob): Promise<ReadableStream<ImageEvent>> {
    const pipeline = await this.pipeline(job.entry);
    const { codec, canny } = this.options;
    // Inputs are decoded up front, so a bad image is a 400 before any stream starts.
    const initRgb = job.init ? rgbaToRgb(await codec.decode(job.init, job.width, job.height, 'init_image')) : undefined;
    let control: { chw: Float32Array; scale: number; start: number; end: number } | undefined;
    if (job.control) {
      const rgba = await codec.decode(job.control.image, job.width, job.height, 'control_image');
      const edges = await canny(rgba, job.width, job.height, job.control.lowThreshold, job.control.highThreshold);
      control = { chw: edges.chw, scale: job.control.scale, start: job.control.start, end: job.control.end };
    }
    let cancelled = false;
    let release!: () => void;
    const previous = this.tail;
    this.tail = new Promise<void>((r) => (release = r));
    const events = (async function* (): AsyncGenerator<ImageEvent> {
      await previous.catch(() => undefined);
      yield { type: 'start', backend: `onnx/${pipeline.model.device}`, steps: job.steps, samples: job.samples };
      for (let k = 0; k < job.samples; k++) {
        const seed = (job.seed + k) >>> 0;
        const progress: ImageEvent[] = [];
        const rgba = await pipeline.sample({
          prompt: job.prompt, negativePrompt: job.negativePrompt, width: job.width, height: job.height,
          steps: job.steps, cfgScale: job.cfgScale, seed, schedule: job.schedule, initRgb, control,
        }, (step, steps) => {
          if (cancelled) throw new HearthError({ status: 499, type: 'invalid_request_error', message: 'cancelled', code: 'cancelled' });
          progress.push({ type: 'progress', step, steps, sample: k });
        });
        yield* progress;
        const bytes = await codec.encode({ width: job.width, height: job.height, data: rgba }, job.output.type, job.output.quality);
        yield { type: 'image', index: k, seed, bytes, mime: job.output.type, finishReason: 'SUCCESS' };
      }
      yield { type: 'done' };
    })();
    return new ReadableStream<ImageEvent>({
      async pull(controller) {
        try {
          const { value, done } = await events.next();
          if (done) {
            release();
            controller.close();
          } else controller.enqueue(value);
        } catch (e) {
          release();
          controller.error(toHearthError(e));
        }
      },
      async cancel() {
        cancelled = true;
        release();
      },
    }, { highWaterMark: 0 });
  }

  /** The edges ControlNet would see for `image` at width × height, as a PNG. */
  async cannyPreview(image: EncodedImage, low: number, high: number, width = 512, height = 512): Promise<ArrayBuffer> {
    if (!image.bytes.byteLength) throw invalidRequest('The image is empty', 'control_image');
    const rgba = await this.options.codec.decode(image, width, height, 'control_image');
    const edges = await this.options.canny(rgba, width, height, low, high);
    return this.options.codec.encode({ width, height, data: edges.rgba }, 'image/png');
  }

  async loaded(): Promise<LoadedImageInfo[]> {
    const out: LoadedImageInfo[] = [];
    for (const [id, p] of this.models) {
      const m = await p.catch(() => undefined);
      if (m) out.push({ id, device: m.model.device });
    }
    return out;
  }

  async unload(id: string): Promise<void> {
    const p = this.models.get(id);
    this.models.delete(id);
    const m = await p?.catch(() => undefined);
    if (m) for (const s of Object.values(m.model.sessions)) await s?.release().catch(() => undefined);
  }

  private pipeline(entry: CatalogEntry): Promise<SdxlPipeline> {
    let p = this.models.get(entry.id);
    if (!p) {
      p = this.load(entry);
      p.catch(() => this.models.delete(entry.id));
      this.models.set(entry.id, p);
    }
    return p;
  }

  private async load(entry: CatalogEntry): Promise<SdxlPipeline> {
    const spec = entry.image;
    if (!spec) throw new Error(`Catalog entry ${entry.id} has no image spec`);
    const files = await this.options.loadFiles(entry);
    const { ort } = this.options;
    const resolved = await resolveBackend(entry.id, this.options.devices.map((device) => ({
      name: device,
      create: async () => {
        if (device === 'webgpu' && !(globalThis.navigator as Navigator | undefined)?.gpu) throw new Error('WebGPU is not available');
        const sessions: Partial<Record<(typeof PARTS)[number], OrtModule.InferenceSession>> = {};
        try {
          for (const part of PARTS) {
            const bytes = files.models[part];
            if (!bytes) continue;
            sessions[part] = await ort.InferenceSession.create(bytes, {
              executionProviders: [device], graphOptimizationLevel: 'all',
              ...(files.externalData[part] && { externalData: files.externalData[part] }),
              // The UNet's output stays on the GPU: guidance and the sampler step run on it in WGSL (gpu-loop.ts).
              ...(device === 'webgpu' && (part === 'unet' || part === 'unet_controlnet') && { preferredOutputLocation: { out_sample: 'gpu-buffer' } }),
            });
          }
        } catch (e) {
          for (const s of Object.values(sessions)) await s?.release().catch(() => undefined);
          throw e;
        }
        return sessions;
      },
    })));
    const s = resolved.value;
    if (!s.text_encoder || !s.text_encoder_2 || !s.unet || !s.vae_decoder) throw new Error(`Model ${entry.id} lacks a required part`);
    const model: SdxlModel = {
      ort, device: resolved.name as OrtDevice, spec,
      schedule: new KarrasSchedule(files.schedulerConfig),
      tokenizers: {
        one: new ClipTokenizer(files.tokenizer, files.tokenizerConfig),
        two: new ClipTokenizer(files.tokenizer2, files.tokenizer2Config),
      },
      sessions: {
        textEncoder: s.text_encoder, textEncoder2: s.text_encoder_2, unet: s.unet, vaeDecoder: s.vae_decoder,
        vaeEncoder: s.vae_encoder, controlnet: s.controlnet, unetControlnet: s.unet_controlnet,
      },
    };
    return new SdxlPipeline(model);
  }
}

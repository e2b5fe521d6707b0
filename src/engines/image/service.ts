/**
 * The image engine as its worker runs it: loads an SDXL pipeline per catalog entry on the first device that works
 * (WebGPU, then wasm; every part on the same device), runs one job at a time, and streams progress per denoising
 * step and each finished image (encoded PNG/JPEG). Cancelling the stream stops the job between steps.
 * A job with a LoRA adapter runs on a copy of the model with the adapter merged into its weights (lora/apply.ts);
 * that copy is kept beside the plain model (one adapter per model at a time) so repeated requests reuse it.
 * Loaded pipelines and safety checkers live in ModelHosts (loaded once, evicted after a device or runtime failure).
 */
import type * as OrtModule from 'onnxruntime-web';
import { hearthError, invalidRequest, toHearthError } from '../../core/errors';
import { assertDeviceAvailable, createSession, type Ort } from '../../core/session';
import type { CatalogEntry } from '../../models/types';
import { resolveBackend } from '../backends';
import type { LoadedModelInfo } from '../contract';
import { mergeInfos } from '../loaded';
import { onCpu, type OrtDevice } from '../embeddings/types';
import { ClipTokenizer } from './clip';
import { IMAGE_PARTS, loadImageFiles, readSafetyCheckerFiles, type ImagePart, type SdxlFiles } from './files';
import type { ModelFiles } from '../model-files';
import { droppedBeforeStart, ModelHost } from '../model-host';
import { mergeLora, type LoraMergeReport } from './lora/apply';
import { SafetyChecker } from './safety';
import type { LoraSource } from './lora/fetch';
import { cpuMerger, type WeightMerger } from './lora/merge';
import { rgbaToRgb, type ImageCodec } from './codec';
import { SdxlPipeline, type SdxlModel } from './pipeline';
import { KarrasSchedule } from './scheduler';
import type { EncodedImage, ImageEngine, ImageEvent, ImageJob } from './types';
import { pullStream } from '../../util/pull-stream';


export type { SdxlFiles };

/** Edge detection for ControlNet: RGBA in, CHW float [3, H, W] in {0, 1} out. */
export type CannyFn = (rgba: Uint8Array, width: number, height: number, low: number, high: number) => Promise<{ chw: Float32Array; rgba: Uint8Array }>;

export interface ImageServiceOptions {
  ort: Ort;
  devices: OrtDevice[];
  loadFiles(entry: CatalogEntry): Promise<SdxlFiles>;
  codec: ImageCodec;
  canny: CannyFn;
  /** Downloads a LoRA adapter's safetensors bytes (lora/fetch.ts); unset: LoRA requests are refused. */
  fetchLora?: (source: LoraSource) => Promise<{ bytes: Uint8Array; filename: string }>;
  /** The merger for adapter weights: WebGPU where the model runs on it, else the CPU. */
  loraMerger?: (device: OrtDevice) => Promise<WeightMerger>;
  /** Whether the WebGPU adapter has `shader-f16` (fp16 exports need it); unset: it has not. */
  hasShaderF16?: () => Promise<boolean>;
  /** The safety checker's ONNX bytes and preprocessor config (downloaded on first use); unset: none available. */
  loadSafetyChecker?: (entry: CatalogEntry) => Promise<{ model: Uint8Array; preprocessor?: object }>;
}

interface LoadedPipeline {
  /** Its key in the ModelHost: the entry id, or `id|lora:…` for a merged copy. */
  key: string;
  pipeline: SdxlPipeline;
  entryId: string;
  lora?: string;
  merge?: LoraMergeReport;
  /** Jobs holding it; a retired pipeline (unloaded, or replaced by another adapter) is freed when the last one ends. */
  users: number;
  retired: boolean;
}

export class ImageService implements ImageEngine {
  /**
   * By variant: the entry id, or `id|lora:repo/file[|key digest]` for a merged copy. One queue for the device: a
   * job's denoising steps never interleave with another's. (The devices tried before the one that loaded are not
   * reported as `skipped`: GET /models has never listed them for image models.)
   */
  private readonly models = new ModelHost<LoadedPipeline>({
    release: async (m) => {
      m.retired = true;
      if (m.users === 0) await freeSessions(m);
    },
    describe: (m) => ({ id: m.entryId, device: m.pipeline.model.device, backend: 'onnx', skipped: [], ...(m.lora && { loras: [m.lora] }) }),
    queue: 'device',
  });
  private readonly safetyCheckers = new ModelHost<SafetyChecker>({ release: (c) => c.release() });

  constructor(private readonly options: ImageServiceOptions) {}

  async run(job: ImageJob, signal?: AbortSignal): Promise<ReadableStream<ImageEvent>> {
    const loaded = await this.pipeline(job.entry, job.lora);
    const { pipeline, lora } = loaded;
    loaded.users++;
    let handedBack = false;
    const handBack = () => {
      if (handedBack) return;
      handedBack = true;
      if (--loaded.users === 0 && loaded.retired) void freeSessions(loaded);
    };
    let checker: SafetyChecker | undefined;
    let initRgb: Uint8Array | undefined;
    let control: { chw: Float32Array; scale: number; start: number; end: number } | undefined;
    try {
      checker = job.safetyCheck ? await this.safetyChecker(job.entry, pipeline.model.device) : undefined;
      const { codec, canny } = this.options;
      // Inputs are decoded up front, so a bad image is a 400 before any stream starts.
      initRgb = job.init ? rgbaToRgb(await codec.decode(job.init, job.width, job.height, 'init_image')) : undefined;
      if (job.control) {
        const rgba = await codec.decode(job.control.image, job.width, job.height, 'control_image');
        const edges = await canny(rgba, job.width, job.height, job.control.lowThreshold, job.control.highThreshold);
        control = { chw: edges.chw, scale: job.control.scale, start: job.control.start, end: job.control.end };
      }
    } catch (e) {
      handBack();
      throw e;
    }
    const { codec } = this.options;
    const models = this.models;
    let cancelled = false;
    let started = false;
    const turn = models.enter(loaded.key);
    // The next job starts, and the pipeline may be freed, only once this one has really stopped (not at cancel:
    // a step may still be running then).
    const finish = () => {
      turn.leave();
      handBack();
    };
    let sampling: Promise<Uint8Array> | undefined;
    const events = (async function* (): AsyncGenerator<ImageEvent> {
      started = true;
      try {
        await turn.ready;
        if (cancelled) return;
        // Its client has gone while it waited: dropped before it starts.
        if (signal?.aborted) throw droppedBeforeStart();
        yield { type: 'start', backend: `onnx/${pipeline.model.device}${lora ? '+lora' : ''}`, steps: job.steps, samples: job.samples };
        for (let k = 0; k < job.samples; k++) {
          const seed = (job.seed + k) >>> 0;
          // Progress is yielded as each step ends, while the sample goes on.
          const progress: ImageEvent[] = [];
          let wake: (() => void) | null = null;
          let settled = false;
          sampling = pipeline.sample({
            prompt: job.prompt, negativePrompt: job.negativePrompt, width: job.width, height: job.height,
            steps: job.steps, cfgScale: job.cfgScale, seed, schedule: job.schedule, initRgb, control,
          }, (step, steps) => {
            if (cancelled) throw hearthError('cancelled', 'cancelled');
            progress.push({ type: 'progress', step, steps, sample: k });
            wake?.();
          });
          sampling.finally(() => {
            settled = true;
            wake?.();
          }).catch(() => undefined);
          for (;;) {
            while (progress.length) yield progress.shift()!;
            if (settled) break;
            await new Promise<void>((resolve) => (wake = resolve));
            wake = null;
          }
          const rgba = await sampling;
          // A flagged image is never sent: it is replaced by black pixels, as diffusers' checker does.
          const filtered = checker ? (await checker.check([{ width: job.width, height: job.height, data: rgba }]))[0] : false;
          if (filtered) for (let p = 0; p < rgba.length; p += 4) rgba.set([0, 0, 0, 255], p);
          const bytes = await codec.encode({ width: job.width, height: job.height, data: rgba }, job.output.type, job.output.quality);
          yield { type: 'image', index: k, seed, bytes, mime: job.output.type, finishReason: filtered ? 'CONTENT_FILTERED' : 'SUCCESS' };
        }
        yield { type: 'done' };
      } catch (e) {
        await models.failed(loaded.key, e); // a device or runtime failure: load afresh next time
        throw e;
      } finally {
        await sampling?.catch(() => undefined); // a cancelled sample stops at its next step
        finish();
      }
    })();
    return pullStream(events, {
      mapError: toHearthError,
      onCancel: () => {
        cancelled = true;
        if (started) void events.return(undefined).catch(() => undefined); // runs `finish` once the step in flight ends
        else finish();
      },
    });
  }

  /** The edges ControlNet would see for `image` at width × height, as a PNG. */
  async cannyPreview(image: EncodedImage, low: number, high: number, width = 512, height = 512): Promise<ArrayBuffer> {
    if (!image.bytes.byteLength) throw invalidRequest('The image is empty', 'control_image');
    const rgba = await this.options.codec.decode(image, width, height, 'control_image');
    const edges = await this.options.canny(rgba, width, height, low, high);
    return this.options.codec.encode({ width, height, data: edges.rgba }, 'image/png');
  }

  /** Loads the plain model (downloading if needed) without generating. */
  async load(entry: CatalogEntry): Promise<LoadedModelInfo> {
    const m = await this.pipeline(entry);
    return this.models.describe(m, m.key);
  }

  /** One info per model: its plain copy and its adapter-merged one report together (`loras`). */
  async loaded(): Promise<LoadedModelInfo[]> {
    return mergeInfos(await this.models.infos());
  }

  /** The entry's safety checker, created on the pipeline's device (then on the CPU: onnxruntime-node's if listed, else wasm) on first use. */
  private safetyChecker(entry: CatalogEntry, device: OrtDevice): Promise<SafetyChecker> {
    return this.safetyCheckers.get(entry.id, async () => {
      if (!this.options.loadSafetyChecker) throw invalidRequest('No safety checker can be loaded in this runtime', 'safety_check', 'unsupported_parameter');
      const files = await this.options.loadSafetyChecker(entry);
      const { ort } = this.options;
      const cpu: OrtDevice = this.options.devices.includes('cpu') ? 'cpu' : 'wasm';
      const resolved = await resolveBackend(`${entry.id} safety checker`, [...new Set([device, cpu])].map((d) => ({
        name: d,
        create: () => ort.InferenceSession.create(files.model, { executionProviders: [d] }),
      })));
      return new SafetyChecker(ort, resolved.value, { preprocessor: files.preprocessor });
    });
  }

  /** Unloads the model and every adapter-merged copy of it. */
  async unload(id: string): Promise<void> {
    await this.safetyCheckers.unload(id);
    for (const key of this.models.keys()) if (key === id || key.startsWith(`${id}|`)) await this.models.unload(key);
  }

  private async pipeline(entry: CatalogEntry, lora?: LoraSource): Promise<LoadedPipeline> {
    const key = lora ? `${entry.id}|lora:${lora.repo}/${lora.filename ?? '*'}${lora.accessKey ? `|${await digest(lora.accessKey)}` : ''}` : entry.id;
    // One merged copy per model: a new adapter replaces the previous one (each copy holds a whole UNet). The load
    // is in the host before anything is awaited, so concurrent requests for it share one load.
    return this.models.get(key, async () => {
      const replaced = lora ? this.models.keys().filter((other) => other.startsWith(`${entry.id}|`)) : [];
      for (const other of replaced) await this.models.unload(other);
      return this.loadPipeline(key, entry, lora);
    });
  }

  private async loadPipeline(key: string, entry: CatalogEntry, lora?: LoraSource): Promise<LoadedPipeline> {
    const spec = entry.image;
    if (!spec) throw new Error(`Catalog entry ${entry.id} has no image spec`);
    // A LoRA adapter is fetched first: a missing or private one is a 400 before any model bytes are read.
    let adapter: { bytes: Uint8Array; filename: string } | undefined;
    if (lora) {
      if (!this.options.fetchLora) throw invalidRequest('LoRA adapters cannot be downloaded in this runtime', 'lora_adapter_name', 'unsupported_parameter');
      adapter = await this.options.fetchLora(lora);
    }
    const files = await this.options.loadFiles(entry);
    let merge: LoraMergeReport | undefined;
    if (lora && adapter) {
      const graphs = Object.fromEntries(Object.entries(files.models).map(([part, model]) => [part, { model, externalData: files.externalData[part] }]));
      const device = this.options.devices.includes('webgpu') && (globalThis.navigator as Navigator | undefined)?.gpu ? 'webgpu' : 'wasm';
      const merger = (await this.options.loraMerger?.(device)) ?? cpuMerger;
      merge = await mergeLora(graphs, adapter.bytes, merger, entry.id);
    }
    const { ort } = this.options;
    const resolved = await resolveBackend(entry.id, this.options.devices.map((device) => ({
      name: device,
      create: async () => {
        assertDeviceAvailable(device);
        if (spec.requiresF16 && onCpu(device)) throw new Error('this fp16 export needs WebGPU with shader-f16');
        if (spec.requiresF16 && !(await this.options.hasShaderF16?.())) throw new Error('the adapter lacks shader-f16, which this fp16 export needs');
        const sessions: Partial<Record<ImagePart, OrtModule.InferenceSession>> = {};
        try {
          for (const part of IMAGE_PARTS) {
            const bytes = files.models[part];
            if (!bytes) continue;
            sessions[part] = await createSession(ort, bytes, device, {
              graphOptimizationLevel: 'all',
              ...(files.externalData[part] && { externalData: files.externalData[part] }),
              // The UNet's output stays on the GPU: guidance and the sampler step run on it in WGSL (gpu-loop.ts).
              ...(device === 'webgpu' && (part === 'unet' || part === 'unet_controlnet') && { preferredOutputLocation: { out_sample: 'gpu-buffer' } }),
              // The ControlNet's residuals too: pipeline.ts feeds them, still on the GPU, to unet_controlnet.
              ...(device === 'webgpu' && part === 'controlnet' && { preferredOutputLocation: 'gpu-buffer' as const }),
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
    const sdxl = (spec.family ?? 'sdxl') === 'sdxl';
    if (!s.text_encoder || (sdxl && !s.text_encoder_2) || !s.unet || !s.vae_decoder) throw new Error(`Model ${entry.id} lacks a required part`);
    const model: SdxlModel = {
      ort, device: resolved.name as OrtDevice, spec,
      schedule: new KarrasSchedule(files.schedulerConfig),
      tokenizers: {
        one: new ClipTokenizer(files.tokenizer, files.tokenizerConfig),
        ...(sdxl && files.tokenizer2 && { two: new ClipTokenizer(files.tokenizer2, files.tokenizer2Config ?? {}) }),
      },
      sessions: {
        textEncoder: s.text_encoder, textEncoder2: s.text_encoder_2, unet: s.unet, vaeDecoder: s.vae_decoder,
        vaeEncoder: s.vae_encoder, controlnet: s.controlnet, unetControlnet: s.unet_controlnet,
      },
    };
    return { key, pipeline: new SdxlPipeline(model), entryId: entry.id, users: 0, retired: false, ...(lora && adapter && { lora: `${lora.repo}/${adapter.filename}`, merge }) };
  }
}

async function freeSessions(m: LoadedPipeline): Promise<void> {
  for (const s of Object.values(m.pipeline.model.sessions)) await s?.release().catch(() => undefined);
}

/** Separates adapters fetched with different access keys without keeping the key itself. */
async function digest(text: string): Promise<string> {
  const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  return Array.from(hash.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The engine as workers, `hearth serve`, tests and benches build it: its files (and the safety checker's) read through `files`. */
export function createImageService(options: Omit<ImageServiceOptions, 'loadFiles' | 'loadSafetyChecker'> & { files: ModelFiles }): ImageService {
  const { files, ...rest } = options;
  return new ImageService({ ...rest, loadFiles: (entry) => loadImageFiles(entry, files), loadSafetyChecker: (entry) => readSafetyCheckerFiles(entry, files) });
}

/**
 * The LLM engine as its worker runs it: for each catalog entry, tries the entry's variants in order on the
 * available devices (web-llm for MLC builds; for ONNX variants on WebGPU, Hearth's own WGSL decoder when the model is
 * a Llama-family one it can read, then onnxruntime-web on WebGPU, then wasm), keeps the first that loads — the
 * reasons the others were skipped are kept in its info — and runs one job per model at a time so concurrent requests
 * queue and never interleave their tokens.
 */
import { hearthError, toHearthError } from '../../core/errors';
import type { CatalogEntry, LlmVariant } from '../../models/types';
import { resolveBackend, type BackendCandidate } from '../backends';
import { onCpu, type OrtDevice } from '../embeddings/types';
import { generate, type LlmModel } from './generate';
import { loadOnnxLlm, type OnnxLlmFiles } from './onnx-backend';
import { assertDeviceAvailable, type Ort } from '../../core/session';
import { KeyedQueue } from '../../core/queue';
import { loadWgslLlm } from './wgsl/backend';
import { loadGgufLlm } from './wgsl/gguf-backend';
import type { WgslLlmShaderSources } from './wgsl/decoder';
import type { LlmEngine, LlmEvent, LlmJob, LoadedLlmInfo } from './types';

/** A loaded model, whatever runs it. */
export interface RunnableLlm {
  info: LoadedLlmInfo;
  generate(job: LlmJob): ReadableStream<LlmEvent>;
  release(): Promise<void>;
}

/** A backend family other than our ONNX decoder (web-llm), plugged in by the worker. */
export interface ExternalLlmBackend {
  name: string;
  load(entry: CatalogEntry, variant: LlmVariant): Promise<RunnableLlm>;
}

export interface LlmServiceOptions {
  ort: Ort;
  loadFiles(entry: CatalogEntry, variant: string): Promise<OnnxLlmFiles>;
  devices: OrtDevice[];
  /** Whether the WebGPU adapter offers `shader-f16` (f16 variants are skipped without it). */
  hasShaderF16(): Promise<boolean>;
  webLlm?: ExternalLlmBackend;
  /**
   * Hearth's WGSL decoder, tried before onnxruntime-web on WebGPU (absent: not tried). `device` supplies the GPU
   * device (Node tests, benches; default: one from navigator.gpu per model); `shaders` the kernel sources (default:
   * the bundled ones).
   */
  wgsl?: { device?: () => Promise<GPUDevice>; shaders?: WgslLlmShaderSources; ggufShader?: string };
  /** The bytes of a GGUF variant's file (role 'gguf'); absent: GGUF variants are refused. */
  loadGguf?(entry: CatalogEntry): Promise<Uint8Array>;
}

export class LlmService implements LlmEngine {
  private readonly models = new Map<string, Promise<RunnableLlm>>();
  private readonly queues = new KeyedQueue<string>();

  constructor(private readonly options: LlmServiceOptions) {}

  async load(entry: CatalogEntry): Promise<LoadedLlmInfo> {
    return (await this.model(entry)).info;
  }

  async loaded(): Promise<LoadedLlmInfo[]> {
    const out: LoadedLlmInfo[] = [];
    for (const p of this.models.values()) {
      const m = await p.catch(() => undefined);
      if (m) out.push(m.info);
    }
    return out;
  }

  async unload(id: string): Promise<void> {
    const p = this.models.get(id);
    this.models.delete(id);
    await (await p?.catch(() => undefined))?.release().catch(() => undefined);
  }

  /** Waits for the model's previous job to end, then streams this one; the next job waits for this stream to end. */
  async generate(job: LlmJob, signal?: AbortSignal): Promise<ReadableStream<LlmEvent>> {
    const queued = performance.now();
    const model = await this.model(job.entry);
    const turn = this.queues.enter(job.entry.id);
    const release = turn.leave;
    const stats = model.info.stats;
    stats.queued = (stats.queued ?? 0) + 1;
    await Promise.race([turn.ready, abortedPromise(signal)]);
    stats.queued--;
    if (signal?.aborted) {
      // Its client has gone: dropped before it starts (the queue behind it still waits for the previous job).
      release();
      stats.cancelled++;
      throw hearthError('cancelled', 'The client went away before the job started');
    }
    let source: ReadableStreamDefaultReader<LlmEvent>;
    try {
      source = model.generate(job).getReader();
    } catch (e) {
      release();
      throw e;
    }
    const unload = () => this.unload(job.entry.id);
    stats.requests++;
    const clock = jobClock(queued);
    // The next job starts only once this one's source has settled. A cancel ends a pending read at once (done), while
    // the source may still be in a session.run: then only the cancel, which waits for that run, lets the next job in.
    let cancelled = false;
    return new ReadableStream<LlmEvent>({
      async pull(controller) {
        try {
          const { value, done } = await source.read();
          if (done) {
            if (!cancelled) release();
            controller.close();
          } else {
            controller.enqueue(clock.stamp(value));
          }
        } catch (e) {
          if (cancelled) return;
          release();
          const err = toHearthError(e);
          if (err.status >= 500) await unload(); // a device or runtime failure: load afresh next time
          controller.error(err);
        }
      },
      async cancel(reason) {
        cancelled = true;
        stats.cancelled++;
        await source.cancel(reason).catch(() => undefined);
        release();
      },
    }, { highWaterMark: 0 });
  }

  private model(entry: CatalogEntry): Promise<RunnableLlm> {
    let p = this.models.get(entry.id);
    if (!p) {
      p = this.resolve(entry);
      p.catch(() => this.models.delete(entry.id));
      this.models.set(entry.id, p);
    }
    return p;
  }

  private async resolve(entry: CatalogEntry): Promise<RunnableLlm> {
    const spec = entry.llm;
    if (!spec) throw new Error(`Catalog entry ${entry.id} has no llm spec`);
    const candidates: BackendCandidate<RunnableLlm>[] = [];
    const { devices, webLlm } = this.options;
    for (const variant of spec.variants) {
      if (variant.backend === 'web-llm') {
        candidates.push({
          name: `web-llm:${variant.name}`,
          create: async () => {
            if (!webLlm) throw new Error('web-llm is not available in this worker');
            if (!devices.includes('webgpu')) throw new Error('web-llm needs WebGPU, which is disabled');
            if (variant.requiresF16 && !(await this.options.hasShaderF16())) throw new Error('the adapter lacks shader-f16');
            return webLlm.load(entry, variant);
          },
        });
        continue;
      }
      if (variant.backend === 'gguf') {
        candidates.push({ name: `wgsl:${variant.name}:webgpu`, create: () => this.loadGguf(entry, variant) });
        continue;
      }
      // One download serves both decoders of the variant.
      let files: Promise<OnnxLlmFiles> | undefined;
      const variantFiles = () => (files ??= this.options.loadFiles(entry, variant.name));
      const wgsl = this.options.wgsl;
      if (wgsl && devices.includes('webgpu')) {
        candidates.push({
          name: `wgsl:${variant.name}:webgpu`,
          create: async () => {
            if (!wgsl.device) assertDeviceAvailable('webgpu');
            if (variant.requiresF16) throw new Error('f16 variants are not read by the WGSL decoder yet');
            const device = await wgsl.device?.();
            const model = await loadWgslLlm(entry, variant, await variantFiles(), { device, shaders: wgsl.shaders });
            return llmRunnable(model, 'wgsl', variant.name, 'webgpu', () => model.decoder.release());
          },
        });
      }
      for (const device of devices) {
        candidates.push({
          name: `onnx:${variant.name}:${device}`,
          create: async () => {
            assertDeviceAvailable(device);
            if (device === 'webgpu' && variant.requiresF16 && !(await this.options.hasShaderF16())) {
              throw new Error('the adapter lacks shader-f16');
            }
            if (onCpu(device) && !variant.wasm) {
              throw new Error(variant.requiresF16 ? 'f16 variants need WebGPU' : `this variant does not run on ${device}`);
            }
            const model = await loadOnnxLlm(this.options.ort, entry, variant, device, await variantFiles());
            return llmRunnable(model, 'onnx', variant.name, device, () => model.decoder.release());
          },
        });
      }
    }
    const resolved = await resolveBackend(entry.id, candidates);
    resolved.value.info.skipped = resolved.skipped;
    return resolved.value;
  }

  /** A GGUF file runs on the WGSL decoder only (WebGPU); its own errors (a 400 naming the problem) pass through. */
  private async loadGguf(entry: CatalogEntry, variant: Extract<LlmVariant, { backend: 'gguf' }>): Promise<RunnableLlm> {
    const { wgsl, loadGguf, devices } = this.options;
    if (!wgsl || !loadGguf) throw new Error('GGUF files need Hearth\'s WGSL decoder, which is disabled here');
    if (!devices.includes('webgpu')) throw new Error('GGUF files need WebGPU, which is disabled');
    if (!wgsl.device && !(globalThis.navigator as Navigator | undefined)?.gpu) throw new Error('WebGPU is not available');
    const device = await wgsl.device?.();
    const model = await loadGgufLlm(entry, variant, await loadGguf(entry), { device, shaders: wgsl.shaders, ggufShader: wgsl.ggufShader });
    return llmRunnable(model, 'wgsl', variant.name, 'webgpu', () => model.decoder.release());
  }
}

/** Resolves when `signal` aborts (never without one). */
function abortedPromise(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (!signal) return;
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/**
 * Timings of one job around any backend: queue (and load) until the backend starts, prefill until its first event
 * after `start`, decode until `done` — which gets them as `timings` (perf_metrics_in_response).
 */
function jobClock(queued: number) {
  const started = performance.now();
  let firstToken: number | null = null;
  return {
    stamp(e: LlmEvent): LlmEvent {
      const now = performance.now();
      if (e.type !== 'start' && firstToken === null) firstToken = now;
      if (e.type !== 'done') return e;
      const first = firstToken ?? now;
      return { ...e, timings: { queueMs: started - queued, prefillMs: first - started, decodeMs: now - first } };
    },
  };
}

function llmRunnable(model: LlmModel, backend: string, variant: string, device: OrtDevice, release: () => Promise<void>): RunnableLlm {
  return {
    info: { id: model.id, backend, variant, device, skipped: [], stats: { requests: 0, cancelled: 0, generatedTokens: 0 } },
    generate(job) {
      return generate(model, job, this.info.stats);
    },
    release,
  };
}

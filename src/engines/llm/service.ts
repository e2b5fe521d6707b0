/**
 * The LLM engine as its worker runs it: for each catalog entry, tries the entry's variants in order with every
 * registered backend (backend-registry.ts: web-llm for MLC builds; for ONNX variants on WebGPU, Hearth's own WGSL
 * decoder when the model is a Llama-family one it can read, then onnxruntime-web on WebGPU, then wasm), keeps the first that loads — the
 * reasons the others were skipped are kept in its info — and runs one job per model at a time so concurrent requests
 * queue (the ModelHost's per-model rule) and never interleave their tokens.
 */
import { toHearthError } from '../../core/errors';
import type { CatalogEntry } from '../../models/types';
import { resolveBackend, type BackendCandidate } from '../backends';
import { ModelHost } from '../model-host';
import type { ModelFiles } from '../model-files';
import { readGgufFile, readLlmConfig, readLlmFiles } from './files';
import type { OrtDevice } from '../embeddings/types';
import type { Ort } from '../../core/session';
import { ggufBackend, onnxBackend, webLlmBackend, wgslBackend, type ExternalLlmBackend, type LlmBackend, type RunnableLlm } from './backend-registry';
import type { OnnxLlmFiles } from './onnx-backend';
import type { WgslLlmShaderSources } from './wgsl/decoder';
import type { LoadedModelInfo } from '../contract';
import type { LlmEngine, LlmEvent, LlmJob } from './types';

export type { ExternalLlmBackend, LlmBackend, RunnableLlm };

export interface LlmServiceOptions {
  ort: Ort;
  loadFiles(entry: CatalogEntry, variant: string): Promise<OnnxLlmFiles>;
  /** The variant's config.json alone, read before its other files (absent: taken from `loadFiles`). */
  loadConfig?(entry: CatalogEntry, variant: string): Promise<object>;
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
  /** The backend registry itself, replacing the one built from `webLlm`, `wgsl`, `loadGguf` and `ort` (web-llm, WGSL, GGUF, ONNX). */
  backends?: LlmBackend[];
}

export class LlmService implements LlmEngine {
  /** Jobs queue per model: each model's KV cache serves one job at a time, other models run meanwhile. */
  private readonly models = new ModelHost<RunnableLlm>({ release: (m) => m.release(), describe: (m) => m.info, queue: 'model' });

  /** The backends, in priority order, registered as equals (each offers candidates per variant). */
  private readonly backends: LlmBackend[];

  constructor(private readonly options: LlmServiceOptions) {
    this.backends = options.backends ?? [
      webLlmBackend(options.webLlm),
      ...(options.wgsl ? [wgslBackend(options.wgsl)] : []),
      ggufBackend(options.wgsl, options.loadGguf),
      onnxBackend(options.ort),
    ];
  }

  async load(entry: CatalogEntry): Promise<LoadedModelInfo> {
    return this.models.describe(await this.model(entry), entry.id);
  }

  async loaded(): Promise<LoadedModelInfo[]> {
    return this.models.infos();
  }

  async unload(id: string): Promise<void> {
    await this.models.unload(id);
  }

  /** Waits for the model's previous job to end, then streams this one; the next job waits for this stream to end. */
  async run(job: LlmJob, signal?: AbortSignal): Promise<ReadableStream<LlmEvent>> {
    const queued = performance.now();
    const model = await this.model(job.entry);
    const stats = model.info.stats;
    let release: () => void;
    try {
      release = await this.models.turn(job.entry.id, signal);
    } catch (e) {
      stats.cancelled++; // its client has gone: dropped before it starts
      throw e;
    }
    let source: ReadableStreamDefaultReader<LlmEvent>;
    try {
      source = model.generate(job).getReader();
    } catch (e) {
      release();
      throw e;
    }
    const failed = (e: unknown) => this.models.failed(job.entry.id, e);
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
          await failed(e); // a device or runtime failure: load afresh next time
          controller.error(toHearthError(e));
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
    return this.models.get(entry.id, () => this.resolve(entry));
  }

  /** Every registered backend's candidates for each variant, in order; the first that loads serves the model. */
  private async resolve(entry: CatalogEntry): Promise<RunnableLlm> {
    const spec = entry.llm;
    if (!spec) throw new Error(`Catalog entry ${entry.id} has no llm spec`);
    const { devices, hasShaderF16 } = this.options;
    const candidates: BackendCandidate<RunnableLlm>[] = [];
    for (const variant of spec.variants) {
      // One download serves every decoder of the variant; config.json comes first, alone, so a backend that refuses
      // the architecture does so before the big files are fetched.
      let files: Promise<OnnxLlmFiles> | undefined;
      let config: Promise<object> | undefined;
      const loadFiles = () => (files ??= this.options.loadFiles(entry, variant.name));
      const context = {
        devices, hasShaderF16, files: loadFiles,
        config: () => (config ??= this.options.loadConfig?.(entry, variant.name) ?? loadFiles().then((f) => f.config)),
      };
      for (const backend of this.backends) candidates.push(...backend.candidates(entry, variant, context));
    }
    const resolved = await resolveBackend(entry.id, candidates);
    resolved.value.info.skipped = resolved.skipped;
    return resolved.value;
  }
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

/** The engine as workers, `hearth serve`, tests and benches build it: its files read through `files`. */
export function createLlmService(options: Omit<LlmServiceOptions, 'loadFiles' | 'loadConfig'> & { files: ModelFiles }): LlmService {
  const { files, ...rest } = options;
  return new LlmService({
    ...rest,
    loadFiles: (entry, variant) => readLlmFiles(entry, variant, files),
    loadConfig: (entry, variant) => readLlmConfig(entry, variant, files),
    loadGguf: rest.loadGguf ?? ((entry) => readGgufFile(entry, files)),
  });
}

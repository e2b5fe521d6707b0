/**
 * The one engine contract every kind that serves catalog models implements (src/engines/kinds.ts lists the kinds):
 * `load / loaded / unload` over a ModelHost (model-host.ts), and `run(job, signal)`, which runs one job. Every kind
 * reports its loaded models in one shape (`LoadedModelInfo`), which GET /models merges without knowing the kinds
 * (loaded.ts).
 *
 * What `run` answers is the kind's `Output`:
 * - LLM and image jobs answer a stream of events (tokens, steps, images): cancelling the stream stops the job between
 *   tokens or steps, and the stream is how progress reaches the client live.
 * - An embeddings job answers its result itself (vectors and token count), not a one-event stream. Its answer is
 *   whole the moment it exists, so a stream would add only cost, and a small request's latency is what
 *   `bench --only=transformers` and the relay bench measure: a stream crossing a worker boundary (engine worker → API
 *   worker, and again to a page's client) is a port of its own, transferred with the answer and read with a message
 *   per chunk and one for its end, where a whole answer is one cloned message. `node bench/answer-shape.mjs`
 *   measures one hop: the one-event stream's round trip takes about 6× the whole answer's (p50 ~230 µs vs ~40 µs,
 *   Node 20 worker_threads on this 2-core machine). It is still cancellable: its `signal` drops it before it starts.
 */
import type { CatalogEntry } from '../models/types';

/** Counters of a loaded model's jobs (LLM models report them; GET /models shows them as `stats`). */
export interface ModelStats {
  requests: number;
  cancelled: number;
  generatedTokens: number;
  /** Jobs waiting for their turn on the model (the ModelHost's count). */
  queued?: number;
}

/** What an engine reports about one loaded model, the same for every kind (GET /models reads it). */
export interface LoadedModelInfo {
  /** The catalog id. */
  id: string;
  /** Where it runs: 'webgpu' | 'wasm' (| 'cpu' | 'cuda' in `hearth serve`) for ONNX models; web-llm runs on WebGPU. */
  device: string;
  /** What runs it: 'onnx', 'wgsl', 'web-llm', … */
  backend: string;
  /** The catalog variant loaded (LLMs). */
  variant?: string;
  /** The higher-priority backends that could not run the model, and why (e.g. the WGSL decoder, CUDA). */
  skipped: { name: string; reason: string }[];
  stats?: ModelStats;
  /** Image models: the LoRA adapters (`repo/file`) merged into a loaded copy of the model. */
  loras?: string[];
}

export interface ModelEngine<Job, Output> {
  /** Loads the entry's model (downloading it if needed) without running anything: the model manager's "load". */
  load(entry: CatalogEntry): Promise<LoadedModelInfo>;
  /** The models loaded so far. */
  loaded(): Promise<LoadedModelInfo[]>;
  /** Frees the model (and every copy of it); the next job loads it afresh. */
  unload(id: string): Promise<void>;
  /**
   * Runs one job, after the jobs queued before it on its model or device (the ModelHost's rule). A job whose
   * `signal` has aborted while it waited for its turn is dropped before it starts (499 `cancelled`).
   */
  run(job: Job, signal?: AbortSignal): Promise<Output>;
}

/** An engine whose jobs answer a stream of events; the stream's cancel() stops the job. */
export type StreamingEngine<Job, Event> = ModelEngine<Job, ReadableStream<Event>>;

/**
 * The embeddings engine as a worker runs it: loads models on demand through a file loader (the artifact store in
 * the browser, the file system in Node), keeps one embedder per model, and runs one job at a time (the ModelHost's
 * per-device queue) so batches never interleave on the device. Concurrent requests to one model are coalesced with no
 * fixed wait: a request that finds the engine idle runs on the event loop's next turn (taking along whatever arrived
 * in the same turn), and the requests that arrive while a job runs wait for it and then run together as the next
 * job, sharing batches, each still answered with its own vectors, token count and errors. A lone request thus pays
 * no coalescing window, and a burst pays one job per "the device was busy" interval. Loaded models live in a
 * ModelHost: one that fails to load or breaks mid-run is dropped so the next request loads it afresh.
 */
import { toHearthError } from '../../core/errors';
import { nextTurn, sleep } from '../../core/deferred';
import type { CatalogEntry } from '../../models/types';
import type { LoadedModelInfo } from '../contract';
import { droppedBeforeStart, ModelHost } from '../model-host';
import type { ModelFiles } from '../model-files';
import { readEmbedderFiles } from './files';
import { OnnxEmbedder, type EmbedderFiles, type Ort } from './onnx-embedder';
import type { EmbeddingsEngine, EmbedRequest, EmbedResult, OrtDevice } from './types';

export type FileLoader = (entry: CatalogEntry) => Promise<EmbedderFiles>;

/**
 * How long an idle engine waits for more requests to the same model before it runs (milliseconds). 0: no timer, only
 * the event loop's next turn (requests already queued get in); a busy engine never waits, it coalesces what queued
 * up while it ran.
 */
export const DEFAULT_COALESCE_MS = 0;
/** Inputs one coalesced job takes at most (the rest wait for the next job). */
const MAX_COALESCED_INPUTS = 256;

interface Waiting {
  request: EmbedRequest;
  signal?: AbortSignal;
  resolve(result: EmbedResult): void;
  reject(error: unknown): void;
}

export class EmbeddingsService implements EmbeddingsEngine {
  /** One queue for the device: a job's batches never interleave with another's, whichever models they use. */
  private readonly models = new ModelHost<OnnxEmbedder>({ release: (m) => m.release(), describe: (m) => m.info, queue: 'device' });
  private readonly waiting = new Map<string, Waiting[]>();
  /** Jobs queued or running: 0 means the device is idle and a new job may start on the next turn. */
  private pendingJobs = 0;
  /** Jobs run and requests answered, per engine: requests ÷ jobs is how much coalescing happened. */
  readonly counters = { jobs: 0, requests: 0 };

  constructor(private readonly ort: Ort, private readonly loadFiles: FileLoader, private readonly devices: OrtDevice[],
    private readonly coalesceMs = DEFAULT_COALESCE_MS) {}

  async load(entry: CatalogEntry): Promise<LoadedModelInfo> {
    return this.models.describe(await this.embedder(entry), entry.id);
  }

  async run(request: EmbedRequest, signal?: AbortSignal): Promise<EmbedResult> {
    const embedder = await this.embedder(request.entry);
    const id = request.entry.id;
    return new Promise<EmbedResult>((resolve, reject) => {
      let queue = this.waiting.get(id);
      const first = !queue?.length;
      if (!queue) this.waiting.set(id, (queue = []));
      queue.push({ request, signal, resolve, reject });
      if (first) this.schedule(id, embedder);
    });
  }

  /** Queues a job for `id`'s waiting requests; it starts at once (next turn) when no other job is queued or running. */
  private schedule(id: string, embedder: OnnxEmbedder): void {
    const idle = this.pendingJobs === 0;
    this.pendingJobs++;
    void this.models.enqueue(id, () => this.runWaiting(id, embedder, idle)).finally(() => this.pendingJobs--);
  }

  /**
   * One job: the requests waiting for this model, run together. On an idle engine it first lets the event loop turn
   * once (or waits `coalesceMs`), so requests sent together arrive together; after a busy spell it takes at once
   * everything that queued up meanwhile.
   */
  private async runWaiting(id: string, embedder: OnnxEmbedder, idle: boolean): Promise<void> {
    const queue = this.waiting.get(id) ?? [];
    if (idle && inputCount(queue) < MAX_COALESCED_INPUTS) await (this.coalesceMs > 0 ? sleep(this.coalesceMs) : nextTurn());
    const job: Waiting[] = [];
    let inputs = 0;
    while (queue.length && (job.length === 0 || inputs + queue[0].request.inputs.length <= MAX_COALESCED_INPUTS)) {
      const next = queue.shift()!;
      if (next.signal?.aborted) {
        // Its client has gone: dropped before it runs.
        next.reject(droppedBeforeStart());
        continue;
      }
      job.push(next);
      inputs += next.request.inputs.length;
    }
    if (queue.length) this.schedule(id, embedder);
    if (!job.length) return;
    this.counters.jobs++;
    this.counters.requests += job.length;
    try {
      const results = await embedder.embedMany(job.map((w) => ({ inputs: w.request.inputs, dimensions: w.request.dimensions })));
      results.forEach((result, k) => ('error' in result ? job[k].reject(toHearthError(result.error)) : job[k].resolve(result)));
    } catch (e) {
      await this.models.failed(id, e); // a device or runtime failure: reload next time
      for (const w of job) w.reject(toHearthError(e));
    }
  }

  async loaded(): Promise<LoadedModelInfo[]> {
    return this.models.infos();
  }

  async unload(id: string): Promise<void> {
    await this.models.unload(id);
  }

  private embedder(entry: CatalogEntry): Promise<OnnxEmbedder> {
    return this.models.get(entry.id, () => this.loadFiles(entry).then((files) => OnnxEmbedder.create(this.ort, entry, files, this.devices)));
  }
}

function inputCount(queue: Waiting[]): number {
  return queue.reduce((n, w) => n + w.request.inputs.length, 0);
}

/** The engine as workers, `hearth serve`, tests and benches build it: its files read through `files`. */
export function createEmbeddingsService(options: { ort: Ort; files: ModelFiles; devices: OrtDevice[]; coalesceMs?: number }): EmbeddingsService {
  return new EmbeddingsService(options.ort, (entry) => readEmbedderFiles(entry, options.files), options.devices, options.coalesceMs);
}

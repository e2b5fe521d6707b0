/**
 * The loaded models of one engine and the order its jobs run in, the same way for every kind:
 * - a model is loaded once (concurrent callers share one load, keyed by catalog id or any finer key), a load that
 *   fails is forgotten so the next call loads afresh, a model that fails while it runs is evicted by one rule
 *   (`isEngineFailure`), and unloading releases it once its load has settled;
 * - jobs queue by one rule, chosen per engine (`queue`): per model (each model's jobs run one at a time, different
 *   models side by side: an LLM's KV cache belongs to one job at a time) or per device (every job of the engine one
 *   at a time, whatever its model: the engine's models share one device, and batches or denoising steps of two jobs
 *   must not interleave on it). A job takes its place with `turn` (waits, counted per model in `stats.queued`,
 *   dropped before it starts when its client has gone), `enter` (a stream that waits inside itself: image) or
 *   `enqueue` (one promise: a coalesced embeddings batch);
 * - loaded models are described in the one shape GET /models reads (contract.ts's LoadedModelInfo).
 */
import { hearthError, toHearthError, type HearthError } from '../core/errors';
import { KeyedQueue, type QueueTurn } from '../core/queue';
import type { LoadedModelInfo } from './contract';

/**
 * The one eviction rule: an error that is not the request's fault (a device, runtime or internal failure: status
 * 500 and up, including anything not already a coded error) leaves the model in an unknown state, so it is
 * dropped and the next request loads it afresh. Bad input (4xx) and cancellation (499) keep it.
 */
export function isEngineFailure(error: unknown): boolean {
  return toHearthError(error).status >= 500;
}

/** The error of a job whose client went away while it waited for its turn (499 `cancelled`). */
export function droppedBeforeStart(): HearthError {
  return hearthError('cancelled', 'The client went away before the job started');
}

/** Which jobs wait for each other: those on the same model, or every job on the engine's device. */
export type QueueScope = 'model' | 'device';

export interface ModelHostOptions<T> {
  /** Frees a model that is unloaded or evicted (its errors are ignored). */
  release(model: T, key: string): Promise<void> | void;
  /**
   * What GET /models reports about a loaded model (`stats.queued` is filled in by the host); absent for models it
   * does not list (a pipeline's safety checker).
   */
  describe?(model: T, key: string): LoadedModelInfo;
  /** Default: 'model'. */
  queue?: QueueScope;
}

export class ModelHost<T> {
  private readonly models = new Map<string, Promise<T>>();
  /** By model key, or one queue (key '') for the whole device. */
  private readonly queues = new KeyedQueue<string>();
  /** Jobs waiting for their turn, per model key. */
  private readonly waiting = new Map<string, number>();

  constructor(private readonly options: ModelHostOptions<T>) {}

  /** The model under `key`, loaded with `load` the first time it is asked for. */
  get(key: string, load: () => Promise<T>): Promise<T> {
    let p = this.models.get(key);
    if (!p) {
      const loading = load();
      p = loading;
      loading.catch(() => {
        if (this.models.get(key) === loading) this.models.delete(key);
      });
      this.models.set(key, loading);
    }
    return p;
  }

  /** Keys loaded or loading, in the order they were first asked for. */
  keys(): string[] {
    return [...this.models.keys()];
  }

  /** The models that have loaded (waiting for loads in progress; failed loads are left out), with their keys. */
  async loaded(): Promise<{ key: string; model: T }[]> {
    const out: { key: string; model: T }[] = [];
    for (const [key, p] of [...this.models]) {
      const model = await p.catch(() => undefined);
      if (model !== undefined) out.push({ key, model });
    }
    return out;
  }

  /** The loaded models as GET /models reports them, in load order. */
  async infos(): Promise<LoadedModelInfo[]> {
    if (!this.options.describe) return [];
    return (await this.loaded()).map(({ key, model }) => this.describe(model, key));
  }

  /** One loaded model as GET /models reports it (with the jobs waiting for it, where it keeps stats). */
  describe(model: T, key: string): LoadedModelInfo {
    if (!this.options.describe) throw new Error('This ModelHost does not describe its models');
    const info = this.options.describe(model, key);
    return info.stats ? { ...info, stats: { ...info.stats, queued: this.waiting.get(key) ?? 0 } } : info;
  }

  /** Forgets the model (the next `get` loads it afresh) and releases it once its load has settled. */
  async unload(key: string): Promise<void> {
    const p = this.models.get(key);
    this.models.delete(key);
    const model = await p?.catch(() => undefined);
    if (model !== undefined) await Promise.resolve(this.options.release(model, key)).catch(() => undefined);
  }

  /** Applies the eviction rule to an error a run of the model under `key` ended with. */
  async failed(key: string, error: unknown): Promise<void> {
    if (isEngineFailure(error)) await this.unload(key);
  }

  /** Runs `job` in its turn among the jobs of the model under `key` (per the engine's queue scope). */
  enqueue<R>(key: string, job: () => Promise<R>): Promise<R> {
    return this.queue(key).run(job);
  }

  /**
   * Takes a place in the queue now, for a job whose end is not one promise (a stream): `ready` settles at its turn,
   * `leave()` lets the next job in once this one has really stopped.
   */
  enter(key: string): QueueTurn {
    return this.queue(key).enter();
  }

  /**
   * Takes a place in the queue and waits for its turn, counted as waiting for the model under `key` meanwhile. A job
   * whose `signal` aborts while it waits leaves its place at once and is dropped (499 `cancelled`); otherwise the
   * answer is the `leave` to call once the job has really stopped.
   */
  async turn(key: string, signal?: AbortSignal): Promise<() => void> {
    const { ready, leave } = this.enter(key);
    this.waiting.set(key, (this.waiting.get(key) ?? 0) + 1);
    try {
      await Promise.race([ready, aborted(signal)]);
    } finally {
      const left = (this.waiting.get(key) ?? 1) - 1;
      if (left) this.waiting.set(key, left);
      else this.waiting.delete(key);
    }
    if (signal?.aborted) {
      // The queue behind it still waits for the job before it.
      leave();
      throw droppedBeforeStart();
    }
    return leave;
  }

  private queue(key: string) {
    return this.queues.of(this.options.queue === 'device' ? '' : key);
  }
}

/** Resolves when `signal` aborts (never without one). */
function aborted(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (!signal) return;
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

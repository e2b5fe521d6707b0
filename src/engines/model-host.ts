/**
 * The loaded models of one engine, the same way for every kind: a model is loaded once (concurrent callers share
 * one load, keyed by catalog id or any finer key), a load that fails is forgotten so the next call loads afresh, a
 * model that fails while it runs is evicted by one rule (`isEngineFailure`), and unloading releases it once its load
 * has settled. Engines keep their own queues and info shapes; this holds what they shared.
 */
import { toHearthError } from '../core/errors';

/**
 * The one eviction rule: an error that is not the request's fault (a device, runtime or internal failure: status
 * 500 and up, including anything not already a coded error) leaves the model in an unknown state, so it is
 * dropped and the next request loads it afresh. Bad input (4xx) and cancellation (499) keep it.
 */
export function isEngineFailure(error: unknown): boolean {
  return toHearthError(error).status >= 500;
}

export class ModelHost<T> {
  private readonly models = new Map<string, Promise<T>>();

  /** `release` frees a model that is unloaded or evicted (its errors are ignored). */
  constructor(private readonly release: (model: T, key: string) => Promise<void> | void) {}

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

  /** Forgets the model (the next `get` loads it afresh) and releases it once its load has settled. */
  async unload(key: string): Promise<void> {
    const p = this.models.get(key);
    this.models.delete(key);
    const model = await p?.catch(() => undefined);
    if (model !== undefined) await Promise.resolve(this.release(model, key)).catch(() => undefined);
  }

  /** Applies the eviction rule to an error a run of the model under `key` ended with. */
  async failed(key: string, error: unknown): Promise<void> {
    if (isEngineFailure(error)) await this.unload(key);
  }
}

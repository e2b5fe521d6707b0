/**
 * The host's engine pool: one dedicated worker per engine kind, started on first use and shared by every request.
 * ENGINE_WORKERS is the runtime's column of the kinds table (src/engines/kinds.ts): kind → its worker entry and how
 * to connect to it.
 */
import * as Comlink from 'comlink';
import type { EngineInterfaces, EngineKind, Engines } from '../engines/kinds';
import { loadedModels } from '../engines/loaded';
import { connectEngine } from './worker-protocol';
import type { WorkerConfig } from './worker-config';

interface EngineWorker<T> {
  /** Starts the kind's worker (Vite bundles each `new Worker(new URL(literal, import.meta.url))` it sees written out). */
  start(name: string): Worker;
  connect(worker: Worker): T;
}

const ENGINE_WORKERS: { [K in EngineKind]: EngineWorker<EngineInterfaces[K]> } = {
  embeddings: {
    start: (name) => new Worker(new URL('../../workers/embeddings.worker.ts', import.meta.url), { type: 'module', name }),
    connect: (w) => connectEngine(w),
  },
  llm: {
    start: (name) => new Worker(new URL('../../workers/llm.worker.ts', import.meta.url), { type: 'module', name }),
    connect: (w) => connectEngine(w),
  },
  image: {
    start: (name) => new Worker(new URL('../../workers/sdxl.worker.ts', import.meta.url), { type: 'module', name }),
    connect: (w) => connectEngine(w),
  },
  diagnostics: {
    start: (name) => new Worker(new URL('../../workers/diagnostics.worker.ts', import.meta.url), { type: 'module', name }),
    // Its streams are transferred by the worker itself: a plain Comlink proxy.
    connect: (w) => Comlink.wrap<EngineInterfaces['diagnostics']>(w) as unknown as EngineInterfaces['diagnostics'],
  },
};

export type { EngineKind };

export type EnginePool = Engines & {
  /** A fresh port to the kind's engine worker (started if need be), for a context that reaches it through this pool's owner. */
  port?(kind: EngineKind): Promise<MessagePort>;
  terminate(): void;
};

export function createEnginePool(config: WorkerConfig, options: { diagnostics?: boolean } = {}): EnginePool {
  const workers: Worker[] = [];
  const name = JSON.stringify(config);
  let started: { [K in EngineKind]?: EngineInterfaces[K] } = {};
  /** A plain Comlink proxy per started worker, for `port` (a fresh endpoint to hand on). */
  const byKind = new Map<EngineKind, Comlink.Remote<unknown>>();
  const engine = <K extends EngineKind>(kind: K): EngineInterfaces[K] => {
    let e = started[kind] as EngineInterfaces[K] | undefined;
    if (!e) {
      const worker = ENGINE_WORKERS[kind].start(name);
      workers.push(worker);
      byKind.set(kind, Comlink.wrap(worker));
      e = ENGINE_WORKERS[kind].connect(worker);
      started[kind] = e;
    }
    return e;
  };

  return {
    embeddings: async () => engine('embeddings'),
    llm: async () => engine('llm'),
    image: async () => engine('image'),
    loaded: () => loadedModels(started),
    ...(options.diagnostics && { diagnostics: async () => engine('diagnostics') }),
    async port(kind) {
      if (kind !== 'diagnostics' || options.diagnostics) engine(kind);
      const proxy = byKind.get(kind);
      if (!proxy) throw new Error(`No ${kind} engine in this pool`);
      return proxy[Comlink.createEndpoint]();
    },
    terminate() {
      byKind.clear();
      for (const w of workers.splice(0)) w.terminate();
      started = {};
    },
  };
}

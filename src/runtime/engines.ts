/**
 * The host's engine pool: one dedicated worker per engine kind, started on first use and shared by every request,
 * each under a supervisor (./supervisor.ts) that enforces job deadlines and restarts a stuck, crashed or
 * device-lost worker (on wasm only once its GPU devices keep getting lost). `engines` below is the runtime's column of
 * the kinds table (src/engines/kinds.ts): a kind added there is demanded here, with its worker entry.
 */
import * as Comlink from 'comlink';
import type { DiagnosticsEngine } from '../engines/diagnostics/types';
import type { EmbeddingsEngine } from '../engines/embeddings/types';
import type { LlmEngine } from '../engines/llm/types';
import type { ImageEngine } from '../engines/sdxl/types';
import type { EngineInterfaces, EngineKind, ModelEngineKind } from '../engines/kinds';
import { loadedModels, type LoadedModelState } from '../engines/loaded';
import { engineDeadlines, type EngineDeadlines } from './deadlines';
import { devicesAfterLosses } from './device-fallback';
import { superviseEngine, type EngineHealth, type SupervisedEngine } from './supervisor';
import type { EngineFault } from './supervision-protocol';
import type { WorkerConfig } from './worker-config';
import { relayEngine } from './worker-protocol';

export interface EnginePool {
  embeddings(): Promise<EmbeddingsEngine>;
  llm(): Promise<LlmEngine>;
  image(): Promise<ImageEngine>;
  diagnostics?(): Promise<DiagnosticsEngine>;
  /** Loaded models of the engines started so far; starts nothing. */
  loaded(): Promise<Map<string, LoadedModelState>>;
  /** Per engine kind: restarts and jobs in flight per model. */
  health(): EngineHealth[];
  /** Test-only (pools created with diagnostics): injects a fault into an engine worker. */
  injectFault?(kind: ModelEngineKind, fault: EngineFault, ms?: number): boolean;
  /** A fresh port to the kind's engine (started if need be), for a context that reaches it through this pool's owner. */
  port?(kind: EngineKind): Promise<MessagePort>;
  terminate(): void;
}

/** How long GET /models waits for a worker to list its loaded models. */
const LOADED_ANSWER_MS = 10_000;

export interface EnginePoolOptions {
  /** Mounts the diagnostics worker and lets tests inject faults into engine workers. */
  diagnostics?: boolean;
  /** Job deadlines per engine kind and the grace period after them (defaults: ./deadlines.ts). */
  deadlines?: Partial<EngineDeadlines>;
}

export function createEnginePool(config: WorkerConfig, options: EnginePoolOptions = {}): EnginePool {
  const name = JSON.stringify(options.diagnostics ? { ...config, testHooks: true } : config);
  const deadlines = engineDeadlines(options.deadlines);
  /** When each engine's GPU devices were lost: repeated losses send its next worker to wasm (./device-fallback.ts). */
  const losses: Record<ModelEngineKind, number[]> = { embeddings: [], llm: [], image: [] };
  const nameFor = (kind: ModelEngineKind) => {
    const devices = devicesAfterLosses(config.devices, losses[kind], Date.now());
    return devices === config.devices ? name : JSON.stringify({ ...JSON.parse(name) as WorkerConfig, devices });
  };
  const hooks = (kind: ModelEngineKind) => ({
    onRestart: (reason: string) => void (reason === 'device_lost' && losses[kind].push(Date.now())),
  });
  // Each `new Worker(new URL(…))` stays literal: that is the form Vite finds and bundles workers by.
  const engines: { [K in ModelEngineKind]: SupervisedEngine<EngineInterfaces[K]> } = {
    embeddings: superviseEngine<EmbeddingsEngine>('embeddings', () => new Worker(new URL('../../workers/embeddings.worker.ts', import.meta.url), { type: 'module', name: nameFor('embeddings') }), deadlines, hooks('embeddings')),
    llm: superviseEngine<LlmEngine>('llm', () => new Worker(new URL('../../workers/llm.worker.ts', import.meta.url), { type: 'module', name: nameFor('llm') }), deadlines, hooks('llm')),
    image: superviseEngine<ImageEngine>('image', () => new Worker(new URL('../../workers/sdxl.worker.ts', import.meta.url), { type: 'module', name: nameFor('image') }), deadlines, hooks('image')),
  };
  let diagnosticsWorker: Worker | undefined;
  let diagnostics: DiagnosticsEngine | undefined;
  /**
   * An engine's loaded models, without starting it: none when its worker is not running, or when it does not answer
   * within a moment (a busy or stuck worker must not hold GET /models).
   */
  const loadedIn = <I>(kind: ModelEngineKind, engine: { loaded(): Promise<I[]> }) => ({
    loaded: async (): Promise<I[]> => {
      if (!engines[kind].health().running) return [];
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<I[]>((resolve) => (timer = setTimeout(() => resolve([]), LOADED_ANSWER_MS)));
      try {
        return await Promise.race([engine.loaded().catch(() => []), late]);
      } finally {
        clearTimeout(timer);
      }
    },
  });

  return {
    embeddings: async () => engines.embeddings.engine,
    llm: async () => engines.llm.engine,
    image: async () => engines.image.engine,
    loaded: () => loadedModels({
      embeddings: loadedIn('embeddings', engines.embeddings.engine),
      llm: loadedIn('llm', engines.llm.engine),
      image: loadedIn('image', engines.image.engine),
    }),
    health: () => Object.values(engines).map((e) => e.health()),
    ...(options.diagnostics && {
      async diagnostics() {
        diagnostics ??= Comlink.wrap<DiagnosticsEngine>(diagnosticsWorker = new Worker(new URL('../../workers/diagnostics.worker.ts', import.meta.url), { type: 'module', name }));
        return diagnostics;
      },
      injectFault: (kind: ModelEngineKind, fault: EngineFault, ms?: number) => engines[kind].inject(fault, ms),
    }),
    async port(kind) {
      const engine = kind === 'diagnostics' ? await this.diagnostics?.() : engines[kind].engine;
      if (!engine) throw new Error(`No ${kind} engine in this pool`);
      const { port1, port2 } = new MessageChannel();
      relayEngine(engine, port1);
      return port2;
    },
    terminate() {
      for (const e of Object.values(engines)) e.terminate();
      diagnosticsWorker?.terminate();
      diagnosticsWorker = undefined;
      diagnostics = undefined;
    },
  };
}

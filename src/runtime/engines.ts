/**
 * The host's engine pool: one dedicated worker per engine kind, started on first use and shared by every request,
 * each under a supervisor (./supervisor.ts) that enforces job deadlines and restarts a stuck, crashed or
 * device-lost worker (on wasm only once its GPU devices keep getting lost). Built from the kinds table
 * (src/engines/kinds.ts: each kind's worker start, whether it serves models or tests only): nothing here names a kind.
 */
import * as Comlink from 'comlink';
import { ENGINE_KINDS, MODEL_KINDS, perModelKind, TEST_KINDS, type EngineInterfaces, type EngineKind, type Engines, type ModelKind, type TestEngineKind } from '../engines/kinds';
import { loadedModels } from '../engines/loaded';
import { engineDeadlines, type EngineDeadlines } from './deadlines';
import { devicesAfterLosses } from './device-fallback';
import { superviseEngine, type AsyncMethods, type EngineHealth, type SupervisedEngine } from './supervisor';
import type { EngineFault } from './supervision-protocol';
import type { WorkerConfig } from './worker-config';
import { relayEngine } from './worker-protocol';

/** The engines (one getter per kind, `loaded()`), and the pool's own controls. */
export type EnginePool = Engines & {
  /** Per engine kind: restarts and jobs in flight per model. */
  health(): EngineHealth[];
  /** Test-only (pools created with diagnostics): injects a fault into an engine worker. */
  injectFault?(kind: ModelKind, fault: EngineFault, ms?: number): boolean;
  /** A fresh port to the kind's engine (started if need be), for a context that reaches it through this pool's owner. */
  port?(kind: EngineKind): Promise<MessagePort>;
  terminate(): void;
};

/** How long GET /models waits for a worker to list its loaded models. */
const LOADED_ANSWER_MS = 10_000;

export interface EnginePoolOptions {
  /** Mounts the test-only kinds' workers (diagnostics) and lets tests inject faults into engine workers. */
  diagnostics?: boolean;
  /** Job deadlines per engine kind and the grace period after them (defaults: ./deadlines.ts). */
  deadlines?: Partial<EngineDeadlines>;
}

type Supervised = { [K in ModelKind]: SupervisedEngine<EngineInterfaces[K]> };
type ModelGetters = { [K in ModelKind]: () => Promise<EngineInterfaces[K]> };
type TestGetters = { [K in TestEngineKind]: () => Promise<EngineInterfaces[K]> };
type LoadedLists = { [K in ModelKind]: Pick<EngineInterfaces[K], 'loaded'> };
/** Every engine interface's methods are async, so a supervised engine (its methods relayed) is one: else a type error. */
const engineInterfacesAreAsync: { [K in ModelKind]: AsyncMethods<EngineInterfaces[K]> } extends { [K in ModelKind]: EngineInterfaces[K] } ? true : never = true;
void engineInterfacesAreAsync;

export function createEnginePool(config: WorkerConfig, options: EnginePoolOptions = {}): EnginePool {
  const name = JSON.stringify(options.diagnostics ? { ...config, testHooks: true } : config);
  const deadlines = engineDeadlines(options.deadlines);
  /** When each engine's GPU devices were lost: repeated losses send its next worker to wasm (./device-fallback.ts). */
  const losses = perModelKind<Record<ModelKind, number[]>>(() => []);
  const nameFor = (kind: ModelKind) => {
    const devices = devicesAfterLosses(config.devices, losses[kind], Date.now());
    return devices === config.devices ? name : JSON.stringify({ ...JSON.parse(name) as WorkerConfig, devices });
  };
  const hooks = (kind: ModelKind) => ({
    onRestart: (reason: string) => void (reason === 'device_lost' && losses[kind].push(Date.now())),
  });
  // Each kind's worker, from the kinds table (src/engines/kinds.ts), under a supervisor.
  const engines = perModelKind<Supervised>(<K extends ModelKind>(kind: K) =>
    superviseEngine<EngineInterfaces[K]>(kind, () => ENGINE_KINDS[kind].worker(nameFor(kind)), deadlines, hooks(kind)) as Supervised[K]);
  /** A supervised engine as its kind's interface (every method of an engine interface is async: checked below). */
  const engineOf = <K extends ModelKind>(kind: K) => engines[kind].engine as AsyncMethods<EngineInterfaces[K]> as EngineInterfaces[K];
  /** The test-only kinds' workers, started on first use (unsupervised). */
  const testWorkers = new Map<TestEngineKind, Worker>();
  const testEngines = new Map<TestEngineKind, unknown>();
  const testEngine = <K extends TestEngineKind>(kind: K): EngineInterfaces[K] => {
    if (!testEngines.has(kind)) {
      const worker = ENGINE_KINDS[kind].worker(name);
      testWorkers.set(kind, worker);
      testEngines.set(kind, Comlink.wrap<EngineInterfaces[K]>(worker));
    }
    return testEngines.get(kind) as EngineInterfaces[K];
  };
  /**
   * An engine's loaded models, without starting it: none when its worker is not running, or when it does not answer
   * within a moment (a busy or stuck worker must not hold GET /models).
   */
  const loadedIn = (kind: ModelKind) => ({
    loaded: async (): Promise<unknown[]> => {
      if (!engines[kind].health().running) return [];
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<unknown[]>((resolve) => (timer = setTimeout(() => resolve([]), LOADED_ANSWER_MS)));
      try {
        return await Promise.race([engineOf(kind).loaded().catch(() => []), late]);
      } finally {
        clearTimeout(timer);
      }
    },
  });

  return {
    ...perModelKind<ModelGetters>(<K extends ModelKind>(kind: K) => (async () => engineOf(kind)) as ModelGetters[K]),
    loaded: () => loadedModels(perModelKind<LoadedLists>(<K extends ModelKind>(kind: K) => loadedIn(kind) as LoadedLists[K])),
    health: () => MODEL_KINDS.map((kind) => engines[kind].health()),
    ...(options.diagnostics && {
      ...Object.fromEntries(TEST_KINDS.map((kind) => [kind, async () => testEngine(kind)])) as TestGetters,
      injectFault: (kind: ModelKind, fault: EngineFault, ms?: number) => engines[kind].inject(fault, ms),
    }),
    async port(kind) {
      const testOnly = TEST_KINDS.find((k) => k === kind);
      if (testOnly && !options.diagnostics) throw new Error(`No ${kind} engine in this pool`);
      const engine = testOnly ? testEngine(testOnly) : engineOf(kind as ModelKind);
      const { port1, port2 } = new MessageChannel();
      relayEngine(engine, port1);
      return port2;
    },
    terminate() {
      for (const kind of MODEL_KINDS) engines[kind].terminate();
      for (const worker of testWorkers.values()) worker.terminate();
      testWorkers.clear();
      testEngines.clear();
    },
  };
}

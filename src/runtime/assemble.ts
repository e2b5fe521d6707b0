/**
 * Builds one API runtime from the page's options: model registry, artifact store, remote backends, the engine pool
 * (one dedicated worker per engine kind, started on first use) and the API `handle` over them. The API worker builds
 * it (the default); the page itself does only on the main-thread path (`apiWorker: false`).
 */
import { createApi, type Handle } from '../api/handle';
import { Remotes } from '../api/remote/remotes';
import type { RemoteConfig } from '../api/remote/types';
import type { OrtDevice } from '../engines/embeddings/types';
import { ModelRegistry } from '../models/registry';
import { ArtifactStore } from '../models/store';
import type { CatalogEntry } from '../models/types';
import type { EngineDeadlines } from './deadlines';
import { createEnginePool, type EnginePool } from './engines';

/** What a runtime is built from: plain data, so the page can hand it to the API worker. */
export interface RuntimeOptions {
  devices: OrtDevice[];
  remotes: RemoteConfig[];
  wgslLlm: boolean;
  models: CatalogEntry[];
  aliases: Record<string, string>;
  apiKey?: string;
  diagnostics: boolean;
  /** Engine job deadlines (./deadlines.ts), plain data. */
  deadlines?: Partial<EngineDeadlines>;
  ortWasmBase?: string;
  hubEndpoint?: string;
  /** Absolute URL model files resolve against. */
  modelBase: string;
  /** The API's path, e.g. `/inference/v1`. */
  basePath: string;
}

export interface Runtime {
  handle: Handle;
  registry: ModelRegistry;
  store: ArtifactStore;
  engines: EnginePool;
  remotes: Remotes;
}

export function createRegistry(options: Pick<RuntimeOptions, 'models' | 'aliases'>): ModelRegistry {
  const registry = new ModelRegistry();
  for (const entry of options.models) registry.register(entry);
  for (const [name, target] of Object.entries(options.aliases)) registry.alias(name, target);
  return registry;
}

export function assembleRuntime(options: RuntimeOptions): Runtime {
  const registry = createRegistry(options);
  const store = new ArtifactStore(options.modelBase);
  const remotes = new Remotes(options.remotes);
  const engines = createEnginePool({
    devices: options.devices,
    wgslLlm: options.wgslLlm,
    ortWasmBase: options.ortWasmBase,
    modelBase: options.modelBase,
    hubEndpoint: options.hubEndpoint,
  }, { diagnostics: options.diagnostics, deadlines: options.deadlines });
  const handle = createApi({
    registry,
    engines,
    isDownloaded: (entry) => store.isDownloaded(entry),
    apiKey: options.apiKey,
    basePath: options.basePath,
    remotes,
    localEngines: options.devices.length > 0,
  });
  return { handle, registry, store, engines, remotes };
}

/**
 * The API worker: a dedicated worker the page starts that runs the API `handle()` with its own registry, artifact
 * store, remote backends and engine pool (the engine workers are its nested workers). Requests reach it on ports:
 * the service worker's (the host page transfers one per adoption, so relayed requests never touch the page's main
 * thread) and the page's own in-page client's. The page drives it with the typed calls below (Comlink).
 */
import * as Comlink from 'comlink';
import type { RemoteConfig } from '../api/remote/types';
import type { LoadedModelState } from '../engines/loaded';
import type { CatalogEntry } from '../models/types';
import { assembleRuntime, type Runtime, type RuntimeOptions } from './assemble';
import type { EngineKind } from '../engines/kinds';
import { serveRelayPort } from './relay-server';

/** What the page may ask of its API worker. */
export interface ApiWorkerControl {
  /** Builds the runtime; the page calls it once, first. */
  start(options: RuntimeOptions): void;
  /**
   * Answers requests arriving on `port`. A relay port (the service worker's) is answered only while the page is host
   * (`hosting`); the page's own port always.
   */
  connect(port: MessagePort, kind: 'relay' | 'page'): void;
  /** The page took or gave up the host role: when it gives it up, relay ports answer 503 `not_host` and are closed. */
  hosting(on: boolean): void;
  /** A port straight to one engine worker (the page's `hearth.engines`). */
  enginePort(kind: EngineKind): Promise<MessagePort>;
  /** Page-side edits of `hearth.registry` and `hearth.remotes`, applied to this runtime's copies. */
  register(entry: CatalogEntry): void;
  alias(name: string, target: string): void;
  setRemote(config: RemoteConfig): void;
  removeRemote(name: string): void;
  /** The engines' loaded models (`hearth.engines.loaded()`). */
  loadedModels(): Promise<Map<string, LoadedModelState>>;
  terminateEngines(): void;
}

export function runApiWorker(): void {
  let runtime: Runtime | undefined;
  let host = false;
  const relayPorts: MessagePort[] = [];
  const started = (): Runtime => {
    if (!runtime) throw new Error('The Hearth API worker was used before start()');
    return runtime;
  };
  const control: ApiWorkerControl = {
    start(options) {
      runtime ??= assembleRuntime(options);
    },
    connect(port, kind) {
      if (kind === 'page') return serveRelayPort(started().handle, port);
      relayPorts.push(port);
      serveRelayPort(started().handle, port, () => host);
    },
    hosting(on) {
      host = on;
      if (!on) for (const port of relayPorts.splice(0)) port.close();
    },
    async enginePort(kind) {
      const port = await started().engines.port!(kind);
      return Comlink.transfer(port, [port]);
    },
    register: (entry) => started().registry.register(entry),
    alias: (name, target) => started().registry.alias(name, target),
    setRemote: (config) => started().remotes.set(config),
    removeRemote: (name) => void started().remotes.remove(name),
    loadedModels: () => started().engines.loaded(),
    terminateEngines: () => started().engines.terminate(),
  };
  Comlink.expose(control);
}

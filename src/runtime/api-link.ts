/**
 * The page's side of the API worker (api-worker.ts): starts it, and gives the page what it used to build itself —
 * an API `handle` (the in-page client, answered in the worker), `hearth.engines` (ports straight to the engine
 * workers the API worker owns), ports for the service worker, and the page's registry and remotes edits forwarded to
 * the worker's copies.
 */
import * as Comlink from 'comlink';
import type { Handle } from '../api/handle';
import type { Remotes } from '../api/remote/remotes';
import type { ModelRegistry } from '../models/registry';
import type { ApiWorkerControl } from './api-worker';
import type { RuntimeOptions } from './assemble';
import { MODEL_KINDS, TEST_KINDS, type EngineInterfaces, type EngineKind } from '../engines/kinds';
import type { EnginePool } from './engines';
import { relayClient } from './relay-client';
import { connectEngine } from './worker-protocol';

export interface ApiLink {
  handle: Handle;
  engines: EnginePool;
  /** A fresh port the API worker answers relayed requests on (while `hosting(true)`); for the service worker. */
  openPort(): MessagePort;
  hosting(on: boolean): void;
}

/** Starts the API worker with `options`; `registry` and `remotes` are the page's copies, whose edits it forwards. */
export function startApiWorker(options: RuntimeOptions, registry: ModelRegistry, remotes: Remotes): ApiLink {
  const worker = new Worker(new URL('../../workers/api.worker.ts', import.meta.url), { type: 'module', name: 'hearth-api' });
  const control = Comlink.wrap<ApiWorkerControl>(worker);
  void control.start(options);
  const edits = forwardEdits(registry, remotes, control);

  const pagePort = new MessageChannel();
  void control.connect(Comlink.transfer(pagePort.port1, [pagePort.port1]), 'page');
  return {
    handle: relayClient(pagePort.port2, edits),
    engines: enginesThrough(control, options.diagnostics),
    openPort() {
      const channel = new MessageChannel();
      void control.connect(Comlink.transfer(channel.port1, [channel.port1]), 'relay');
      return channel.port2;
    },
    hosting: (on) => void control.hosting(on),
  };
}

/**
 * Makes the page's registry and remotes forward each edit to the API worker; returns a promise of the edits so far
 * (the in-page client waits for it, so a request sent after an edit sees it).
 */
function forwardEdits(registry: ModelRegistry, remotes: Remotes, control: Comlink.Remote<ApiWorkerControl>): () => Promise<void> {
  let sent = Promise.resolve();
  const send = (edit: () => Promise<void>) => {
    sent = sent.then(edit).catch((e: unknown) => console.warn('[hearth] the API worker refused an edit', e));
  };
  const { register, alias } = registry;
  registry.register = (entry) => (register.call(registry, entry), send(() => control.register(entry)));
  registry.alias = (name, target) => (alias.call(registry, name, target), send(() => control.alias(name, target)));
  const { set, remove } = remotes;
  remotes.set = (config) => (set.call(remotes, config), send(() => control.setRemote(config)));
  remotes.remove = (name) => {
    const removed = remove.call(remotes, name);
    send(() => control.removeRemote(name));
    return removed;
  };
  return () => sent;
}

/** `hearth.engines` in a page whose engines live under the API worker: each kind reached on its own port. */
function enginesThrough(control: Comlink.Remote<ApiWorkerControl>, diagnostics: boolean): EnginePool {
  const connected = new Map<EngineKind, Promise<unknown>>();
  const connect = <K extends EngineKind>(kind: K, wrap: (port: MessagePort) => EngineInterfaces[K]) => {
    if (!connected.has(kind)) connected.set(kind, control.enginePort(kind).then(wrap));
    return connected.get(kind) as Promise<EngineInterfaces[K]>;
  };
  // Model kinds' workers speak the engine protocol (supervised); the test-only kinds' are plain Comlink endpoints.
  const getters = [
    ...MODEL_KINDS.map((kind) => [kind, () => connect(kind, (p) => connectEngine(p))] as const),
    ...(diagnostics ? TEST_KINDS.map((kind) => [kind, () => connect(kind, (p) => Comlink.wrap(p) as EngineInterfaces[typeof kind])] as const) : []),
  ];
  return {
    ...Object.fromEntries(getters) as Pick<EnginePool, EngineKind>,
    loaded: () => control.loadedModels(),
    // The supervisors live in the API worker: its GET /models reports their health; the page has none of its own.
    health: () => [],
    terminate() {
      connected.clear();
      void control.terminateEngines();
    },
  };
}

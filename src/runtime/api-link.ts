/**
 * The page's side of the API worker (api-worker.ts): starts it, and gives the page what it used to build itself —
 * an API `handle` (the in-page client, answered in the worker), `hearth.engines` (ports straight to the engine
 * workers the API worker owns), ports for the service worker, and the page's registry and remotes edits forwarded to
 * the worker's copies.
 */
import * as Comlink from 'comlink';
import { errorResponse, type HearthError } from '../api/errors';
import type { Handle } from '../api/handle';
import type { Remotes } from '../api/remote/remotes';
import type { ModelRegistry } from '../models/registry';
import type { ApiWorkerControl } from './api-worker';
import { API_WORKER_NAME, API_WORKER_TEST_NAME } from './api-worker-watch';
import { superviseApiWorker, unlessEnded, type ApiRestartReason, type ApiWorkerGeneration, type ApiWorkerHealth, type ApiWorkerSupervisor } from './api-supervisor';
import type { RuntimeOptions } from './assemble';
import { MODEL_KINDS, TEST_KINDS, type EngineInterfaces, type EngineKind } from '../engines/kinds';
import type { EnginePool } from './engines';
import { relayClient } from './relay-client';
import { pipeUntil, StreamEnd } from './stream-end';
import type { ApiWorkerFault } from './supervision-protocol';
import { connectEngine } from './worker-protocol';

export interface ApiLink {
  handle: Handle;
  engines: EnginePool;
  /** A fresh port the API worker answers relayed requests on (while `hosting(true)`); for the service worker. */
  openPort(): MessagePort;
  hosting(on: boolean): void;
  /** Called after the API worker was restarted (crashed or stuck): the service worker needs a port to the new one. */
  onRestart(listener: (reason: ApiRestartReason) => void): void;
  /** The API worker's supervision: restarts so far; `injectFault` in diagnostics pages only. */
  supervision: ApiWorkerSupervision;
}

export interface ApiWorkerSupervision {
  health(): ApiWorkerHealth;
  /** Test-only (diagnostics): `hang` blocks the API worker's event loop for `ms`, `crash` ends it, `throw` throws in it. */
  injectFault?(fault: ApiWorkerFault, ms?: number): boolean;
}

/** What the page builds around one API worker: its calls, and the page's own port to it (the in-page client). */
interface Linked {
  control: Comlink.Remote<ApiWorkerControl>;
  handle: Handle;
  /** Ports to its engine workers already asked for (`hearth.engines`). */
  engines: Map<EngineKind, Promise<unknown>>;
}

/**
 * Starts the API worker with `options` under a supervisor (./api-supervisor.ts) that restarts it when it crashes or
 * hangs; `registry` and `remotes` are the page's copies, whose edits it forwards (and replays to a restarted worker).
 */
export function startApiWorker(options: RuntimeOptions, registry: ModelRegistry, remotes: Remotes): ApiLink {
  // An edit cut short by a restart is replayed to the next worker with the others.
  const edits = forwardEdits(registry, remotes, async (edit) => void await unlessEnded(supervisor.current(), edit(supervisor.current().value.control)));
  let host = false;
  const supervisor: ApiWorkerSupervisor<Linked> = superviseApiWorker(() => {
    const name = options.diagnostics ? API_WORKER_TEST_NAME : API_WORKER_NAME;
    const worker = new Worker(new URL('../../workers/api.worker.ts', import.meta.url), { type: 'module', name });
    const control = Comlink.wrap<ApiWorkerControl>(worker);
    void control.start(options);
    const pagePort = new MessageChannel();
    void control.connect(Comlink.transfer(pagePort.port1, [pagePort.port1]), 'page');
    if (host) void control.hosting(true);
    return { endpoint: worker, value: { control, handle: relayClient(pagePort.port2, edits.sent), engines: new Map() } };
  });
  // First among the restart listeners: the edits reach a restarted worker before the service worker's new port does.
  supervisor.onRestart(() => edits.replay(supervisor.current()));
  return {
    handle: (request) => untilEnded(supervisor.current(), request),
    engines: enginesThrough(supervisor, options.diagnostics),
    openPort() {
      const channel = new MessageChannel();
      void supervisor.current().value.control.connect(Comlink.transfer(channel.port1, [channel.port1]), 'relay');
      return channel.port2;
    },
    hosting: (on) => {
      host = on;
      void supervisor.current().value.control.hosting(on);
    },
    onRestart: (listener) => supervisor.onRestart(listener),
    supervision: {
      health: () => supervisor.health(),
      ...(options.diagnostics && { injectFault: (fault: ApiWorkerFault, ms?: number) => supervisor.inject(fault, ms) }),
    },
  };
}

/**
 * A request of the in-page client on one API worker: answered by it, or, if that worker is restarted first, with its
 * 503 `api_worker_restarted` (a streamed answer: as its last event).
 */
async function untilEnded(generation: ApiWorkerGeneration<Linked>, request: Request): Promise<Response> {
  const outcome = await unlessEnded(generation, generation.value.handle(request));
  if ('error' in outcome) return errorResponse(outcome.error);
  const answer = outcome.value;
  // Only event streams cross as streams (the relay sends other bodies whole): they are the ones that can be cut.
  if (!answer.body || !(answer.headers.get('content-type') ?? '').startsWith('text/event-stream')) return answer;
  const { signal } = generation;
  const stop = new AbortController();
  const cut = () => stop.abort(new StreamEnd(signal.reason as HearthError));
  if (signal.aborted) cut();
  else signal.addEventListener('abort', cut, { once: true });
  const body = pipeUntil(answer.body, stop.signal, () => signal.removeEventListener('abort', cut));
  return new Response(body, { status: answer.status, statusText: answer.statusText, headers: answer.headers });
}

/**
 * Makes the page's registry and remotes forward each edit to the API worker (through `apply`, on the current one);
 * `sent` is a promise of the edits so far (the in-page client waits for it, so a request sent after an edit sees it),
 * `replay` sends every edit so far to a restarted worker, in order.
 */
function forwardEdits(registry: ModelRegistry, remotes: Remotes, apply: (edit: Edit) => Promise<void>) {
  const log: Edit[] = [];
  let sent = Promise.resolve();
  const send = (edit: Edit) => {
    log.push(edit);
    sent = sent.then(() => apply(edit)).catch((e: unknown) => console.warn('[hearth] the API worker refused an edit', e));
  };
  const { register, alias } = registry;
  registry.register = (entry) => (register.call(registry, entry), send((c) => c.register(entry)));
  registry.alias = (name, target) => (alias.call(registry, name, target), send((c) => c.alias(name, target)));
  const { set, remove } = remotes;
  remotes.set = (config) => (set.call(remotes, config), send((c) => c.setRemote(config)));
  remotes.remove = (name) => {
    const removed = remove.call(remotes, name);
    send((c) => c.removeRemote(name));
    return removed;
  };
  return {
    sent: () => sent,
    replay(generation: ApiWorkerGeneration<Linked>) {
      const replayed = unlessEnded(generation, Promise.all(log.map((edit) => edit(generation.value.control))));
      sent = sent.then(() => replayed).then(() => undefined, (e: unknown) => console.warn('[hearth] the API worker refused an edit', e));
    },
  };
}

type Edit = (control: Comlink.Remote<ApiWorkerControl>) => Promise<void>;

/**
 * `hearth.engines` in a page whose engines live under the API worker: each kind reached on its own port (of the
 * current API worker: an engine object taken from a restarted one stops answering; ask again).
 */
function enginesThrough(supervisor: ApiWorkerSupervisor<Linked>, diagnostics: boolean): EnginePool {
  const connect = <K extends EngineKind>(kind: K, wrap: (port: MessagePort) => EngineInterfaces[K]) => {
    const { control, engines: connected } = supervisor.current().value;
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
    async loaded() {
      const generation = supervisor.current();
      const outcome = await unlessEnded(generation, generation.value.control.loadedModels());
      if ('error' in outcome) throw outcome.error;
      return outcome.value;
    },
    // The supervisors live in the API worker: its GET /models reports their health; the page has none of its own.
    health: () => [],
    terminate() {
      const { value } = supervisor.current();
      value.engines.clear();
      void value.control.terminateEngines();
    },
  };
}

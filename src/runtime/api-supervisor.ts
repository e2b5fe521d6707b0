/**
 * The API worker's supervisor, in the host page (the API worker runs `handle()` and owns the engine workers; see
 * ./api-worker.ts): pings the worker from the page, and restarts a worker that leaves a ping unanswered for
 * `unresponsiveMs` (a hang) or that fails (an `error` event) and then does not answer within `crashCheckMs` (a worker
 * that is gone; an uncaught error that leaves it running costs nothing). A restart terminates the worker — its engine
 * workers, being its nested workers, end with it — ends its generation (every request in flight on it gets 503
 * `api_worker_restarted` from whoever holds it: the page's in-page client, the service worker) and starts the next
 * one at once; listeners (the host role) then hand the service worker a port to the new worker.
 */
import { unavailable, type HearthError } from '../core/errors';
import { isPong, type ApiWorkerFault, type FaultMessage, type PingMessage } from './supervision-protocol';

/** What the supervisor needs of a Worker (a Worker, or a MessagePort-backed stand-in in Node tests). */
export interface ApiWorkerEndpoint {
  postMessage(message: unknown, transfer: Transferable[]): void;
  addEventListener(type: string, listener: (event: Event) => void): void;
  terminate(): void;
}

export type ApiRestartReason = 'crashed' | 'unresponsive';

export interface ApiWorkerHealth {
  running: boolean;
  restarts: number;
  lastRestart: { reason: ApiRestartReason; at: string } | null;
}

export interface ApiWatchTimes {
  /** Pause between an answered ping and the next one. */
  pingMs: number;
  /** A ping unanswered this long (then for a moment more) means the worker is stuck. */
  unresponsiveMs: number;
  /** After an `error` event, how long the worker has to answer a ping before it counts as gone. */
  crashCheckMs: number;
  /** The first ping's wait: loading the worker's script may take a while on a busy machine. */
  startMs: number;
}

export const DEFAULT_API_WATCH: Readonly<ApiWatchTimes> = Object.freeze({ pingMs: 1000, unresponsiveMs: 5000, crashCheckMs: 1000, startMs: 60_000 });

/** A ping found unanswered is judged again this much later, so a pong queued behind a busy page is taken first. */
const CONFIRM_MS = 250;
/** Workers that never answered a ping in a row before the supervisor stops starting new ones (a broken script). */
const MAX_FAILED_STARTS = 3;

/**
 * One API worker's life: `value` is what the page built around it; `ended` settles with the error its requests get,
 * and `signal` aborts with it (listeners can be removed again: what waits on a long-lived worker must not pile up).
 */
export interface ApiWorkerGeneration<G> {
  value: G;
  ended: Promise<HearthError>;
  signal: AbortSignal;
  isEnded(): boolean;
}

/** `work`'s value, or the error of `generation` if it ends first. */
export async function unlessEnded<T>(generation: ApiWorkerGeneration<unknown>, work: Promise<T>): Promise<{ value: T } | { error: HearthError }> {
  const { signal } = generation;
  if (signal.aborted) return { error: signal.reason as HearthError };
  let onEnd!: () => void;
  const ended = new Promise<{ error: HearthError }>((resolve) => {
    onEnd = () => resolve({ error: signal.reason as HearthError });
    signal.addEventListener('abort', onEnd, { once: true });
  });
  try {
    return await Promise.race([work.then((value) => ({ value })), ended]);
  } finally {
    signal.removeEventListener('abort', onEnd);
  }
}

export interface ApiWorkerSupervisor<G> {
  current(): ApiWorkerGeneration<G>;
  /** Called after each restart, with the new generation current. */
  onRestart(listener: (reason: ApiRestartReason) => void): void;
  health(): ApiWorkerHealth;
  /** Test-only: sends a fault to the running worker (one started without test hooks ignores it). */
  inject(fault: ApiWorkerFault, ms?: number): boolean;
  terminate(): void;
}

interface State<G> extends ApiWorkerGeneration<G> {
  endpoint: ApiWorkerEndpoint;
  end: AbortController;
  gone: boolean;
  answered: boolean;
  /** Pings sent and not answered yet: number → on answer. */
  pongs: Map<number, () => void>;
  timers: Set<ReturnType<typeof setTimeout>>;
}

/** The error every request in flight on a restarted API worker gets (the service worker builds the same). */
export function apiRestartError(reason: ApiRestartReason): HearthError {
  const why = reason === 'crashed' ? 'crashed' : 'stopped answering';
  return unavailable(`The Hearth API worker ${why} while handling this request and was restarted; retry (engine models load again on their next request)`, 'api_worker_restarted');
}

export function superviseApiWorker<G>(
  start: () => { endpoint: ApiWorkerEndpoint; value: G }, times: ApiWatchTimes = DEFAULT_API_WATCH,
): ApiWorkerSupervisor<G> {
  const listeners: ((reason: ApiRestartReason) => void)[] = [];
  let restarts = 0;
  let lastRestart: ApiWorkerHealth['lastRestart'] = null;
  let failedStarts = 0;
  let stopped = false;
  let pingCount = 0;

  const timer = (state: State<G>, ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      state.timers.delete(t);
      fn();
    }, ms);
    state.timers.add(t);
  };

  /** Pings the worker; unanswered after `waitMs` and again a moment later, it is restarted for `reason`. */
  const ping = (state: State<G>, waitMs: number, reason: ApiRestartReason, onAnswer?: () => void) => {
    if (state.gone) return;
    const n = ++pingCount;
    state.pongs.set(n, () => {
      state.pongs.delete(n);
      state.answered = true;
      onAnswer?.();
    });
    state.endpoint.postMessage({ hearthPing: n } satisfies PingMessage, []);
    timer(state, waitMs, () => {
      if (state.pongs.has(n)) timer(state, CONFIRM_MS, () => void (state.pongs.has(n) && restart(state, reason)));
    });
  };
  const heartbeat = (state: State<G>) => timer(state, times.pingMs, () => ping(state, times.unresponsiveMs, 'unresponsive', () => heartbeat(state)));

  const launch = (): State<G> => {
    const { endpoint, value } = start();
    const end = new AbortController();
    const ended = new Promise<HearthError>((resolve) => end.signal.addEventListener('abort', () => resolve(end.signal.reason as HearthError), { once: true }));
    const state: State<G> = {
      value, ended, end, signal: end.signal, endpoint, gone: false, answered: false, pongs: new Map(), timers: new Set(),
      isEnded: () => state.gone,
    };
    endpoint.addEventListener('message', (event) => {
      const data = (event as MessageEvent).data;
      if (isPong(data)) state.pongs.get(data.hearthPong)?.();
    });
    endpoint.addEventListener('error', (event) => {
      console.error(`[hearth] the API worker failed: ${(event as ErrorEvent).message ?? 'no message'}`);
      ping(state, times.crashCheckMs, 'crashed');
    });
    ping(state, times.startMs, 'unresponsive', () => heartbeat(state));
    return state;
  };

  const stop = (state: State<G>, error: HearthError) => {
    state.gone = true;
    for (const t of state.timers) clearTimeout(t);
    state.timers.clear();
    state.pongs.clear();
    state.endpoint.terminate();
    state.end.abort(error);
  };

  const restart = (state: State<G>, reason: ApiRestartReason) => {
    if (state.gone || current !== state) return;
    restarts++;
    lastRestart = { reason, at: new Date().toISOString() };
    console.error(`[hearth] the API worker ${reason === 'crashed' ? 'crashed' : 'stopped answering'}; restarting it`);
    stop(state, apiRestartError(reason));
    failedStarts = state.answered ? 0 : failedStarts + 1;
    if (stopped || failedStarts >= MAX_FAILED_STARTS) {
      console.error('[hearth] the API worker does not start; not restarting it again');
      return;
    }
    current = launch();
    for (const listener of listeners) listener(reason);
  };

  let current = launch();
  return {
    current: () => current,
    onRestart: (listener) => void listeners.push(listener),
    health: () => ({ running: !current.gone, restarts, lastRestart }),
    inject(fault, ms) {
      if (current.gone) return false;
      current.endpoint.postMessage({ hearthFault: fault, ms } satisfies FaultMessage, []);
      return true;
    },
    terminate() {
      stopped = true;
      if (!current.gone) stop(current, unavailable('The Hearth API worker was shut down', 'engine_stopped'));
    },
  };
}

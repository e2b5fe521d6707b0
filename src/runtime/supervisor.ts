/**
 * The engine supervisor: owns one engine worker and every call made to it, so that no job can wedge the engine.
 * - Each job has a deadline (./deadlines.ts). At the deadline its caller gets 503 `deadline_exceeded` at once and
 *   the worker is asked to abort the job; a worker that has not stopped it within the grace period is stuck.
 * - A job still waiting for its stream after a whole deadline (its turn, its model's load) pings the worker: one that
 *   leaves the ping unanswered for `unresponsiveMs` is stuck too.
 * - A stuck worker, one that crashes (an `error` event) or one that reports a lost GPU device is terminated; every
 *   call and stream it held ends with 503 `engine_restarted` (`device_lost` for a lost device) at once, and the next
 *   call starts a fresh worker (models load again on first use). Other engine kinds have workers of their own.
 * - An AbortSignal among a call's arguments crosses into the worker as a port (see ./supervision-protocol.ts), so a
 *   job whose client has gone is dropped before it starts.
 * Restarts and jobs in flight per model are reported by `health()` (GET /models).
 */
import * as Comlink from 'comlink';
import { HearthError, toHearthError, unavailable } from '../api/errors';
import type { EngineHealth } from '../api/types';
import { ENGINE_KINDS, perModelKind, type ModelKind } from '../engines/kinds';
import type { EngineDeadlines } from './deadlines';
import { isEngineReport, isPong, type AbortMessage, type EngineFault, type FaultMessage, type PingMessage, type SignalMarker } from './supervision-protocol';

/** What the supervisor needs of a Worker (a Worker, or a MessagePort-backed stand-in in Node tests). */
export interface EngineEndpoint {
  postMessage(message: unknown, transfer: Transferable[]): void;
  addEventListener(type: string, listener: (event: Event) => void): void;
  removeEventListener(type: string, listener: (event: Event) => void): void;
  terminate(): void;
}

export type AsyncMethods<T> = { [K in keyof T]: T[K] extends (...args: infer A) => Promise<infer R> ? (...args: A) => Promise<R> : never };

export type { EngineHealth };
export type RestartReason = NonNullable<EngineHealth['lastRestart']>['reason'];

export interface SupervisedEngine<T> {
  engine: AsyncMethods<T>;
  health(): EngineHealth;
  /** Test-only: sends a fault to the running worker (a worker without test hooks ignores it). */
  inject(fault: EngineFault, ms?: number): boolean;
  terminate(): void;
}

/** The engine method that runs jobs (contract.ts): it takes an optional AbortSignal as its last argument, and the supervisor passes one when the caller did not. */
export const JOB_METHOD = 'run';

/**
 * When a job's deadline clock starts, by what the kind's `run` answers (its `answer` in the kinds table): `call` at
 * the call, model load included (a whole answer: embeddings), `stream` when the stream it returns is first read (LLM,
 * image: what the engine did before returning it is not counted).
 */
export const JOB_TIMING: Readonly<Record<ModelKind, 'call' | 'stream'>> = Object.freeze(perModelKind<Record<ModelKind, 'call' | 'stream'>>(
  (kind) => (ENGINE_KINDS[kind].answer === 'stream' ? 'stream' : 'call'),
));

interface Call {
  modelId: string | null;
  /** Rejects when the call is failed from outside (deadline, restart); never rejects unobserved. */
  failed: Promise<never>;
  fail(error: HearthError): void;
  /** The worker side of the call's abort port, if any. */
  control?: MessagePort;
  timers: ReturnType<typeof setTimeout>[];
  done: boolean;
  /** Past its deadline: its caller has its error, the worker has been asked to stop it and has not answered yet. */
  aborting: boolean;
}

export function superviseEngine<T extends object>(
  kind: ModelKind, spawn: () => EngineEndpoint, deadlines: EngineDeadlines,
  hooks: { onRestart?(reason: RestartReason): void } = {},
): SupervisedEngine<T> {
  let current: {
    endpoint: EngineEndpoint; remote: Record<string, (...a: unknown[]) => Promise<unknown>>; calls: Set<Call>;
    /** Pings sent and not answered yet: number → resolve. */
    pings: Map<number, () => void>;
  } | undefined;
  let pingCount = 0;
  let restarts = 0;
  let lastRestart: EngineHealth['lastRestart'] = null;

  const start = () => {
    const endpoint = spawn();
    const state = { endpoint, remote: Comlink.wrap<Record<string, (...a: unknown[]) => Promise<unknown>>>(endpoint as unknown as Comlink.Endpoint), calls: new Set<Call>(), pings: new Map<number, () => void>() };
    endpoint.addEventListener('error', (event) => {
      console.error(`[hearth] the ${kind} engine worker failed: ${(event as ErrorEvent).message ?? 'no message'}`);
      if (current === state) restart('crashed');
    });
    endpoint.addEventListener('message', (event) => {
      const data = (event as MessageEvent).data;
      if (isPong(data)) state.pings.get(data.hearthPong)?.();
      else if (isEngineReport(data) && current === state) restart('device_lost');
    });
    return state;
  };

  const restart = (reason: RestartReason) => {
    const state = current;
    if (!state) return;
    current = undefined;
    restarts++;
    lastRestart = { reason, at: new Date().toISOString() };
    hooks.onRestart?.(reason);
    state.endpoint.terminate();
    const error = restartError(kind, reason);
    for (const call of state.calls) finish(state.calls, call, error);
  };

  const finish = (calls: Set<Call>, call: Call, error?: HearthError) => {
    if (call.done) return;
    call.done = true;
    calls.delete(call);
    for (const t of call.timers) clearTimeout(t);
    call.control?.close();
    if (error) call.fail(error);
  };

  /** The deadline of a call: fail its caller now, ask the worker to abort, restart the worker if it does not. */
  const armDeadline = (state: NonNullable<typeof current>, call: Call, onExpire: () => void) => {
    const ms = deadlines[kind];
    call.timers.push(setTimeout(() => {
      if (call.done) return;
      call.aborting = true;
      call.fail(deadlineError(kind, ms)); // first: a read that the cancel below ends must not look like the end
      onExpire();
      if (!call.control) return finish(state.calls, call);
      call.control.onmessage = () => finish(state.calls, call); // the worker's ack: the job has stopped
      call.control.postMessage({ reason: 'deadline', deadlineMs: ms } satisfies AbortMessage);
      call.timers.push(setTimeout(() => {
        if (!call.done && current === state) restart('deadline');
      }, deadlines.graceMs));
    }, ms));
  };

  /**
   * A streamed job still waiting for its stream (its turn, its model's load) after a whole deadline: no deadline
   * counts there, but the worker must still answer a ping within `unresponsiveMs`, else it is stuck.
   */
  const armAlive = (state: NonNullable<typeof current>, call: Call, waiting: () => boolean) => {
    call.timers.push(setTimeout(() => {
      if (call.done || !waiting() || current !== state) return;
      const n = ++pingCount;
      const answered = setTimeout(() => {
        state.pings.delete(n);
        if (current === state) restart('unresponsive');
      }, deadlines.unresponsiveMs);
      call.timers.push(answered);
      state.pings.set(n, () => {
        state.pings.delete(n);
        clearTimeout(answered);
        armAlive(state, call, waiting);
      });
      state.endpoint.postMessage({ hearthPing: n } satisfies PingMessage, []);
    }, deadlines[kind]));
  };

  const invoke = async (key: string, args: unknown[]): Promise<unknown> => {
    const state = (current ??= start());
    const timing = key === JOB_METHOD ? JOB_TIMING[kind] : undefined;
    let clientSignal: AbortSignal | undefined;
    let channel: MessageChannel | undefined;
    const marker = (): SignalMarker => {
      channel ??= new MessageChannel();
      return Comlink.transfer({ hearthSignal: channel.port2 }, [channel.port2]);
    };
    const wire = args.map((a) => (a instanceof AbortSignal ? ((clientSignal = a), marker()) : a));
    if (timing && !clientSignal) wire.push(marker());
    let fail!: (e: HearthError) => void;
    const failed = new Promise<never>((_, reject) => (fail = reject));
    failed.catch(() => undefined);
    const call: Call = { modelId: modelIdOf(args[0]), failed, fail, control: channel?.port1, timers: [], done: false, aborting: false };
    /** The call's end as its caller sees it; one past its deadline stays in flight until the worker has stopped it. */
    const end = () => {
      if (!call.aborting) finish(state.calls, call);
    };
    state.calls.add(call);
    const cancel = () => call.control?.postMessage({ reason: 'cancelled' } satisfies AbortMessage);
    if (clientSignal?.aborted) cancel();
    else clientSignal?.addEventListener('abort', cancel, { once: true });
    if (timing === 'call') armDeadline(state, call, () => undefined);
    let waiting = true;
    if (timing === 'stream') armAlive(state, call, () => waiting);

    let result: unknown;
    try {
      result = await Promise.race([state.remote[key](...wire), failed]);
    } catch (e) {
      end();
      throw toHearthError(e);
    } finally {
      waiting = false;
      clientSignal?.removeEventListener('abort', cancel);
    }
    if (!(result instanceof ReadableStream)) {
      end();
      return result;
    }
    const source = result.getReader();
    const armStream = () => {
      if (timing === 'stream') armDeadline(state, call, () => void source.cancel().catch(() => undefined));
    };
    return supervisedStream(source, call.failed, armStream, end);
  };

  const engine = new Proxy({} as AsyncMethods<T>, {
    get(_target, key) {
      if (typeof key !== 'string' || key === 'then') return undefined;
      return (...args: unknown[]) => invoke(key, args);
    },
  });

  return {
    engine,
    health() {
      const jobsInFlight: Record<string, number> = {};
      for (const call of current?.calls ?? []) {
        if (call.modelId) jobsInFlight[call.modelId] = (jobsInFlight[call.modelId] ?? 0) + 1;
      }
      return { kind, running: current !== undefined, restarts, lastRestart, jobsInFlight };
    },
    inject(fault, ms) {
      if (!current) return false;
      current.endpoint.postMessage({ hearthFault: fault, ms } satisfies FaultMessage, []);
      return true;
    },
    terminate() {
      const state = current;
      current = undefined;
      state?.endpoint.terminate();
      for (const call of state?.calls ?? []) finish(state!.calls, call, unavailable(`The ${kind} engine was shut down`, 'engine_stopped'));
    },
  };
}

/** The host side of a worker's stream: errors at once when its call fails (deadline, restart). */
function supervisedStream<V>(source: ReadableStreamDefaultReader<V>, failed: Promise<never>, onFirst: () => void, onEnd: () => void): ReadableStream<V> {
  let first = true;
  return new ReadableStream<V>({
    async pull(controller) {
      try {
        if (first) {
          first = false;
          onFirst();
        }
        const { value, done } = await Promise.race([source.read(), failed]);
        if (done) {
          onEnd();
          controller.close();
        } else controller.enqueue(value);
      } catch (e) {
        onEnd();
        source.cancel().catch(() => undefined);
        controller.error(toHearthError(e));
      }
    },
    async cancel(reason) {
      onEnd();
      await source.cancel(reason).catch(() => undefined);
    },
  }, { highWaterMark: 0 });
}

function modelIdOf(job: unknown): string | null {
  const id = (job as { entry?: { id?: unknown } } | undefined)?.entry?.id;
  return typeof id === 'string' ? id : null;
}

/** What a job past its deadline answers (`hearth serve`'s in-process deadlines answer the same: src/server/deadlines.ts). */
export function deadlineError(kind: ModelKind, ms: number): HearthError {
  return unavailable(`The ${kind} job ran past its deadline (${Math.round(ms / 1000)} s) and was stopped; retry with less work`, 'deadline_exceeded');
}

function restartError(kind: ModelKind, reason: RestartReason): HearthError {
  if (reason === 'device_lost') {
    return unavailable(`The GPU device of the ${kind} engine was lost; the engine restarts and the next request loads the model again`, 'device_lost');
  }
  const why = reason === 'deadline' ? 'a job ran past its deadline and did not stop'
    : reason === 'unresponsive' ? 'its worker stopped answering' : 'its worker crashed';
  return unavailable(`The ${kind} engine was restarted (${why}); its models load again on the next request`, 'engine_restarted');
}

/**
 * How engines cross the worker boundary (Comlink): the worker side turns every thrown error into a plain
 * `{status, error}` body (structured clone would strip a HearthError to a bare Error), and the host side turns
 * it back, so a 400 raised in a worker is still a 400 with its `param` in the page. Streams a method returns are
 * transferred, and their errors made cloneable the same way. An AbortSignal argument crosses as a port (the host
 * side is ./supervisor.ts, the worker side ./job-control.ts); in a worker, ./worker-watch.ts reports lost GPU devices.
 */
import * as Comlink from 'comlink';
import { toHearthError, unavailable, type HearthError } from '../core/errors';
import { restOf } from '../util/pull-stream';
import { jobControl } from './job-control';
import { readWorkerConfig } from './worker-config';
import { deviceLost, watchEngineWorker } from './worker-watch';

type AsyncMethods<T> = { [K in keyof T]: T[K] extends (...args: infer A) => Promise<infer R> ? (...args: A) => Promise<R> : never };

/**
 * Exposes `impl` on the worker's global scope (or on `endpoint`: Node tests) with errors made cloneable, signals
 * made real and the worker watched.
 */
export function exposeEngine<T extends object>(impl: T, endpoint?: Comlink.Endpoint): void {
  const wrapped: Record<string, unknown> = {};
  let proto: object | null = impl;
  while (proto && proto !== Object.prototype) {
    for (const key of Object.getOwnPropertyNames(proto)) {
      const value = (impl as Record<string, unknown>)[key];
      if (key === 'constructor' || typeof value !== 'function' || key in wrapped) continue;
      wrapped[key] = (...args: unknown[]) => {
        const control = jobControl(args);
        return crossable(() => {
          const pending = Promise.resolve((value as (...a: unknown[]) => unknown).apply(impl, control.args));
          control.settle(pending);
          return pending;
        }, (stream) => control.stream(stream));
      };
    }
    proto = Object.getPrototypeOf(proto);
  }
  if (endpoint) return Comlink.expose(wrapped, endpoint);
  const scope = globalThis as unknown as DedicatedWorkerGlobalScope;
  if (typeof scope.postMessage === 'function' && typeof scope.name === 'string') {
    watchEngineWorker(scope, { testHooks: readWorkerConfig(scope.name).testHooks });
  }
  Comlink.expose(wrapped);
}

function cloneableError(e: unknown): { status: number; error: ReturnType<HearthError['toJSON']>['error'] } {
  // Once a GPU device of this worker is lost, what fails with it is the loss (the host restarts the worker).
  const err = deviceLost() && toHearthError(e).status >= 500
    ? unavailable('The GPU device was lost; the engine restarts and the next request loads the model again', 'device_lost')
    : toHearthError(e);
  return { status: err.status, error: err.toJSON().error };
}

/**
 * A call's answer made ready to cross a port: a stream is transferred (not copied), erroring with cloneable error
 * bodies (`watch` wraps it first), a thrown error becomes a cloneable body.
 */
async function crossable(call: () => Promise<unknown>, watch = <T>(stream: ReadableStream<T>) => stream): Promise<unknown> {
  try {
    const result = await call();
    if (!(result instanceof ReadableStream)) return result;
    const stream = restOf(watch(result).getReader(), cloneableError);
    return Comlink.transfer(stream, [stream as unknown as Transferable]);
  } catch (e) {
    throw cloneableError(e);
  }
}

/** The host-side proxy of a worker engine (its Worker, or a port to it), with errors restored to HearthErrors. */
export function connectEngine<T extends object>(endpoint: Worker | MessagePort): AsyncMethods<T> {
  const remote = Comlink.wrap<Record<string, (...a: unknown[]) => Promise<unknown>>>(endpoint);
  return new Proxy({} as AsyncMethods<T>, {
    get(_target, key) {
      if (typeof key !== 'string' || key === 'then') return undefined;
      return async (...args: unknown[]) => {
        try {
          return await remote[key](...args);
        } catch (e) {
          throw toHearthError(e);
        }
      };
    },
  });
}

/**
 * Serves an engine held here (a supervised worker's proxy) on `port`, for another context (the page's
 * `hearth.engines`): any method name is forwarded, streams are transferred and errors stay spec-shaped. The port
 * outlives worker restarts, since it reaches the engine through its supervisor.
 */
export function relayEngine(engine: object, port: MessagePort): void {
  const methods = engine as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const forward = new Proxy({}, {
    get(_target, key) {
      if (typeof key !== 'string' || key === 'then') return undefined;
      return (...args: unknown[]) => crossable(() => methods[key](...args));
    },
  });
  Comlink.expose(forward, port);
}

/**
 * How engines cross the worker boundary (Comlink): the worker side turns every thrown error into a plain
 * `{status, error}` body (structured clone would strip a HearthError to a bare Error), and the host side turns
 * it back, so a 400 raised in a worker is still a 400 with its `param` in the page. Streams a method returns are
 * transferred, and their errors made cloneable the same way.
 */
import * as Comlink from 'comlink';
import { toHearthError, type HearthError } from '../core/errors';
import { restOf } from '../util/pull-stream';

type AsyncMethods<T> = { [K in keyof T]: T[K] extends (...args: infer A) => Promise<infer R> ? (...args: A) => Promise<R> : never };

/** Exposes `impl` on the worker's global scope with errors made cloneable. */
export function exposeEngine<T extends object>(impl: T): void {
  const wrapped: Record<string, unknown> = {};
  let proto: object | null = impl;
  while (proto && proto !== Object.prototype) {
    for (const key of Object.getOwnPropertyNames(proto)) {
      const value = (impl as Record<string, unknown>)[key];
      if (key === 'constructor' || typeof value !== 'function' || key in wrapped) continue;
      wrapped[key] = async (...args: unknown[]) => {
        try {
          const result = await (value as (...a: unknown[]) => unknown).apply(impl, args);
          if (result instanceof ReadableStream) {
            const stream = cloneableErrors(result);
            return Comlink.transfer(stream, [stream as unknown as Transferable]);
          }
          return result;
        } catch (e) {
          throw cloneableError(e);
        }
      };
    }
    proto = Object.getPrototypeOf(proto);
  }
  Comlink.expose(wrapped);
}

function cloneableError(e: unknown): { status: number; error: ReturnType<HearthError['toJSON']>['error'] } {
  const err = toHearthError(e);
  return { status: err.status, error: err.toJSON().error };
}

/** A stream that is transferred (not copied) to the host, erroring with cloneable error bodies. */
function cloneableErrors<T>(source: ReadableStream<T>): ReadableStream<T> {
  return restOf(source.getReader(), cloneableError);
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

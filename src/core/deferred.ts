/**
 * Promise helpers every layer uses: a promise with its resolve/reject in hand, a sleep, and a deadline on a promise.
 */

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

/** A promise settled from outside (a lock's release, a wake-up, a reply that arrives on another channel). */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise<void>((resolve) => setTimeout(resolve, ms));
}

/**
 * Resolves on the event loop's next turn, after the tasks already queued (e.g. requests that arrived with this one):
 * `setImmediate` in Node, a message to itself in browsers and workers (no timer clamping).
 */
export function nextTurn(): Promise<void> {
  // Read from globalThis, not typed by @types/node: the library's declarations are built without Node's types.
  const { setImmediate } = globalThis as { setImmediate?: (callback: () => void) => unknown };
  return new Promise<void>((resolve) => {
    if (typeof setImmediate === 'function') {
      setImmediate(resolve);
      return;
    }
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}

/**
 * `promise`, or a rejection with `onTimeout()`'s error when it has not settled within `ms` milliseconds
 * (the promise itself goes on: cancel its work separately, e.g. with an AbortSignal).
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => unknown): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/**
 * The worker side of a supervised call (see ./supervisor.ts): the AbortSignal port among its arguments becomes a
 * real AbortSignal for the engine; a deadline's abort stops the call (its stream cancelled, which waits for the step
 * in flight, or its promise settled) and then acknowledges, so the host knows the worker is not stuck.
 */
import { HearthError } from '../api/errors';
import { isSignalMarker, type AbortMessage } from './supervision-protocol';

export interface JobControl {
  /** The call's arguments with the signal marker replaced by an AbortSignal. */
  args: unknown[];
  /** Follows the call's result: acknowledgements wait for it. */
  settle(result: Promise<unknown>): void;
  /** The call's stream, cancelled when the job is aborted. (The host closes the port when the call has ended.) */
  stream<T>(source: ReadableStream<T>): ReadableStream<T>;
}

export function jobControl(rawArgs: unknown[]): JobControl {
  let port: MessagePort | undefined;
  const abort = new AbortController();
  const args = rawArgs.map((a) => (isSignalMarker(a) ? ((port = a.hearthSignal), abort.signal) : a));
  let settled: Promise<unknown> = Promise.resolve();
  /** Cancels the call's stream once; every caller waits for that one cancel (it ends after the step in flight). */
  let stopStream: ((reason: unknown) => Promise<void>) | undefined;
  if (port) {
    port.onmessage = (event: MessageEvent<AbortMessage>) => {
      const reason = event.data?.reason;
      abort.abort(abortError(reason, event.data?.deadlineMs));
      if (reason !== 'deadline') {
        void stopStream?.(abort.signal.reason).catch(() => undefined);
        return;
      }
      void (async () => {
        await (stopStream ? stopStream(abort.signal.reason).catch(() => undefined) : settled.catch(() => undefined));
        port!.postMessage({ ack: true });
      })();
    };
  }
  return {
    args,
    settle(result) {
      settled = result;
    },
    stream<T>(source: ReadableStream<T>): ReadableStream<T> {
      const own = source.getReader();
      let stopping: Promise<void> | undefined;
      const stop = (reason: unknown) => (stopping ??= own.cancel(reason));
      stopStream = stop;
      return new ReadableStream<T>({
        async pull(controller) {
          try {
            const { value, done } = await own.read();
            if (done) controller.close();
            else controller.enqueue(value);
          } catch (e) {
            controller.error(e);
          }
        },
        cancel: stop,
      }, { highWaterMark: 0 });
    },
  };
}

function abortError(reason: string | undefined, deadlineMs?: number): HearthError {
  return reason === 'deadline'
    ? new HearthError({
      status: 503, type: 'service_unavailable', param: null, code: 'deadline_exceeded',
      message: `The job ran past its deadline${deadlineMs ? ` (${Math.round(deadlineMs / 1000)} s)` : ''} and was stopped`,
    })
    : new HearthError({ status: 499, type: 'invalid_request_error', param: null, code: 'cancelled', message: 'The client went away' });
}

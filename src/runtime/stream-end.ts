/**
 * A relayed event stream that whoever relays it can end: piped into a fresh stream the reader gets, which ends when
 * `stop` aborts — stopped with a `StreamEnd`, with its error as a last event in the ErrorResponse shape (how the API
 * itself ends a stream that fails, src/api/sse-response.ts); with any other reason, or when the source fails, by
 * erroring. A cancel from the reader still reaches the source.
 */
import type { HearthError } from '../core/errors';

/** The abort reason that ends an event stream with `error` as its last event. */
export class StreamEnd {
  constructor(readonly error: HearthError) {}
}

/** `onEnd` runs once the pipe has ended (the source done, failed or stopped, or the reader gone). */
export function pipeUntil(source: ReadableStream<Uint8Array>, stop: AbortSignal, onEnd?: () => void): ReadableStream<Uint8Array> {
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  // preventAbort: `writable` stays open after a stop, for the last event.
  void source.pipeTo(writable, { signal: stop, preventAbort: true }).catch((failure: unknown) => {
    const writer = writable.getWriter();
    const reason: unknown = stop.aborted ? stop.reason : failure;
    if (reason instanceof StreamEnd) {
      writer.write(new TextEncoder().encode(`data: ${JSON.stringify(reason.error.toJSON())}\n\n`)).catch(() => undefined);
      writer.close().catch(() => undefined);
    } else writer.abort(reason).catch(() => undefined);
  }).finally(onEnd);
  return readable;
}

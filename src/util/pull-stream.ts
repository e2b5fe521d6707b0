/**
 * A ReadableStream that pulls one item at a time from an async source (an engine's event generator, or another
 * stream's reader), with highWaterMark 0: nothing is computed ahead of the reader, so a slow reader slows the engine
 * instead of queueing work. Errors are mapped to what the stream's readers expect; a cancel goes to `onCancel`.
 */
export interface PullSource<T> {
  next(): Promise<{ done?: boolean; value?: T }>;
}

export function pullStream<T>(
  source: PullSource<T>,
  options: { mapError?: (e: unknown) => unknown; onCancel: (reason?: unknown) => void | Promise<void> },
): ReadableStream<T> {
  return new ReadableStream<T>({
    async pull(controller) {
      try {
        const { value, done } = await source.next();
        if (done) controller.close();
        else controller.enqueue(value as T);
      } catch (e) {
        controller.error(options.mapError ? options.mapError(e) : e);
      }
    },
    cancel: (reason) => options.onCancel(reason),
  }, { highWaterMark: 0 });
}

/** The rest of a stream already being read, as a stream of its own (errors mapped). */
export function restOf<T>(reader: ReadableStreamDefaultReader<T>, mapError?: (e: unknown) => unknown): ReadableStream<T> {
  return pullStream({ next: () => reader.read() }, { mapError, onCancel: (reason) => reader.cancel(reason) });
}

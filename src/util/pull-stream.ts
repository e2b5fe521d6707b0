/**
 * A ReadableStream over an async generator of engine events, one event per pull (highWaterMark 0: nothing is
 * computed ahead of the reader, so a slow reader slows the engine instead of queueing work). Errors are mapped to
 * what the stream's readers expect; a cancel is handed to `onCancel`, which stops the generator.
 */
export function pullStream<T>(
  events: AsyncGenerator<T>,
  options: { mapError?: (e: unknown) => unknown; onCancel: () => void | Promise<void> },
): ReadableStream<T> {
  return new ReadableStream<T>({
    async pull(controller) {
      try {
        const { value, done } = await events.next();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (e) {
        controller.error(options.mapError ? options.mapError(e) : e);
      }
    },
    cancel: () => options.onCancel(),
  }, { highWaterMark: 0 });
}

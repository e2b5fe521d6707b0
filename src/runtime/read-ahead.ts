/**
 * Reads a streamed response body ahead of its consumer and hands the consumer everything that piled up as one chunk.
 * Streams in Hearth pull with highWaterMark 0, so without this the engine computes token n + 1 only after token n has
 * crossed host → service worker → page: generation and relay would take turns. Reading ahead lets them overlap, and
 * the chunks that arrive while one crosses go together (one message instead of several). Up to MAX_AHEAD bytes are
 * held; past that the source waits, so a stalled reader still stops the engine.
 */
const MAX_AHEAD = 1 << 20;

/** `body` is the stream to hand on; `finished` settles when the source has ended, failed or been cancelled. */
export function readAhead(source: ReadableStream<Uint8Array>, signal?: AbortSignal): { body: ReadableStream<Uint8Array>; finished: Promise<void> } {
  const reader = source.getReader();
  const queue: Uint8Array[] = [];
  let queued = 0;
  let done = false;
  let failure: unknown;
  let wakeConsumer: (() => void) | null = null;
  let wakeProducer: (() => void) | null = null;
  const wake = (which: 'consumer' | 'producer') => {
    const fn = which === 'consumer' ? wakeConsumer : wakeProducer;
    if (which === 'consumer') wakeConsumer = null;
    else wakeProducer = null;
    fn?.();
  };

  const finished = (async () => {
    try {
      for (;;) {
        while (queued >= MAX_AHEAD && !done) await new Promise<void>((r) => (wakeProducer = r));
        if (done) break;
        const { value, done: end } = await reader.read();
        if (end) break;
        queue.push(value);
        queued += value.byteLength;
        wake('consumer');
      }
    } catch (e) {
      failure = e;
    } finally {
      done = true;
      wake('consumer');
    }
  })();
  signal?.addEventListener('abort', () => void reader.cancel(signal.reason).catch(() => undefined));

  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      while (!queue.length && !done) await new Promise<void>((r) => (wakeConsumer = r));
      if (queue.length) {
        const parts = queue.splice(0);
        queued = 0;
        wake('producer');
        controller.enqueue(parts.length === 1 ? parts[0] : concat(parts));
      } else if (failure !== undefined) controller.error(failure);
      else controller.close();
    },
    cancel(reason) {
      done = true;
      wake('producer');
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
  return { body, finished };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

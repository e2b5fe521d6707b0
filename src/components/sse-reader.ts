// Reads a `text/event-stream` response as parsed JSON events (`data: {...}` blocks, ending at `data: [DONE]`); aborting the signal cancels the body, which stops generation in the engine. An ErrorResponse event is yielded like any other: callers check for `error`.

/** Yields each event's JSON; returns at `[DONE]`, at the end of the body, or once `signal` aborts. */
export async function* readSse<T = unknown>(res: Response, signal?: AbortSignal): AsyncGenerator<T> {
  if (!res.body) return;
  const reader = res.body.getReader();
  const cancel = () => { reader.cancel().catch(() => { /* already closed */ }); };
  if (signal?.aborted) cancel();
  signal?.addEventListener('abort', cancel, { once: true });
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (e) {
        if (signal?.aborted) return; // a network fetch rejects its pending read when aborted
        throw e;
      }
      if (chunk.done) break;
      buffer += decoder.decode(chunk.value, { stream: true });
      for (let end = boundary(buffer); end; end = boundary(buffer)) {
        const block = buffer.slice(0, end.index);
        buffer = buffer.slice(end.index + end.length);
        const data = block.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n');
        if (!data) continue;
        if (data === '[DONE]') return;
        yield JSON.parse(data) as T;
      }
    }
  } finally {
    signal?.removeEventListener('abort', cancel);
    cancel();
  }
}

function boundary(s: string): { index: number; length: number } | null {
  const m = /\r?\n\r?\n/.exec(s);
  return m ? { index: m.index, length: m[0].length } : null;
}

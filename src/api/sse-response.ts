/**
 * Server-sent events as the spec streams them: one `data: {json}` line per chunk, a blank line after each, and
 * `data: [DONE]` at the end. Cancelling the response body cancels the source (so a client abort stops the engine).
 */
import { toHearthError } from './errors';

export function sseResponse<T>(source: ReadableStream<T>, toChunks: (event: T) => unknown[], headers: Record<string, string> = {}): Response {
  const encoder = new TextEncoder();
  const reader = source.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        // A pull must enqueue or close (the stream will not pull again by itself), so skip events that make no chunk.
        for (;;) {
          const { value, done } = await reader.read();
          if (done) {
            controller.enqueue(encoder.encode('data: [DONE]\n\n'));
            controller.close();
            return;
          }
          const chunks = toChunks(value);
          if (chunks.length) {
            controller.enqueue(encoder.encode(chunks.map((c) => `data: ${JSON.stringify(c)}\n\n`).join('')));
            return;
          }
        }
      } catch (e) {
        // Headers are gone already: the error travels as a last event in the ErrorResponse shape.
        controller.enqueue(encoder.encode(`data: ${JSON.stringify(toHearthError(e).toJSON())}\n\n`));
        controller.close();
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
  return new Response(body, {
    headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...headers },
  });
}

/**
 * node:http ⇄ the Fetch API: an incoming request becomes a `Request` whose signal aborts when the client goes away,
 * and a `Response` is written back chunk by chunk (each SSE event leaves as soon as it is made, with backpressure);
 * a client disconnect cancels the response body, which cancels the engine job behind it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';

export function toRequest(req: IncomingMessage, origin: string, signal: AbortSignal): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  const method = req.method ?? 'GET';
  const hasBody = method !== 'GET' && method !== 'HEAD';
  return new Request(new URL(req.url ?? '/', origin), {
    method, headers, signal,
    ...(hasBody && { body: Readable.toWeb(req) as ReadableStream<Uint8Array>, duplex: 'half' }),
  } as RequestInit);
}

/** Writes status, headers and body; resolves when the body is written or the client went away. */
export async function writeResponse(res: ServerResponse, response: Response, extraHeaders: Record<string, string> = {}): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (name === 'content-length' || name === 'transfer-encoding' || name === 'connection') return;
    headers[name] = value;
  });
  Object.assign(headers, extraHeaders);
  res.socket?.setNoDelay(true);
  res.writeHead(response.status, response.statusText || undefined, headers);
  if (!response.body || res.req.method === 'HEAD') {
    await response.body?.cancel().catch(() => undefined);
    res.end();
    return;
  }
  const reader = response.body.getReader();
  let gone = false;
  const onClose = () => {
    if (res.writableFinished) return;
    gone = true;
    void reader.cancel(new Error('The client disconnected')).catch(() => undefined);
  };
  res.on('close', onClose);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done || gone) break;
      if (!res.write(value)) await new Promise<void>((resolve) => { res.once('drain', resolve); res.once('close', resolve); });
    }
  } catch (e) {
    // A body that fails after the headers went out (an upstream dropped mid-stream): end the connection abruptly
    // so the client sees an error instead of a body that merely stops.
    if (!gone) res.destroy(e instanceof Error ? e : new Error(String(e)));
    return;
  } finally {
    res.off('close', onClose);
  }
  if (!gone) res.end();
}

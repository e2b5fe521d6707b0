/**
 * The answering end of a relay port: requests in the relay protocol (relay-protocol.ts) arriving on a MessagePort
 * are answered by an API `handle`, streamed bodies read ahead of the reader, cancels abort the request. The API
 * worker serves the service worker's ports and the page's own in-page client with it; the host page serves with it
 * only on the main-thread path (`startHearth({ apiWorker: false })`).
 */
import { errorResponse } from '../api/errors';
import type { Handle } from '../api/handle';
import { readAhead } from './read-ahead';
import type { HostReply, SwToHost } from './relay-protocol';

/**
 * Answers the requests that arrive on `port` with `handle` while `active()` (default: always); once it is not, each
 * request gets 503 `not_host` (the page gave up the host role; the service worker retries with the next host).
 */
export function serveRelayPort(handle: Handle, port: MessagePort, active: () => boolean = () => true): void {
  const inFlight = new Map<number, AbortController>();
  port.onmessage = (e: MessageEvent<SwToHost>) => {
    const msg = e.data;
    if (msg?.type === 'cancel') inFlight.get(msg.id)?.abort();
    else if (msg?.type === 'request') {
      if (!active()) return port.postMessage(notHostReply(msg.id));
      const abort = new AbortController();
      inFlight.set(msg.id, abort);
      void answer(handle, msg, port, abort.signal).finally(() => inFlight.delete(msg.id));
    }
  };
}

async function answer(handle: Handle, msg: Extract<SwToHost, { type: 'request' }>, port: MessagePort, signal: AbortSignal): Promise<void> {
  let response: Response;
  try {
    response = await handle(new Request(msg.url, { method: msg.method, headers: msg.headers, body: msg.body, signal }));
  } catch (e) {
    response = errorResponse(e);
  }
  const head = { id: msg.id, status: response.status, statusText: response.statusText, headers: [...response.headers] as [string, string][] };
  const streamed = response.body && (response.headers.get('content-type') ?? '').startsWith('text/event-stream');
  if (!streamed) {
    const bytes = response.body ? await response.arrayBuffer() : null;
    port.postMessage({ type: 'head', ...head, body: bytes } satisfies HostReply, bytes ? [bytes] : []);
    return;
  }
  // Read ahead of the reader (generation overlaps the relay; what piles up crosses as one chunk); a cancel message
  // still stops the source.
  const { body, finished } = readAhead(response.body!, signal);
  port.postMessage({ type: 'head', ...head, body } satisfies HostReply, [body as unknown as Transferable]);
  await finished;
}

function notHostReply(id: number): HostReply {
  return {
    type: 'error', id, status: 503,
    body: { error: { type: 'service_unavailable', message: 'This page is not the Hearth host any more; retry', param: null, code: 'not_host' } },
  };
}

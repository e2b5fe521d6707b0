/**
 * The asking end of a relay port: an API `Handle` whose requests travel in the relay protocol (relay-protocol.ts) to
 * whatever serves the port's other end (relay-server.ts) — the page's in-page client reaching the API worker.
 * Bodies travel as bytes, streamed answers as transferred streams; aborting the request's signal sends a cancel.
 */
import { errorResponse, HearthError } from '../api/errors';
import type { Handle } from '../api/handle';
import type { HostReply, SwToHost } from './relay-protocol';

/** `beforeEach` runs before each request is sent (the page uses it to let its registry/remote edits land first). */
export function relayClient(port: MessagePort, beforeEach: () => Promise<void> = async () => undefined): Handle {
  let nextId = 0;
  const pending = new Map<number, (reply: HostReply) => void>();
  port.onmessage = (e: MessageEvent<HostReply>) => {
    const resolve = pending.get(e.data?.id);
    pending.delete(e.data?.id);
    resolve?.(e.data);
  };
  return async (request) => {
    const body = request.method === 'GET' || request.method === 'HEAD' ? null : await request.arrayBuffer();
    await beforeEach();
    const id = ++nextId;
    const reply = new Promise<HostReply>((resolve) => pending.set(id, resolve));
    const message: SwToHost = { type: 'request', id, method: request.method, url: request.url, headers: [...request.headers], body };
    port.postMessage(message, body ? [body] : []);
    const cancel = () => port.postMessage({ type: 'cancel', id } satisfies SwToHost);
    if (request.signal.aborted) cancel();
    else request.signal.addEventListener('abort', cancel, { once: true });
    const answer = await reply;
    if (answer.type === 'error') return errorResponse(HearthError.fromBody(answer.status, answer.body));
    return new Response(answer.body, { status: answer.status, statusText: answer.statusText, headers: answer.headers });
  };
}

/**
 * The host role: one page per origin owns the engines (elected with the Web Locks API) and answers the requests
 * the service worker relays from every tab. When the host tab closes, its lock is released and the next waiting
 * tab becomes host, loading engines on demand.
 */
import { errorResponse } from '../api/errors';
import type { Handle } from '../api/handle';
import { HOST_LOCK, type HostQueryReply, type HostReply, type PageToSw, type SwCancel, type SwToPage } from './relay-protocol';

export interface HostHandle {
  /** Resolves once this page holds the host lock. */
  readonly elected: Promise<void>;
  isHost(): boolean;
  /** Gives up the role (the next tab takes over). */
  release(): void;
}

export function serveAsHost(handle: Handle): HostHandle {
  const sw = navigator.serviceWorker;
  let host = false;
  let releaseLock!: () => void;
  const held = new Promise<void>((resolve) => (releaseLock = resolve));

  const announce = () => {
    if (host) sw?.controller?.postMessage({ type: 'hearth:host-ready' } satisfies PageToSw);
  };

  sw?.addEventListener('message', (event: MessageEvent<SwToPage>) => {
    const msg = event.data;
    const port = event.ports[0];
    if (!port || !msg || typeof msg !== 'object') return;
    if (msg.type === 'hearth:host-query') port.postMessage({ isHost: host } satisfies HostQueryReply);
    else if (msg.type === 'hearth:request') {
      if (host) void answer(handle, msg, port);
      else port.postMessage(notHostReply());
    }
  });
  sw?.addEventListener('controllerchange', announce);
  sw?.startMessages();
  addEventListener('pagehide', () => sw?.controller?.postMessage({ type: 'hearth:host-leaving' } satisfies PageToSw));

  const elected = navigator.locks
    ? new Promise<void>((resolve) => {
      void navigator.locks.request(HOST_LOCK, () => {
        host = true;
        announce();
        resolve();
        return held;
      });
    })
    : Promise.resolve().then(() => {
      host = true; // no Web Locks: every tab serves itself
      announce();
    });

  return {
    elected,
    isHost: () => host,
    release: () => {
      host = false;
      sw?.controller?.postMessage({ type: 'hearth:host-leaving' } satisfies PageToSw);
      releaseLock();
    },
  };
}

async function answer(handle: Handle, msg: Extract<SwToPage, { type: 'hearth:request' }>, port: MessagePort): Promise<void> {
  const abort = new AbortController();
  port.onmessage = (e: MessageEvent<SwCancel>) => {
    if (e.data?.type === 'cancel') abort.abort();
  };
  let response: Response;
  try {
    response = await handle(new Request(msg.url, {
      method: msg.method,
      headers: msg.headers,
      body: msg.body,
      signal: abort.signal,
    }));
  } catch (e) {
    response = errorResponse(e);
  }
  const head = { status: response.status, statusText: response.statusText, headers: [...response.headers] as [string, string][] };
  const streamed = response.body && (response.headers.get('content-type') ?? '').startsWith('text/event-stream');
  if (!streamed) {
    const bytes = response.body ? await response.arrayBuffer() : null;
    port.postMessage({ type: 'head', ...head, body: bytes } satisfies HostReply, bytes ? [bytes] : []);
    return;
  }
  // Pipe through a stream we own so a cancel message from the service worker can still stop the source.
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  response.body!.pipeTo(writable, { signal: abort.signal }).catch(() => undefined);
  port.postMessage({ type: 'head', ...head, body: readable } satisfies HostReply, [readable as unknown as Transferable]);
}

function notHostReply(): HostReply {
  return {
    type: 'error', status: 503,
    body: { error: { type: 'service_unavailable', message: 'This page is not the Hearth host any more; retry', param: null, code: 'not_host' } },
  };
}

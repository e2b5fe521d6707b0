/**
 * The host role: one page per origin owns the engines (elected with the Web Locks API) and answers the requests
 * the service worker relays from every tab. When the host tab closes, its lock is released and the next waiting
 * tab becomes host, loading engines on demand.
 */
import { errorResponse } from '../api/errors';
import type { Handle } from '../api/handle';
import { readAhead } from './read-ahead';
import { HOST_LOCK, hostProofLock, type ChallengeReply, type HostQueryReply, type HostReply, type PageToSw, type SwToHost, type SwToPage } from './relay-protocol';

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
  /**
   * A fresh host port, listening, with the requests in flight on it (for cancels); the other end goes to the service
   * worker. Earlier ports stay open until the role ends: the service worker may have sent requests on one just before
   * it adopted the new one.
   */
  const ports: MessagePort[] = [];
  const openPort = (): MessagePort => {
    const channel = new MessageChannel();
    const mine = channel.port1;
    const inFlight = new Map<number, AbortController>();
    mine.onmessage = (e: MessageEvent<SwToHost>) => {
      const msg = e.data;
      if (msg?.type === 'cancel') inFlight.get(msg.id)?.abort();
      else if (msg?.type === 'request') {
        if (!host) return mine.postMessage(notHostReply(msg.id));
        const abort = new AbortController();
        inFlight.set(msg.id, abort);
        void answer(handle, msg, mine, abort.signal).finally(() => inFlight.delete(msg.id));
      }
    };
    ports.push(mine);
    return channel.port2;
  };

  const announce = () => {
    const controller = sw?.controller;
    if (host && controller) {
      const theirs = openPort();
      controller.postMessage({ type: 'hearth:host-ready' } satisfies PageToSw, [theirs]);
    }
  };

  /** Proof locks taken for the service worker's challenges, released with the role (see relay-protocol.ts). */
  const proofs: (() => void)[] = [];
  const prove = (challenge: string, reply: MessagePort) => {
    if (!host || !navigator.locks) return reply.postMessage({ holding: false } satisfies ChallengeReply);
    void navigator.locks.request(hostProofLock(challenge), { ifAvailable: true }, (lock) => {
      reply.postMessage({ holding: Boolean(lock) } satisfies ChallengeReply);
      return lock ? new Promise<void>((resolve) => proofs.push(resolve)) : undefined;
    });
  };

  sw?.addEventListener('message', (event: MessageEvent<SwToPage>) => {
    const reply = event.ports[0];
    if (!reply) return;
    if (event.data?.type === 'hearth:host-challenge') return prove(event.data.challenge, reply);
    if (event.data?.type !== 'hearth:host-query') return;
    if (host) reply.postMessage({ isHost: true } satisfies HostQueryReply, [openPort()]);
    else reply.postMessage({ isHost: false } satisfies HostQueryReply);
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
      for (const open of ports.splice(0)) open.close();
      for (const free of proofs.splice(0)) free();
      releaseLock();
    },
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
  // Read ahead of the service worker (generation overlaps the relay; what piles up crosses as one chunk); a cancel
  // message from the service worker still stops the source.
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

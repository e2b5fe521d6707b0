/**
 * The host role: one page per origin owns the engines (elected with the Web Locks API) and hands the service worker
 * the ports its relayed requests from every tab are answered on — by the API worker (the default: the page's main
 * thread is then out of the request path), or by the page itself (`startHearth({ apiWorker: false })`). The page
 * keeps the election and the lock proofs. When the host tab closes, its lock is released and the next waiting tab
 * becomes host, loading engines on demand.
 */
import type { Handle } from '../api/handle';
import type { ApiRestartReason } from './api-supervisor';
import { HOST_LOCK, hostProofLock, type ChallengeReply, type HostQueryReply, type PageToSw, type SwToPage } from './relay-protocol';
import { serveRelayPort } from './relay-server';

export interface HostHandle {
  /** Resolves once this page holds the host lock. */
  readonly elected: Promise<void>;
  isHost(): boolean;
  /** Gives up the role (the next tab takes over). */
  release(): void;
}

/**
 * Where relayed requests are answered. `openPort` gives a fresh port whose other end answers them (it goes to the
 * service worker); earlier ports stay open until the role ends (the service worker may have sent requests on one just
 * before it adopted the new one). `hosting(false)`: the role ended, requests get 503 `not_host`, ports close.
 */
export interface RelayTarget {
  openPort(): MessagePort;
  hosting(on: boolean): void;
  /** Called when what answers the ports was restarted (the API worker crashed or hung): earlier ports are dead. */
  onRestart?(listener: (reason: ApiRestartReason) => void): void;
}

/** The main-thread path: the page answers relayed requests itself with `handle`. */
export function answerOnMainThread(handle: Handle): RelayTarget {
  let host = false;
  const ports: MessagePort[] = [];
  return {
    openPort() {
      const channel = new MessageChannel();
      serveRelayPort(handle, channel.port1, () => host);
      ports.push(channel.port1);
      return channel.port2;
    },
    hosting(on) {
      host = on;
      if (!on) for (const open of ports.splice(0)) open.close();
    },
  };
}

export function serveAsHost(target: RelayTarget): HostHandle {
  const sw = navigator.serviceWorker;
  let host = false;
  let releaseLock!: () => void;
  const held = new Promise<void>((resolve) => (releaseLock = resolve));
  const takeRole = () => {
    host = true;
    target.hosting(true);
    announce();
  };

  const announce = (restarted?: ApiRestartReason) => {
    const controller = sw?.controller;
    if (host && controller) {
      const theirs = target.openPort();
      controller.postMessage({ type: 'hearth:host-ready', ...(restarted && { restarted }) } satisfies PageToSw, [theirs]);
    }
  };
  target.onRestart?.(announce);

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
    if (host) reply.postMessage({ isHost: true } satisfies HostQueryReply, [target.openPort()]);
    else reply.postMessage({ isHost: false } satisfies HostQueryReply);
  });
  sw?.addEventListener('controllerchange', () => announce());
  sw?.startMessages();
  addEventListener('pagehide', () => sw?.controller?.postMessage({ type: 'hearth:host-leaving' } satisfies PageToSw));

  const elected = navigator.locks
    ? new Promise<void>((resolve) => {
      void navigator.locks.request(HOST_LOCK, () => {
        takeRole();
        resolve();
        return held;
      });
    })
    : Promise.resolve().then(takeRole); // no Web Locks: every tab serves itself

  return {
    elected,
    isHost: () => host,
    release: () => {
      host = false;
      target.hosting(false);
      sw?.controller?.postMessage({ type: 'hearth:host-leaving' } satisfies PageToSw);
      for (const free of proofs.splice(0)) free();
      releaseLock();
    },
  };
}

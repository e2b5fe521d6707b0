/**
 * The service worker's whole job: answer same-origin fetches under the API path by relaying them to the host (on the
 * port the host page handed over, answered by its API worker) and streaming the host's response back. It holds no API logic. It refuses what other sites send (sw-guard.ts),
 * caps request bodies before relaying them, adopts as host only the page that proves it holds the host lock, and ends
 * every relayed stream with an error within moments of its host going away. With no host page open it answers 503
 * with a spec-shaped error; everything outside the API path is left to the network.
 */
import { unavailable, HearthError } from '../core/errors';
import { errorResponse } from '../api/errors';
import { readBody } from '../api/http';
import { LIMITS } from '../api/limits';
import {
  HOST_LOCK, hostProofLock,
  type ChallengeReply, type HostQueryReply, type HostReply, type PageToSw, type SwToHost, type SwToPage,
} from './relay-protocol';
import { refuseForeign } from './sw-guard';
import { apiRestartError } from './api-supervisor';
import { pipeUntil, StreamEnd } from './stream-end';

declare const self: ServiceWorkerGlobalScope;

const HOST_QUERY_TIMEOUT_MS = 1000;
const CHALLENGE_TIMEOUT_MS = 2000;
/** How often a host with requests or streams in flight is checked for still being open (besides its proof lock). */
const HOST_ALIVE_CHECK_MS = 500;

interface Pending { resolve(reply: HostReply): void; reject(reason: unknown): void }

/** One adopted host: its Client, the port it gave us, and what is in flight on it. */
interface HostRecord {
  client: Client;
  port: MessagePort;
  pending: Map<number, Pending>;
  /** One per relayed stream still open: aborting it errors the stream the page reads. */
  streams: Set<AbortController>;
  gone: boolean;
  watch?: ReturnType<typeof setInterval>;
}

export interface RelayOptions {
  /** Largest request body relayed (default LIMITS.maxBodyBytes); larger ones get 413 before they are read whole. */
  maxBodyBytes?: number;
}

export function installRelay(apiPath: string, options: RelayOptions = {}): void {
  const maxBody = options.maxBodyBytes ?? LIMITS.maxBodyBytes;
  // The adopted host is remembered, so the hot path is one postMessage on its port. A restarted service worker has
  // none and asks the windows.
  let host: HostRecord | null = null;
  let finding: Promise<HostRecord | null> | null = null;
  let nextId = 0;
  const locks = (self.navigator as Navigator).locks as LockManager | undefined;

  const hostGone = (record: HostRecord, why: string) => {
    endRecord(record, unavailable(`The Hearth host page ${why} while handling this request; retry to use the next host`, 'host_gone'));
  };

  /** Ends what is in flight on `record`: requests get `reason`, streams error with it (or end with it as an event). */
  const endRecord = (record: HostRecord, reason: HearthError, streamEnd: unknown = reason) => {
    if (record.gone) return;
    record.gone = true;
    clearInterval(record.watch);
    if (host === record) host = null;
    record.port.close();
    for (const waiter of record.pending.values()) waiter.reject(reason);
    record.pending.clear();
    for (const stream of record.streams) stream.abort(streamEnd);
    record.streams.clear();
  };

  /** Checks, while the host has work in flight, that its tab is still open (the proof lock is the fast signal). */
  const watchAlive = (record: HostRecord) => {
    if (record.watch || record.gone) return;
    record.watch = setInterval(async () => {
      if (!record.pending.size && !record.streams.size) {
        clearInterval(record.watch);
        record.watch = undefined;
        return;
      }
      if (!(await self.clients.get(record.client.id))) hostGone(record, 'closed');
    }, HOST_ALIVE_CHECK_MS);
  };

  /** Adopts `client` as host if it proves it holds the host lock; otherwise closes the port it offered. */
  const adopt = async (client: Client, port: MessagePort): Promise<HostRecord | null> => {
    const proof = await proveHost(client, locks);
    if (!proof) {
      port.close();
      console.warn(`[hearth] a page offered to host without holding the ${HOST_LOCK} lock; refused`);
      return host;
    }
    const record: HostRecord = { client, port, pending: new Map(), streams: new Set(), gone: false };
    port.onmessage = (e: MessageEvent<HostReply>) => {
      const waiter = record.pending.get(e.data?.id);
      if (!waiter) return;
      record.pending.delete(e.data.id);
      waiter.resolve(e.data);
    };
    // Granted to us when the host releases its proof lock: it closed, reloaded or gave up the role.
    if (typeof proof === 'string') void locks!.request(proof, () => hostGone(record, 'closed'));
    const previous = host;
    host = record;
    if (previous && previous !== record && previous.client.id !== client.id) {
      // Another page holds the lock now: what was sent to the old one will not be answered; its open streams keep
      // flowing until it goes. (The same page offering a new port keeps answering on its old ones.)
      previous.port.close();
      const reason = unavailable('The Hearth host changed while handling this request; retry', 'host_changed');
      for (const waiter of previous.pending.values()) waiter.reject(reason);
      previous.pending.clear();
    }
    return record;
  };

  self.addEventListener('install', () => void self.skipWaiting());
  self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

  self.addEventListener('message', (event) => {
    const msg = event.data as PageToSw;
    const source = event.source as Client | null;
    if (!source) return;
    if (msg?.type === 'hearth:host-ready' && event.ports[0]) {
      // The host restarted its API worker: what the old one held will not be answered (its streams end with the error).
      if (msg.restarted && host?.client.id === source.id) {
        const error = apiRestartError(msg.restarted);
        endRecord(host, error, new StreamEnd(error));
      }
      event.waitUntil(track(adopt(source, event.ports[0])));
    }
    if (msg?.type === 'hearth:host-leaving' && host?.client.id === source.id) hostGone(host, 'left');
  });

  self.addEventListener('fetch', (event) => {
    const url = new URL(event.request.url);
    if (url.origin !== self.location.origin) return;
    if (url.pathname !== apiPath && !url.pathname.startsWith(`${apiPath}/`)) return;
    event.respondWith((async () => {
      // The pages this worker controls are same-origin by construction; what else reaches it is a navigation.
      const refusal = refuseForeign(event.request, self.location.origin);
      if (refusal) throw refusal;
      // Answered here without the relay: the baseline the benchmark compares the relay's cost against.
      if (url.pathname === `${apiPath}/_hearth/sw-ping`) return new Response(null, { status: 204 });
      return relay(event.request);
    })().catch((e) => errorResponse(e)));
  });

  /** Remembers an adoption or search in progress, so concurrent requests wait for it instead of starting another. */
  function track(search: Promise<HostRecord | null>): Promise<HostRecord | null> {
    const tracked = search.finally(() => { if (finding === tracked) finding = null; });
    finding = tracked;
    return tracked;
  }

  async function findHost(): Promise<HostRecord | null> {
    // Twice at most: a search that ended with a host that has gone since is followed by a fresh one.
    for (let attempt = 0; attempt < 2; attempt++) {
      if (host && !host.gone) return host;
      const found = await (finding ?? track(askWindows()));
      if (found && !found.gone) return found;
    }
    return null;
  }

  /** A restarted service worker has forgotten its host: every window is asked; the host answers with a fresh port. */
  async function askWindows(): Promise<HostRecord | null> {
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const offers = await Promise.all(windows.map(async (client) => {
      const answer = await ask<HostQueryReply>(client, { type: 'hearth:host-query' }, HOST_QUERY_TIMEOUT_MS);
      return answer?.data.isHost && answer.ports[0] ? { client, port: answer.ports[0] } : null;
    }));
    for (const offer of offers) if (offer) await adopt(offer.client, offer.port);
    return host;
  }

  async function relay(request: Request): Promise<Response> {
    // Capped here, before anything is relayed: Content-Length first, then while reading (413 at the first byte over).
    const bytes = request.method === 'GET' || request.method === 'HEAD' ? null : await readBody(request, maxBody);
    const target = await findHost();
    if (!target) {
      throw unavailable('No Hearth host page is open: open a page of this site that runs Hearth (it hosts the engines), then retry', 'no_host');
    }
    const body = bytes ? (bytes.buffer as ArrayBuffer) : null;
    const id = ++nextId;
    const reply = new Promise<HostReply>((resolve, reject) => target.pending.set(id, { resolve, reject }));
    watchAlive(target);
    const message: SwToHost = { type: 'request', id, method: request.method, url: request.url, headers: [...request.headers], body };
    target.port.postMessage(message, body ? [body] : []);
    request.signal?.addEventListener('abort', () => target.port.postMessage({ type: 'cancel', id } satisfies SwToHost));

    const answer = await reply;
    if (answer.type === 'error') throw HearthError.fromBody(answer.status, answer.body);
    const relayed = answer.body instanceof ReadableStream ? guardStream(target, answer.body) : answer.body && oneChunk(answer.body);
    return new Response(relayed, { status: answer.status, statusText: answer.statusText, headers: answer.headers });
  }

  /**
   * The page reads this copy of the host's stream, so the service worker can end it: if the host goes away (its tab
   * closed, the stream from it may simply stop), the copy errors at once. A cancel from the page still reaches the
   * host through the pipe.
   */
  function guardStream(record: HostRecord, source: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
    const stop = new AbortController();
    record.streams.add(stop);
    watchAlive(record);
    // Not held with event.waitUntil: Chromium ends a worker whose event outlives 5 minutes, and a stream may.
    // Only event streams cross the relay as streams (relay-server.ts): one whose API worker was restarted ends with
    // the error as its last event.
    const readable = pipeUntil(source, stop.signal, () => record.streams.delete(stop));
    if (record.gone) stop.abort(unavailable('The Hearth host page closed while handling this request; retry', 'host_gone'));
    return readable;
  }
}

/**
 * Whole bodies reach the page as a one-chunk stream, not as the bytes themselves: Chromium hands a bytes body from a
 * service worker to the page as a blob (registered with the browser process, then read back), a stream as a data
 * pipe, and the pipe is ~0.7 ms faster per request here (bench/relay.mjs).
 */
function oneChunk(bytes: ArrayBuffer): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(new Uint8Array(bytes));
      controller.close();
    },
  });
}

/** Posts `message` to `client` with a reply port; resolves with the first reply, or null after `timeoutMs`. */
function ask<T>(client: Client, message: SwToPage, timeoutMs: number): Promise<{ data: T; ports: readonly MessagePort[] } | null> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    const timer = setTimeout(() => {
      channel.port1.close();
      resolve(null);
    }, timeoutMs);
    channel.port1.onmessage = (e: MessageEvent<T>) => {
      clearTimeout(timer);
      channel.port1.close();
      resolve({ data: e.data, ports: e.ports });
    };
    client.postMessage(message, [channel.port2]);
  });
}

/**
 * Whether `client` holds the host lock. LockInfo's clientId is not the Clients API id (Chromium uses another token),
 * so the client is challenged to take a lock named after a fresh secret; it holds the host lock if one client holds
 * both. Returns the proof lock's name (the service worker's signal that the host went away), true where the browser
 * has no Web Locks (every tab then serves itself), or null when the client is not the host.
 */
async function proveHost(client: Client, locks: LockManager | undefined): Promise<string | true | null> {
  if (!locks) return true;
  const challenge = crypto.randomUUID();
  const answer = await ask<ChallengeReply>(client, { type: 'hearth:host-challenge', challenge }, CHALLENGE_TIMEOUT_MS);
  if (!answer?.data.holding) return null;
  const { held = [] } = await locks.query();
  const hostHolder = held.find((l) => l.name === HOST_LOCK)?.clientId;
  const proofHolder = held.find((l) => l.name === hostProofLock(challenge))?.clientId;
  return hostHolder && hostHolder === proofHolder ? hostProofLock(challenge) : null;
}

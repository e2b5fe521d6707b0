/**
 * Messages between the service worker and the pages it controls. The host page hands the service worker one
 * MessagePort when it takes the role (`hearth:host-ready`), whose other end is its API worker (or, with
 * `apiWorker: false`, the page itself); every relayed request and its answer travel on that port,
 * told apart by id, so a request costs no Client.postMessage and no new channel. Streamed bodies travel as
 * transferred streams, so they flow incrementally and a cancel on either end reaches the other.
 */
import type { ErrorBody } from '../core/errors';
import type { ApiRestartReason } from './api-supervisor';

/**
 * Service worker → page, on the page's Client, answered on the message's port: "are you the host?", and "prove it":
 * the page that holds the host lock takes the lock named `hostProofLock(challenge)` and keeps it while it is host, so
 * the service worker can check (navigator.locks.query) that the same client holds both, and learns at once when that
 * client goes away (its own request for the proof lock is granted).
 */
export type SwToPage = { type: 'hearth:host-query' } | { type: 'hearth:host-challenge'; challenge: string };

/** Page → service worker reply to a challenge: whether it now holds the proof lock. */
export type ChallengeReply = { holding: boolean };

export const hostProofLock = (challenge: string) => `hearth-host-proof:${challenge}`;

/**
 * Page → service worker. `host-ready` carries the host port as its first transferred port; `restarted` says the
 * host's API worker was restarted (why): what is in flight on the host's earlier port ends with 503
 * `api_worker_restarted`.
 */
export type PageToSw = { type: 'hearth:host-ready'; restarted?: ApiRestartReason } | { type: 'hearth:host-leaving' };

/** Service worker → host, on the host port. */
export type SwToHost =
  | { type: 'request'; id: number; method: string; url: string; headers: [string, string][]; body: ArrayBuffer | null }
  /** The page gave up on the response. */
  | { type: 'cancel'; id: number };

/** Host → service worker, on the host port. Streamed bodies travel as a transferred stream, whole ones as bytes. */
export type HostReply =
  | { type: 'head'; id: number; status: number; statusText: string; headers: [string, string][]; body: ReadableStream<Uint8Array> | ArrayBuffer | null }
  | { type: 'error'; id: number; status: number; body: ErrorBody };

/** Page → service worker reply to a host query, on the query's port; a host also transfers a fresh host port. */
export type HostQueryReply = { isHost: boolean };

export const HOST_LOCK = 'hearth-host';

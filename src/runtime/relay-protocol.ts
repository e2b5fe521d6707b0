/**
 * Messages between the service worker and the pages it controls. The host page hands the service worker one
 * MessagePort when it takes the role (`hearth:host-ready`); every relayed request and its answer travel on that port,
 * told apart by id, so a request costs no Client.postMessage and no new channel. Streamed bodies travel as
 * transferred streams, so they flow incrementally and a cancel on either end reaches the other.
 */
import type { ErrorBody } from '../api/errors';

/** Service worker → page, on the page's Client: "are you the host?" (answered on the message's port). */
export type SwToPage = { type: 'hearth:host-query' };

/** Page → service worker. `host-ready` carries the host port as its first transferred port. */
export type PageToSw = { type: 'hearth:host-ready' } | { type: 'hearth:host-leaving' };

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

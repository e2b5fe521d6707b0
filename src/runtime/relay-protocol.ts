/**
 * Messages between the service worker and the pages it controls. Every request the service worker relays carries
 * its own MessagePort; the host answers on it with the response head and a transferred body stream, so bodies
 * flow incrementally and a cancel on either end reaches the other.
 */
import type { ErrorBody } from '../api/errors';

/** Service worker → page. */
export type SwToPage =
  | { type: 'hearth:request'; id: string; method: string; url: string; headers: [string, string][]; body: ArrayBuffer | null }
  | { type: 'hearth:host-query' };

/** Page → service worker. */
export type PageToSw = { type: 'hearth:host-ready' } | { type: 'hearth:host-leaving' };

/** Host → service worker, on the request's port. Streamed bodies travel as a transferred stream, whole ones as bytes. */
export type HostReply =
  | { type: 'head'; status: number; statusText: string; headers: [string, string][]; body: ReadableStream<Uint8Array> | ArrayBuffer | null }
  | { type: 'error'; status: number; body: ErrorBody };

/** Service worker → host, on the request's port, after the head: the page gave up on the response. */
export type SwCancel = { type: 'cancel' };

/** Page → service worker reply to a host query, on the query's port. */
export type HostQueryReply = { isHost: boolean };

export const HOST_LOCK = 'hearth-host';

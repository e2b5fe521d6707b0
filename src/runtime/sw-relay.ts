/**
 * The service worker's whole job: answer same-origin fetches under the API path by relaying them to the host page
 * and streaming the host's response back. It holds no API logic. With no host page open it answers 503 with a
 * spec-shaped error; everything outside the API path is left to the network.
 */
import { unavailable, errorResponse, HearthError } from '../api/errors';
import type { HostQueryReply, HostReply, PageToSw, SwToPage } from './relay-protocol';

declare const self: ServiceWorkerGlobalScope;

const HOST_QUERY_TIMEOUT_MS = 1000;
const HOST_ALIVE_CHECK_MS = 2000;

export function installRelay(apiPath: string): void {
  // The host's Client, remembered from its announcement so the hot path needs no clients.get() per request;
  // a host that vanishes is noticed by the per-request watch (and its pagehide message clears it first).
  let host: Client | null = null;
  let nextId = 0;

  self.addEventListener('install', () => void self.skipWaiting());
  self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

  self.addEventListener('message', (event) => {
    const msg = event.data as PageToSw;
    const source = event.source as Client | null;
    if (!source) return;
    if (msg?.type === 'hearth:host-ready') host = source;
    if (msg?.type === 'hearth:host-leaving' && host?.id === source.id) host = null;
  });

  self.addEventListener('fetch', (event) => {
    const url = new URL(event.request.url);
    if (url.origin !== self.location.origin) return;
    if (url.pathname !== apiPath && !url.pathname.startsWith(`${apiPath}/`)) return;
    // Answered here without the relay: the baseline the benchmark compares the relay's cost against.
    if (url.pathname === `${apiPath}/_hearth/sw-ping`) return event.respondWith(new Response(null, { status: 204 }));
    event.respondWith(relay(event.request).catch((e) => errorResponse(e)));
  });

  async function findHost(): Promise<Client | null> {
    if (host) return host;
    // The service worker may have been restarted and forgotten its host: ask every window.
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const answers = windows.map((client) => new Promise<Client | null>((resolve) => {
      const channel = new MessageChannel();
      const timer = setTimeout(() => resolve(null), HOST_QUERY_TIMEOUT_MS);
      channel.port1.onmessage = (e: MessageEvent<HostQueryReply>) => {
        clearTimeout(timer);
        resolve(e.data?.isHost ? client : null);
      };
      client.postMessage({ type: 'hearth:host-query' } satisfies SwToPage, [channel.port2]);
    }));
    host = (await Promise.all(answers)).find((c) => c !== null) ?? null;
    return host;
  }

  async function relay(request: Request): Promise<Response> {
    const target = await findHost();
    if (!target) {
      throw unavailable('No Hearth host page is open: open a page of this site that runs Hearth (it hosts the engines), then retry', 'no_host');
    }
    const body = request.method === 'GET' || request.method === 'HEAD' ? null : await request.arrayBuffer();
    const channel = new MessageChannel();
    const id = `sw${++nextId}`;
    let watch: ReturnType<typeof setInterval> | undefined;
    const reply = new Promise<HostReply>((resolve, reject) => {
      channel.port1.onmessage = (e: MessageEvent<HostReply>) => resolve(e.data);
      // If the host tab goes away mid-request, nobody will answer: notice and fail instead of hanging.
      watch = setInterval(async () => {
        if (!(await self.clients.get(target.id))) {
          if (host?.id === target.id) host = null;
          reject(unavailable('The Hearth host page closed while handling this request; retry to use the next host', 'host_gone'));
        }
      }, HOST_ALIVE_CHECK_MS);
    });
    const message: SwToPage = {
      type: 'hearth:request', id, method: request.method, url: request.url,
      headers: [...request.headers], body,
    };
    target.postMessage(message, body ? [channel.port2, body] : [channel.port2]);
    request.signal?.addEventListener('abort', () => channel.port1.postMessage({ type: 'cancel' }));

    let answer: HostReply;
    try {
      answer = await reply;
    } finally {
      clearInterval(watch);
    }
    if (answer.type === 'error') throw HearthError.fromBody(answer.status, answer.body);
    return new Response(answer.body, { status: answer.status, statusText: answer.statusText, headers: answer.headers });
  }
}

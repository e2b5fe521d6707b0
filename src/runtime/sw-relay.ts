/**
 * The service worker's whole job: answer same-origin fetches under the API path by relaying them to the host page
 * and streaming the host's response back. It holds no API logic. With no host page open it answers 503 with a
 * spec-shaped error; everything outside the API path is left to the network.
 */
import { unavailable, errorResponse, HearthError } from '../api/errors';
import type { HostQueryReply, HostReply, PageToSw, SwToHost, SwToPage } from './relay-protocol';

declare const self: ServiceWorkerGlobalScope;

const HOST_QUERY_TIMEOUT_MS = 1000;
const HOST_ALIVE_CHECK_MS = 2000;

interface Pending { resolve(reply: HostReply): void }

export function installRelay(apiPath: string): void {
  // The host's Client (for the liveness check) and the port it gave us; both are remembered from its announcement,
  // so the hot path is one postMessage on that port. A restarted service worker has neither and asks the windows.
  let host: { client: Client; port: MessagePort } | null = null;
  let nextId = 0;
  const pending = new Map<number, Pending>();

  const adopt = (client: Client, port: MessagePort) => {
    host?.port.close();
    host = { client, port };
    port.onmessage = (e: MessageEvent<HostReply>) => {
      const waiter = pending.get(e.data?.id);
      if (!waiter) return;
      pending.delete(e.data.id);
      waiter.resolve(e.data);
    };
  };
  const forget = (clientId: string) => {
    if (host?.client.id !== clientId) return;
    host.port.close();
    host = null;
  };

  self.addEventListener('install', () => void self.skipWaiting());
  self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

  self.addEventListener('message', (event) => {
    const msg = event.data as PageToSw;
    const source = event.source as Client | null;
    if (!source) return;
    if (msg?.type === 'hearth:host-ready' && event.ports[0]) adopt(source, event.ports[0]);
    if (msg?.type === 'hearth:host-leaving') forget(source.id);
  });

  self.addEventListener('fetch', (event) => {
    const url = new URL(event.request.url);
    if (url.origin !== self.location.origin) return;
    if (url.pathname !== apiPath && !url.pathname.startsWith(`${apiPath}/`)) return;
    // Answered here without the relay: the baseline the benchmark compares the relay's cost against.
    if (url.pathname === `${apiPath}/_hearth/sw-ping`) return event.respondWith(new Response(null, { status: 204 }));
    event.respondWith(relay(event.request).catch((e) => errorResponse(e)));
  });

  async function findHost(): Promise<{ client: Client; port: MessagePort } | null> {
    if (host) return host;
    // The service worker may have been restarted and forgotten its host: ask every window; the host answers with a
    // fresh port.
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    await Promise.all(windows.map((client) => new Promise<void>((resolve) => {
      const channel = new MessageChannel();
      const timer = setTimeout(resolve, HOST_QUERY_TIMEOUT_MS);
      channel.port1.onmessage = (e: MessageEvent<HostQueryReply>) => {
        clearTimeout(timer);
        if (e.data?.isHost && e.ports[0]) adopt(client, e.ports[0]);
        resolve();
      };
      client.postMessage({ type: 'hearth:host-query' } satisfies SwToPage, [channel.port2]);
    })));
    return host;
  }

  async function relay(request: Request): Promise<Response> {
    const target = await findHost();
    if (!target) {
      throw unavailable('No Hearth host page is open: open a page of this site that runs Hearth (it hosts the engines), then retry', 'no_host');
    }
    const body = request.method === 'GET' || request.method === 'HEAD' ? null : await request.arrayBuffer();
    const id = ++nextId;
    let watch: ReturnType<typeof setInterval> | undefined;
    const reply = new Promise<HostReply>((resolve, reject) => {
      pending.set(id, { resolve });
      // If the host tab goes away mid-request, nobody will answer: notice and fail instead of hanging.
      watch = setInterval(async () => {
        if (!(await self.clients.get(target.client.id))) {
          forget(target.client.id);
          pending.delete(id);
          reject(unavailable('The Hearth host page closed while handling this request; retry to use the next host', 'host_gone'));
        }
      }, HOST_ALIVE_CHECK_MS);
    });
    const message: SwToHost = { type: 'request', id, method: request.method, url: request.url, headers: [...request.headers], body };
    target.port.postMessage(message, body ? [body] : []);
    request.signal?.addEventListener('abort', () => target.port.postMessage({ type: 'cancel', id } satisfies SwToHost));

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

/**
 * `hearth serve`: the same `handle()` the browser runs, on node:http, with the Node engines (node-engines.ts).
 * An OpenAI/Fireworks-compatible server for scripts, and a remote for Hearth pages on other origins (`cors`).
 * Only the request line, status and time are logged: never headers or bodies (API keys, prompts). Engine jobs have
 * the browser host's deadlines (./deadlines.ts).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorResponse } from '../api/errors';
import { createApi, DEFAULT_BASE_PATH, type Handle } from '../api/handle';
import { CATALOG } from '../models/catalog';
import { ModelRegistry } from '../models/registry';
import type { CatalogEntry } from '../models/types';
import { matchesModel } from '../api/remote/patterns';
import { Remotes } from '../api/remote/remotes';
import type { RemoteConfig } from '../api/remote/types';
import { engineDeadlines, type EngineDeadlines } from '../runtime/deadlines';
import { corsHeaders, preflight, type CorsPolicy } from './cors';
import { withDeadlines } from './deadlines';
import { directoryFiles } from './model-files';
import { createNodeEngines, type NodeEngines } from './node-engines';
import { nodeRuntime, type DeviceChoice } from './node-runtime';
import { toRequest, writeResponse } from './node-http';

export interface ServeOptions {
  port?: number;
  /** Interface to listen on (default 127.0.0.1: this machine only). */
  host?: string;
  /** Folder laid out like the web app's public/ (the built-in models live in its models/). */
  modelDir: string;
  /** Catalog ids, aliases or `*` patterns to serve (default: the whole catalog). */
  models?: string[];
  /** Origins whose pages may call this server from a browser ('*' for any). */
  cors?: string[];
  /** Require `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Remote backends, as for startHearth (this server may itself relay to another). */
  remotes?: RemoteConfig[];
  /**
   * Where models run (default `auto`: onnxruntime-node on CUDA where its provider is installed, then CPU; wasm when
   * onnxruntime-node cannot load). An explicit device that cannot run here makes startServer throw.
   */
  device?: DeviceChoice;
  /** Called per answered request with a log line (default: none). */
  log?: (line: string) => void;
  /**
   * Engine job deadlines in ms per kind (and `graceMs`, `unresponsiveMs`, unused here: no worker to restart); default
   * the browser host's (src/runtime/deadlines.ts). A job past its deadline answers 503 `deadline_exceeded`.
   */
  deadlines?: Partial<EngineDeadlines>;
}

export interface RunningServer {
  url: string;
  /** The API's base URL (what a client's `baseURL` is). */
  baseURL: string;
  server: Server;
  /** The catalog entries it serves. */
  models: CatalogEntry[];
  engines: NodeEngines;
  /** The job deadlines in force. */
  deadlines: EngineDeadlines;
  handle: Handle;
  close(): Promise<void>;
}

export function servedCatalog(patterns: string[] | undefined): CatalogEntry[] {
  if (!patterns?.length) return [...CATALOG];
  const chosen = CATALOG.filter((e) => [e.id, ...e.aliases].some((name) => matchesModel(patterns, name)));
  const unknown = patterns.filter((p) => !p.includes('*') && !CATALOG.some((e) => e.id === p || e.aliases.includes(p)));
  if (unknown.length) throw new Error(`Unknown model${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`);
  return chosen;
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const models = servedCatalog(options.models);
  const engines = createNodeEngines(directoryFiles(options.modelDir), { runtime: await nodeRuntime(options.device) });
  const deadlines = engineDeadlines(options.deadlines);
  const handle = createApi({
    registry: new ModelRegistry(models),
    ...engines.deps,
    engines: withDeadlines(engines.deps.engines, deadlines),
    apiKey: options.apiKey,
    ...(options.remotes?.length && { remotes: new Remotes(options.remotes) }),
  });
  const cors: CorsPolicy = { origins: options.cors ?? [] };
  const log = options.log ?? (() => undefined);

  const server = createServer((req, res) => {
    const started = performance.now();
    const origin = typeof req.headers.origin === 'string' ? req.headers.origin : undefined;
    res.on('finish', () => log(`${req.method} ${req.url?.split('?')[0]} ${res.statusCode} ${Math.round(performance.now() - started)}ms`));
    const pre = preflight(cors, req.method, req.headers);
    if (pre) {
      res.writeHead(pre.status, pre.headers).end();
      return;
    }
    const abort = new AbortController();
    res.on('close', () => { if (!res.writableFinished) abort.abort(); });
    const self = `http://${req.headers.host ?? 'localhost'}`;
    void (async () => {
      let response: Response;
      try {
        response = await handle(toRequest(req, self, abort.signal));
      } catch (e) {
        response = errorResponse(e);
      }
      await writeResponse(res, response, corsHeaders(cors, origin));
    })().catch((e: unknown) => {
      console.error('[hearth serve]', e);
      res.destroy();
    });
  });
  // Streams may run for minutes; a request's own timeout would cut them.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8080, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  return {
    url, baseURL: `${url}${DEFAULT_BASE_PATH}`, server, models, engines, deadlines, handle,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/**
 * What the API layer is built from: the model registry, the engines, and limits. The host page, the in-page
 * client and Node tests each assemble one of these and get the same `handle(request)` from it.
 */
import type { EngineKind, Engines, ModelKind } from '../engines/kinds';
import type { ModelRegistry } from '../models/registry';
import type { CatalogEntry } from '../models/types';
import type { DiagnosticsEngine } from '../engines/diagnostics/types';
import type { Remotes } from './remote/remotes';
import type { RequestOperation } from './validate';

export type { DiagnosticsEngine };

/** The faults a test can inject into an engine worker (diagnostics hosts only). */
export type EngineFault = 'hang' | 'crash' | 'device-lost';

/** An engine worker's supervision state, as GET /models shows it. */
export interface EngineHealth {
  kind: ModelKind;
  /** Whether a worker is running now. */
  running: boolean;
  /** Times the worker was terminated and restarted (stuck past a deadline, not answering, crashed, GPU device lost). */
  restarts: number;
  lastRestart: { reason: 'deadline' | 'unresponsive' | 'crashed' | 'device_lost'; at: string } | null;
  /** Calls in flight per model id (waiting, loading or running; streams until they end). */
  jobsInFlight: Record<string, number>;
}

export interface ApiDeps {
  registry: ModelRegistry;
  /**
   * Engines are created on first use: the getter is awaited per request (src/engines/kinds.ts). Supervised engines
   * (browser workers) also report their health, and diagnostics hosts let tests inject faults.
   */
  engines: Engines & {
    /** Supervised engines (browser workers): restarts and jobs in flight per engine kind. */
    health?(): EngineHealth[];
    /** Test-only (diagnostics hosts): injects a fault into an engine worker; false when none is running. */
    injectFault?(kind: ModelKind, fault: EngineFault, ms?: number): boolean;
  };
  /** Whether a model's files are all stored locally. */
  isDownloaded(entry: CatalogEntry): Promise<boolean>;
  /** Request bodies above this many bytes get 413 (default 8 MiB). */
  maxBodyBytes?: number;
  /** When set, requests must carry `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Mount point of the API (default `/inference/v1`). */
  basePath?: string;
  /** Remote backends (src/api/remote/): requests for the models they match may be served there, per their policy. */
  remotes?: Remotes;
  /** False when this runtime has no local engine (`devices: []`): `local-first` models go to their remote. */
  localEngines?: boolean;
}

export interface RequestContext {
  request: Request;
  url: URL;
  /** The path below the base path, e.g. `/embeddings`. */
  path: string;
  /** Captured path parameter (the model id in `/models/{id}`). */
  pathParam?: string;
  deps: ApiDeps;
  /** Reads the body as JSON (size-limited, with spec-shaped errors). */
  json(): Promise<unknown>;
  /** Accepted fields with no local effect this request carried (live API surface): the `x-hearth-ignored` header. */
  ignored: string[];
}

export type Handler = (ctx: RequestContext) => Promise<Response>;

/** One path the API serves (src/api/routes.ts gathers them). */
export interface Route {
  /** Exact path below the base, or a prefix ending in '/' whose remainder is the path parameter. */
  path: string;
  method: 'GET' | 'POST';
  handler: Handler;
  /**
   * The engine kind that serves it (src/engines/kinds.ts), stamped by `kindRoutes` (kind-routes.ts) in its handler
   * file; served only where `deps.engines` has that kind.
   */
  engine?: EngineKind;
  /**
   * For a request that names a model: its operation, which validates it before it is forwarded to a remote
   * (src/api/remote/dispatch.ts).
   */
  operation?: RequestOperation;
  /** Its body is multipart/form-data (read under the image uploads' own limit). */
  multipart?: boolean;
  /** The model a body that names none gets. */
  defaultModel?: string;
}

/** A route as a kind's handler file declares it, before `kindRoutes` stamps its kind. */
export type KindRoute = Omit<Route, 'engine'>;

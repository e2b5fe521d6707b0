/**
 * What the API layer is built from: the model registry, the engines, and limits. The host page, the in-page
 * client and Node tests each assemble one of these and get the same `handle(request)` from it.
 */
import type { Engines } from '../engines/kinds';
import type { ModelRegistry } from '../models/registry';
import type { CatalogEntry } from '../models/types';
import type { DiagnosticsEngine } from '../engines/diagnostics/types';
import type { Remotes } from './remote/remotes';

export type { DiagnosticsEngine };

export interface ApiDeps {
  registry: ModelRegistry;
  /** Engines are created on first use: the getter is awaited per request (src/engines/kinds.ts). */
  engines: Engines;
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

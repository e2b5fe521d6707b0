/**
 * The in-page entry point. `createHearth()` assembles registry, artifact store, engine workers and the API
 * `handle`, and gives a `fetch` that answers `/inference/v1/*` without any service worker. `startHearth()` also
 * competes for the host role and installs the service worker, so plain `fetch('/inference/v1/…')` works in every
 * tab of the origin.
 */
import { createApi, DEFAULT_BASE_PATH, type Handle } from '../api/handle';
import { Remotes } from '../api/remote/remotes';
import type { RemoteConfig } from '../api/remote/types';
import type { OrtDevice } from '../engines/embeddings/types';
import { ModelRegistry } from '../models/registry';
import { ArtifactStore } from '../models/store';
import type { CatalogEntry } from '../models/types';
import type { EngineDeadlines } from './deadlines';
import { createEnginePool, type EnginePool } from './engines';
import { serveAsHost, type HostHandle } from './host';
import { installServiceWorker } from './install';

export interface HearthOptions {
  /** Devices engines try, in order (default WebGPU, then wasm); `[]`: no local engine (remotes serve everything). */
  devices?: OrtDevice[];
  /** Remote backends (Fireworks, vLLM, Ollama, another `hearth serve`…) for the models their patterns match. */
  remotes?: RemoteConfig[];
  /** Try Hearth's own WGSL decoder before onnxruntime-web for Llama-family LLMs on WebGPU (default true). */
  wgslLlm?: boolean;
  /** Extra catalog entries (your own models). */
  models?: CatalogEntry[];
  /**
   * Your own model names: name → the model that serves it (its id or any name), winning over the catalog's, e.g.
   * `{ 'accounts/fireworks/models/stable-diffusion-xl-1024-v1-0': 'hearth/tiny-sdxl' }`. Listed in `GET /models`.
   */
  aliases?: Record<string, string>;
  /** Require `Authorization: Bearer <apiKey>` on API requests. */
  apiKey?: string;
  /** Mounts the test-only routes (`/_hearth/stream`, `/_hearth/engine-fault`) and lets them inject engine faults. */
  diagnostics?: boolean;
  /**
   * Engine job deadlines in ms per kind (`embeddings`, `llm`, `image`) and `graceMs`, the time a worker gets to stop
   * a job past its deadline before it is restarted (defaults in src/runtime/deadlines.ts).
   */
  deadlines?: Partial<EngineDeadlines>;
  /** Where to load onnxruntime-web's wasm files from (default: the copy the build bundled). */
  ortWasmBase?: string;
  /** The Hugging Face endpoint (or a mirror) LoRA adapters are downloaded from (default https://huggingface.co). */
  hubEndpoint?: string;
}

export interface Hearth {
  /** `fetch` for the API: answers API URLs in this page, passes other URLs to the network. */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  handle: Handle;
  registry: ModelRegistry;
  store: ArtifactStore;
  engines: EnginePool;
  /** The remote backends, editable at run time (`hearth.remotes.set({...})`, `.remove(name)`). */
  remotes: Remotes;
  /** Present after `startHearth()`: this page's host role. */
  host?: HostHandle;
  /** Present after `startHearth()`: settles once the service worker controls the page (null if it could not be installed). */
  serviceWorker?: Promise<ServiceWorkerRegistration | null>;
}

const BASE_URL: string = import.meta.env?.BASE_URL ?? '/';

export function createHearth(options: HearthOptions = {}): Hearth {
  const origin = globalThis.location?.href ?? 'http://localhost/';
  const modelBase = new URL(BASE_URL, origin).href;
  const registry = new ModelRegistry();
  for (const entry of options.models ?? []) registry.register(entry);
  for (const [name, target] of Object.entries(options.aliases ?? {})) registry.alias(name, target);
  const store = new ArtifactStore(modelBase);
  const devices = options.devices ?? ['webgpu', 'wasm'];
  const remotes = new Remotes(options.remotes ?? []);
  const engines = createEnginePool({
    devices,
    wgslLlm: options.wgslLlm ?? true,
    ortWasmBase: options.ortWasmBase,
    modelBase,
    hubEndpoint: options.hubEndpoint,
  }, { diagnostics: options.diagnostics, deadlines: options.deadlines });
  const basePath = `${BASE_URL.replace(/\/$/, '')}${DEFAULT_BASE_PATH}`;
  const handle = createApi({
    registry,
    engines,
    isDownloaded: (entry) => store.isDownloaded(entry),
    apiKey: options.apiKey,
    basePath,
    remotes,
    localEngines: devices.length > 0,
  });

  const hearth: Hearth = {
    handle, registry, store, engines, remotes,
    async fetch(input, init) {
      const request = new Request(input instanceof URL ? input.href : input, init);
      const path = new URL(request.url).pathname;
      const isApi = new URL(request.url).origin === new URL(origin).origin &&
        (path === basePath || path.startsWith(`${basePath}/`));
      if (!isApi) return globalThis.fetch(request);
      // A tab that is not the host reaches the host's engines through the service worker, if one controls it.
      const viaServiceWorker = hearth.host && !hearth.host.isHost() && navigator.serviceWorker?.controller;
      return viaServiceWorker ? globalThis.fetch(request) : handle(request);
    },
  };
  return hearth;
}

/**
 * createHearth + host election + service worker: what a page that serves the API for its origin calls once.
 * It does not wait for the service worker: `hearth.fetch` works at once, plain `fetch` once `hearth.serviceWorker` settles.
 */
export function startHearth(options: HearthOptions & { serviceWorker?: boolean } = {}): Hearth {
  const hearth = createHearth(options);
  hearth.host = serveAsHost(hearth.handle);
  hearth.serviceWorker = options.serviceWorker === false
    ? Promise.resolve(null)
    : installServiceWorker().catch((e: unknown) => {
      console.warn('[hearth] service worker not installed; the in-page client still works', e);
      return null;
    });
  return hearth;
}

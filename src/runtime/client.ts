/**
 * The in-page entry point. `createHearth()` assembles registry, artifact store, engine workers and the API
 * `handle`, and gives a `fetch` that answers `/inference/v1/*` without any service worker. `startHearth()` also
 * competes for the host role and installs the service worker, so plain `fetch('/inference/v1/…')` works in every
 * tab of the origin.
 */
import { DEFAULT_BASE_PATH, type Handle } from '../api/handle';
import { Remotes } from '../api/remote/remotes';
import type { RemoteConfig } from '../api/remote/types';
import type { OrtDevice } from '../engines/embeddings/types';
import type { ModelRegistry } from '../models/registry';
import { variantToDownload } from './download-variant';
import { ArtifactStore } from '../models/store';
import type { CatalogEntry } from '../models/types';
import { startApiWorker, type ApiWorkerSupervision } from './api-link';
import { assembleRuntime, createRegistry, type RuntimeOptions } from './assemble';
import type { EnginePool } from './engines';
import { answerOnMainThread, serveAsHost, type HostHandle, type RelayTarget } from './host';
import type { EngineDeadlines } from './deadlines';
import { installServiceWorker } from './install';
import { localModels, type LocalModels } from './local-models';

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
   * Run the API in a dedicated worker (default true): relayed requests go service worker → API worker → engine
   * workers, never through this page's main thread, and the in-page client reaches the same worker. `false`: the
   * page's main thread runs the API and owns the engine workers (the path before the API worker; kept for comparison,
   * `npm run bench -- --only=relay`).
   */
  apiWorker?: boolean;
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
  /** Models from the user's disk: `await hearth.models.add(file)` registers a GGUF file as `local/<name>`. */
  models: LocalModels;
  /**
   * The file variant of `entry` to download ahead (LLMs whose files come in variants): the first ONNX variant the
   * engines would load on this Hearth's devices and this adapter (`webgpu`: an adapter was granted), by the rule the
   * LLM backends themselves apply (src/models/llm-variants.ts), config.json read first when the WGSL decoder's
   * verdict on the architecture decides it (src/runtime/download-variant.ts). Undefined for entries without file variants.
   */
  downloadVariant(entry: CatalogEntry, adapter: { webgpu: boolean; shaderF16: boolean }): Promise<string | undefined>;
  /**
   * Present when the API runs in the API worker (the default): its supervision (restarts after a crash or a hang;
   * `injectFault` with `diagnostics` only).
   */
  apiWorker?: ApiWorkerSupervision;
  /** Present after `startHearth()`: this page's host role. */
  host?: HostHandle;
  /** Present after `startHearth()`: settles once the service worker controls the page (null if it could not be installed). */
  serviceWorker?: Promise<ServiceWorkerRegistration | null>;
}

const BASE_URL: string = import.meta.env?.BASE_URL ?? '/';

export function createHearth(options: HearthOptions = {}): Hearth {
  return assemble(options).hearth;
}

/** The page's Hearth, and where the service worker's relayed requests are answered if this page becomes host. */
function assemble(options: HearthOptions): { hearth: Hearth; relay: RelayTarget } {
  const origin = globalThis.location?.href ?? 'http://localhost/';
  const basePath = `${BASE_URL.replace(/\/$/, '')}${DEFAULT_BASE_PATH}`;
  const runtimeOptions: RuntimeOptions = {
    devices: options.devices ?? ['webgpu', 'wasm'],
    remotes: options.remotes ?? [],
    wgslLlm: options.wgslLlm ?? true,
    models: options.models ?? [],
    aliases: options.aliases ?? {},
    apiKey: options.apiKey,
    diagnostics: options.diagnostics ?? false,
    deadlines: options.deadlines,
    ortWasmBase: options.ortWasmBase,
    hubEndpoint: options.hubEndpoint,
    modelBase: new URL(BASE_URL, origin).href,
    basePath,
  };
  let runtime: Pick<Hearth, 'handle' | 'registry' | 'store' | 'engines' | 'remotes' | 'apiWorker'>;
  let relay: RelayTarget;
  if (options.apiWorker !== false && typeof Worker !== 'undefined') {
    // The page keeps copies of the registry and remotes (edits reach the worker's) and its own view of the store.
    const registry = createRegistry(runtimeOptions);
    const remotes = new Remotes(runtimeOptions.remotes);
    const link = startApiWorker(runtimeOptions, registry, remotes);
    runtime = { handle: link.handle, registry, store: new ArtifactStore(runtimeOptions.modelBase), engines: link.engines, remotes, apiWorker: link.supervision };
    relay = link;
  } else {
    runtime = assembleRuntime(runtimeOptions);
    relay = answerOnMainThread(runtime.handle);
  }
  const models = localModels(runtime.registry, runtime.store, async (id) => { await (await runtime.engines.llm()).unload(id); });
  // Requests wait for the local models remembered from earlier visits to be registered again (one IndexedDB read).
  const handle: Handle = async (request) => { await models.ready; return runtime.handle(request); };
  const hearth: Hearth = {
    ...runtime, handle, models,
    downloadVariant: (entry, adapter) => variantToDownload(entry, {
      devices: runtimeOptions.devices.filter((d) => d !== 'webgpu' || adapter.webgpu),
      shaderF16: adapter.shaderF16,
      wgsl: runtimeOptions.wgslLlm,
    }, (variant) => runtime.store.readJson(entry, 'config', { variant, alone: true })),
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
  return { hearth, relay };
}

/**
 * createHearth + host election + service worker: what a page that serves the API for its origin calls once.
 * It does not wait for the service worker: `hearth.fetch` works at once, plain `fetch` once `hearth.serviceWorker` settles.
 */
export function startHearth(options: HearthOptions & { serviceWorker?: boolean } = {}): Hearth {
  const { hearth, relay } = assemble(options);
  hearth.host = serveAsHost(relay);
  hearth.serviceWorker = options.serviceWorker === false
    ? Promise.resolve(null)
    : installServiceWorker().catch((e: unknown) => {
      console.warn('[hearth] service worker not installed; the in-page client still works', e);
      return null;
    });
  return hearth;
}

// How the components reach /inference/v1: the page's Hearth (window.hearth), else plain fetch when a service worker controls the page, else a lazily created in-page client; plus error reading, the model list and the `hearth-request` event.
import type { Hearth } from '../runtime/client';
import { cachedAdapters, clearAdapters, type CachedAdapter } from '../runtime/lora-cache';

declare global {
  interface Window { hearth?: Hearth }
  interface WindowEventMap { 'hearth-models-changed': Event }
  interface DocumentEventMap { 'hearth-request': CustomEvent<HearthRequestDetail> }
}

const BASE_URL: string = import.meta.env?.BASE_URL ?? '/';
/** The API's base path on this site (`/inference/v1` unless the app is built under another base). */
export const API_BASE = `${BASE_URL.replace(/\/$/, '')}/inference/v1`;

let lazyHearth: Promise<Hearth> | undefined;

/** The in-page Hearth that can download and delete models: the page's own, or the one these components created. */
export async function inPageHearth(): Promise<Hearth | undefined> {
  return window.hearth ?? (lazyHearth ? await lazyHearth : undefined);
}

/** `fetch` for an API path (`/chat/completions`): through whichever route this page has. */
export async function apiFetch(path: string, init?: RequestInit): Promise<Response> {
  const url = `${API_BASE}${path}`;
  if (window.hearth) return window.hearth.fetch(url, init);
  if (navigator.serviceWorker?.controller) return fetch(url, init);
  lazyHearth ??= import('../runtime/client').then((m) => m.createHearth());
  return (await lazyHearth).fetch(url, init);
}

/** The spec's ErrorResponse, as an Error whose message is the API's `error.message`. */
export class ApiError extends Error {
  constructor(message: string, readonly status: number, readonly type: string | null, readonly code: string | null, readonly param: string | null) {
    super(message);
    this.name = 'ApiError';
  }

  /** "HTTP 400 · invalid_request_error · param max_tokens" (status 0: the error came inside a stream). */
  get summary(): string {
    return [this.status ? `HTTP ${this.status}` : 'in the stream', this.code ?? this.type, this.param && `param ${this.param}`].filter(Boolean).join(' · ');
  }
}

export async function readApiError(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  try {
    const { error } = JSON.parse(text) as { error?: { message?: string; type?: string; code?: string; param?: string } };
    if (error?.message) return new ApiError(error.message, res.status, error.type ?? null, error.code ?? null, error.param ?? null);
  } catch { /* not an ErrorResponse */ }
  return new ApiError(text.slice(0, 300) || res.statusText || `HTTP ${res.status}`, res.status, null, null, null);
}

/** POST a JSON body; resolves the Response when it is 2xx, else throws the ApiError. */
export async function postJson(path: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  const res = await apiFetch(path, {
    ...init,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(init.headers as Record<string, string> | undefined) },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw await readApiError(res);
  return res;
}

/** The message to show for anything thrown by an API call. */
export const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));
export const isAbort = (e: unknown): boolean => e instanceof DOMException && e.name === 'AbortError';

/** One model as GET /models describes it (the spec's Model plus Hearth's state fields). */
export interface ModelInfo {
  id: string;
  kind: 'embeddings' | 'llm' | 'image';
  description: string;
  aliases: string[];
  backend: string;
  built_in: boolean;
  /** A test model of a real architecture with random weights: its output is noise. */
  random_weights?: boolean;
  size_bytes: number | null;
  /** When some files are known only by rounded listed sizes: the sum of the sizes known (approximate). */
  approx_size_bytes?: number;
  downloaded: boolean;
  loaded: boolean;
  device: string | null;
  loaded_variant?: string;
  /** Image models: LoRA adapters merged into a loaded copy (`repo/file`). */
  loaded_loras?: string[];
  stats?: { requests: number; cancelled: number; generated_tokens: number };
  context_length?: number;
  supports_tools?: boolean;
  variants?: string[];
  dimensions?: number;
  supports_dimensions?: boolean;
  /** Image models: the supported sizes, and the steps used when a request gives none. */
  resolutions?: { width: number; height: number }[];
  default_steps?: number;
}

let modelList: Promise<ModelInfo[]> | undefined;

/** GET /models, shared by every component on the page until something changes (see modelsChanged). */
export function listModels(fresh = false): Promise<ModelInfo[]> {
  if (fresh || !modelList) {
    const p = apiFetch('/models').then(async (res) => {
      if (!res.ok) throw await readApiError(res);
      return ((await res.json()) as { data: ModelInfo[] }).data;
    });
    modelList = p;
    p.catch(() => { if (modelList === p) modelList = undefined; });
  }
  return modelList;
}

/** Tell every component that models were downloaded, deleted, loaded or registered. */
export function modelsChanged(): void {
  modelList = undefined;
  window.dispatchEvent(new Event('hearth-models-changed'));
}

/** What a component just asked the API, for a page that shows the equivalent code. */
export interface HearthRequestDetail {
  /** Full path, e.g. `/inference/v1/chat/completions`. */
  path: string;
  method?: 'GET' | 'POST';
  /** The JSON body, or for multipart requests the form fields (File values for files). */
  body?: unknown;
  /** `multipart/form-data` bodies (image_to_image, control_net). */
  multipart?: boolean;
  /** Extra request headers (e.g. `Accept`). */
  headers?: Record<string, string>;
}

/** Dispatches `hearth-request` (bubbles, crosses shadow roots) from `el`. */
export function emitRequest(el: HTMLElement, detail: Omit<HearthRequestDetail, 'path'> & { path: string }): void {
  el.dispatchEvent(new CustomEvent<HearthRequestDetail>('hearth-request', {
    detail: { method: 'POST', ...detail, path: `${API_BASE}${detail.path}` },
    bubbles: true,
    composed: true,
  }));
}

/** A model's catalog entry as the in-page Hearth's registry holds it. */
export type CatalogEntry = NonNullable<ReturnType<Hearth['registry']['find']>>;
type EnsureOptions = NonNullable<Parameters<Hearth['store']['ensure']>[1]>;
export type { CachedAdapter };

/**
 * The one object through which components do what is not an HTTP call to the API: downloads, deletes and storage
 * of models and LoRA adapters, and the Canny preview. It goes through the page's in-page Hearth (the registry, store
 * and engines it owns); components never reach engines, stores or caches themselves. Where this page has no
 * in-page Hearth (its requests go through the service worker to another tab), each method does nothing.
 */
export const hearthClient = {
  /** Whether this page has an in-page Hearth, so it can download and delete models. */
  async available(): Promise<boolean> {
    return Boolean(await inPageHearth());
  },

  /** A model's catalog entry from the in-page registry. */
  async catalogEntry(id: string): Promise<CatalogEntry | undefined> {
    return (await inPageHearth())?.registry.find(id);
  },

  /** Bytes held by all stored model files. */
  async storedModelBytes(): Promise<number | undefined> {
    const hearth = await inPageHearth();
    return hearth ? await hearth.store.usage().catch(() => undefined) : undefined;
  },

  /** Bytes each downloaded model holds in the Cache API (from the stored responses' content-length). */
  async bytesOnDisk(ids: readonly string[]): Promise<Map<string, number> | undefined> {
    const hearth = await inPageHearth();
    if (!hearth || !('caches' in window)) return undefined;
    const sizes = new Map<string, number>();
    for (const id of ids) {
      const entry = hearth.registry.find(id);
      if (!entry) continue;
      let total = 0;
      for (const f of entry.files) {
        const res = await caches.match(hearth.store.resolveUrl(f)).catch(() => undefined);
        total += Number(res?.headers.get('content-length') ?? 0);
      }
      if (total) sizes.set(id, total);
    }
    return sizes;
  },

  /** The file variant of `entry` the engines will load on this adapter (what to download); undefined without an in-page Hearth. */
  async downloadVariant(entry: CatalogEntry, adapter: { webgpu: boolean; shaderF16: boolean }): Promise<string | undefined> {
    return (await inPageHearth())?.downloadVariant(entry, adapter);
  },

  /** Downloads a model's files (those of `options.variant`); false when there is no in-page Hearth. */
  async download(entry: CatalogEntry, options: EnsureOptions): Promise<boolean> {
    const hearth = await inPageHearth();
    if (!hearth) return false;
    await hearth.store.ensure(entry, options);
    return true;
  },

  async delete(entry: CatalogEntry): Promise<void> {
    await (await inPageHearth())?.store.delete(entry);
  },

  /** Checks, stores and registers a GGUF file from the user's disk; undefined when there is no in-page Hearth. */
  async addLocalModel(file: File): Promise<CatalogEntry | undefined> {
    return (await inPageHearth())?.models.add(file);
  },

  /** The LoRA adapters kept in this origin's Cache API. */
  async cachedLoras(): Promise<CachedAdapter[]> {
    return cachedAdapters();
  },

  async clearLoras(): Promise<void> {
    await clearAdapters();
  },

  /**
   * Canny edges of an image as PNG bytes, through the image engine itself (same kernels and thresholds as a request
   * uses); undefined when the engines live in another tab (this page is not the host).
   */
  async cannyPreview(file: File, low: number, high: number): Promise<ArrayBuffer | undefined> {
    const hearth = await inPageHearth();
    if (!hearth || (hearth.host && !hearth.host.isHost())) return undefined;
    const engine = await hearth.engines.image();
    return engine.cannyPreview({ bytes: await file.arrayBuffer(), type: file.type }, low, high);
  },
};

/**
 * The Cache API store of downloaded LoRA adapters (public ones only: adapters fetched with an access key are never
 * kept). The SDXL worker fills it; the model manager shows and clears it.
 */
export const LORA_CACHE = 'hearth-lora';

export interface CachedAdapter {
  /** The URL it came from (`…/<repo>/resolve/main/<file>`). */
  url: string;
  bytes: number;
}

export async function cachedAdapters(): Promise<CachedAdapter[]> {
  if (typeof caches === 'undefined') return [];
  const cache = await caches.open(LORA_CACHE);
  const out: CachedAdapter[] = [];
  for (const request of await cache.keys()) {
    const response = await cache.match(request);
    const length = Number(response?.headers.get('content-length') ?? NaN);
    out.push({ url: request.url, bytes: Number.isFinite(length) ? length : (await response?.arrayBuffer())?.byteLength ?? 0 });
  }
  return out;
}

export async function clearAdapters(): Promise<void> {
  if (typeof caches !== 'undefined') await caches.delete(LORA_CACHE);
}

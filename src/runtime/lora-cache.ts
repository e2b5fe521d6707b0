/** The page's LoRA adapter cache (src/models/lora-cache.ts), as the components' client (src/components/api.ts) reaches it. */
export { cachedAdapters, clearAdapters, type CachedAdapter } from '../models/lora-cache';

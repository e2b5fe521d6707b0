/**
 * Downloads a LoRA adapter named the way the spec names it: `lora_adapter_name` (a Hugging Face repo, `owner/name`)
 * and `lora_weight_filename` (a file in it), from `<hub>/<repo>/resolve/main/<file>`. The `Huggingface-Access-Key`
 * goes into that one request's Authorization header and nowhere else: it is not cached, logged or kept. Adapters
 * fetched without a key are kept in the Cache API (keyed by URL) so a page reload does not download them again;
 * adapters that needed a key are not. Repos under `hearth/` are Hearth's built-in adapters, served by the app itself.
 */
import { HearthError, invalidRequest } from '../../../api/errors';

export interface LoraSource {
  repo: string;
  filename: string;
  accessKey?: string;
}

export interface LoraFetchOptions {
  /** The Hugging Face endpoint (or a mirror), e.g. https://huggingface.co. */
  hubEndpoint: string;
  /** Where built-in (`hearth/…`) adapters live: the app's `hub/` folder. */
  builtinHub: string;
  fetch?: typeof fetch;
  /** The Cache API store for public adapters; none: no caching. */
  cache?: () => Promise<Cache | undefined>;
  signal?: AbortSignal;
}

/** A LoRA for SDXL is at most a few hundred MB; a full-rank diff is not a LoRA. */
const MAX_ADAPTER_BYTES = 2 * 1024 ** 3;
const REPO = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;
const FILE = /^(?!.*\.\.)[\w.\-/]+\.safetensors$/;

export function validateLoraSource(source: LoraSource): void {
  if (!REPO.test(source.repo) || source.repo.includes('..')) {
    throw invalidRequest(`"lora_adapter_name" must be a Hugging Face repo id like "owner/name" (got "${source.repo}")`, 'lora_adapter_name', 'invalid_value');
  }
  if (!FILE.test(source.filename) || source.filename.startsWith('/')) {
    throw invalidRequest(`"lora_weight_filename" must be a .safetensors file in the repo (got "${source.filename}")`, 'lora_weight_filename', 'invalid_value');
  }
}

export function loraUrl(source: LoraSource, options: Pick<LoraFetchOptions, 'hubEndpoint' | 'builtinHub'>): string {
  const base = source.repo.startsWith('hearth/') ? options.builtinHub : options.hubEndpoint;
  return `${base.replace(/\/+$/, '')}/${source.repo}/resolve/main/${source.filename.split('/').map(encodeURIComponent).join('/')}`;
}

export async function fetchLoraAdapter(source: LoraSource, options: LoraFetchOptions): Promise<Uint8Array> {
  validateLoraSource(source);
  const url = loraUrl(source, options);
  // The key is for the hub only: built-in adapters come from the app and never see it.
  const key = source.repo.startsWith('hearth/') ? undefined : source.accessKey;
  const cache = key ? undefined : await options.cache?.().catch(() => undefined);
  const cached = await cache?.match(url).catch(() => undefined);
  if (cached) return new Uint8Array(await cached.arrayBuffer());

  const doFetch = options.fetch ?? ((...a: Parameters<typeof fetch>) => fetch(...a));
  let response: Response;
  try {
    response = await doFetch(url, {
      headers: key ? { authorization: `Bearer ${key}` } : {},
      signal: options.signal,
      credentials: 'omit',
    });
  } catch (e) {
    throw new HearthError({
      status: 503, type: 'service_unavailable', code: 'lora_download_failed', param: 'lora_adapter_name',
      message: `The LoRA adapter ${source.repo}/${source.filename} could not be downloaded (${(e as Error).message ?? e}); check the network`,
    });
  }
  if (response.status === 401 || response.status === 403) {
    throw invalidRequest(`Hugging Face refused ${source.repo} (HTTP ${response.status}): the repository is private or gated; ${source.accessKey ? 'the Huggingface-Access-Key cannot read it' : 'send a Huggingface-Access-Key header with a token that can read it'}`,
      'lora_adapter_name', 'lora_access_denied');
  }
  if (response.status === 404) {
    throw invalidRequest(`No file "${source.filename}" in the Hugging Face repo ${source.repo} (HTTP 404)`, 'lora_weight_filename', 'lora_not_found');
  }
  if (!response.ok) {
    throw new HearthError({
      status: 503, type: 'service_unavailable', code: 'lora_download_failed', param: 'lora_adapter_name',
      message: `Downloading the LoRA adapter ${source.repo}/${source.filename} failed with HTTP ${response.status}`,
    });
  }
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (declared > MAX_ADAPTER_BYTES) {
    throw invalidRequest(`The LoRA file is ${declared} bytes; adapters over ${MAX_ADAPTER_BYTES} bytes are not LoRAs`, 'lora_weight_filename', 'invalid_lora');
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (cache) {
    await cache.put(url, new Response(bytes.slice(), { headers: { 'content-type': 'application/octet-stream' } })).catch(() => undefined);
  }
  return bytes;
}

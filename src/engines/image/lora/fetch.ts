/**
 * Downloads a LoRA adapter named the way the spec names it: `lora_adapter_name` (a Hugging Face repo, `owner/name`)
 * and `lora_weight_filename` (a file in it), from `<hub>/<repo>/resolve/main/<file>`. The `Huggingface-Access-Key`
 * goes into that one request's Authorization header and nowhere else: it is not cached, logged or kept. Adapters
 * fetched without a key are kept in the Cache API (keyed by URL) so a page reload does not download them again;
 * adapters that needed a key are not. Repos under `hearth/` are Hearth's built-in adapters, served by the app itself.
 * Without a file name, diffusers' `pytorch_lora_weights.safetensors` is tried, then the repo's only .safetensors file
 * (from the Hub's file list), so `{"lora_adapter_name": "jbilcke-hf/sdxl-botw"}` alone finds its `lora.safetensors`.
 */
import { HearthError, hearthError, invalidRequest } from '../../../core/errors';

export interface LoraSource {
  repo: string;
  /** The weights file; unset: the repo's LoRA file (see above). */
  filename?: string;
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

/** diffusers' file name for saved LoRA weights: what a repo most likely holds when the request names no file. */
export const DEFAULT_LORA_FILE = 'pytorch_lora_weights.safetensors';
/** A LoRA for SDXL is at most a few hundred MB; a full-rank diff is not a LoRA. */
const MAX_ADAPTER_BYTES = 2 * 1024 ** 3;
const REPO = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;
const FILE = /^(?!.*\.\.)[\w.\-/]+\.safetensors$/;

export function validateLoraSource(source: LoraSource): void {
  if (!REPO.test(source.repo) || source.repo.includes('..')) {
    throw invalidRequest(`"lora_adapter_name" must be a Hugging Face repo id like "owner/name" (got "${source.repo}")`, 'lora_adapter_name', 'invalid_value');
  }
  if (source.filename !== undefined && (!FILE.test(source.filename) || source.filename.startsWith('/'))) {
    throw invalidRequest(`"lora_weight_filename" must be a .safetensors file in the repo (got "${source.filename}")`, 'lora_weight_filename', 'invalid_value');
  }
}

const isBuiltin = (source: LoraSource) => source.repo.startsWith('hearth/');

export function loraUrl(source: LoraSource & { filename: string }, options: Pick<LoraFetchOptions, 'hubEndpoint' | 'builtinHub'>): string {
  const base = isBuiltin(source) ? options.builtinHub : options.hubEndpoint;
  return `${base.replace(/\/+$/, '')}/${source.repo}/resolve/main/${source.filename.split('/').map(encodeURIComponent).join('/')}`;
}

/** The adapter's bytes, and the file they came from. */
export async function fetchLoraAdapter(source: LoraSource, options: LoraFetchOptions): Promise<{ bytes: Uint8Array; filename: string }> {
  validateLoraSource(source);
  if (source.filename !== undefined) return { bytes: await fetchFile(source, source.filename, options), filename: source.filename };
  try {
    return { bytes: await fetchFile(source, DEFAULT_LORA_FILE, options), filename: DEFAULT_LORA_FILE };
  } catch (e) {
    if (!(e instanceof HearthError && e.code === 'lora_not_found') || isBuiltin(source)) throw e;
  }
  const filename = await onlySafetensorsFile(source, options);
  return { bytes: await fetchFile(source, filename, options), filename };
}

/** The repo's single .safetensors file, from the Hub's model info (`GET <hub>/api/models/<repo>`). */
async function onlySafetensorsFile(source: LoraSource, options: LoraFetchOptions): Promise<string> {
  const response = await request(source, `${options.hubEndpoint.replace(/\/+$/, '')}/api/models/${source.repo}`, options);
  const info = (await response.json().catch(() => ({}))) as { siblings?: { rfilename?: string }[] };
  const files = (info.siblings ?? []).map((f) => f.rfilename ?? '').filter((f) => FILE.test(f));
  if (files.length === 1) return files[0];
  throw invalidRequest(files.length
    ? `The Hugging Face repo ${source.repo} has several .safetensors files (${files.slice(0, 5).join(', ')}${files.length > 5 ? ', …' : ''}); name one in "lora_weight_filename"`
    : `The Hugging Face repo ${source.repo} has no .safetensors file (and no ${DEFAULT_LORA_FILE})`,
  'lora_weight_filename', files.length ? 'lora_file_ambiguous' : 'lora_not_found');
}

async function fetchFile(source: LoraSource, filename: string, options: LoraFetchOptions): Promise<Uint8Array> {
  const url = loraUrl({ ...source, filename }, options);
  const cache = keyFor(source) ? undefined : await options.cache?.().catch(() => undefined);
  const cached = await cache?.match(url).catch(() => undefined);
  if (cached) return new Uint8Array(await cached.arrayBuffer());
  const response = await request(source, url, options, filename);
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (declared > MAX_ADAPTER_BYTES) {
    throw invalidRequest(`The LoRA file is ${declared} bytes; adapters over ${MAX_ADAPTER_BYTES} bytes are not LoRAs`, 'lora_weight_filename', 'invalid_lora');
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (cache) {
    const headers = { 'content-type': 'application/octet-stream', 'content-length': String(bytes.byteLength) };
    await cache.put(url, new Response(bytes.slice(), { headers })).catch(() => undefined);
  }
  return bytes;
}

/** The key is for the hub only: built-in adapters come from the app and never see it. */
const keyFor = (source: LoraSource) => (isBuiltin(source) ? undefined : source.accessKey);

/** One GET to the hub with the access key, its failures mapped to clear errors. */
async function request(source: LoraSource, url: string, options: LoraFetchOptions, filename?: string): Promise<Response> {
  const key = keyFor(source);
  const what = filename ? `${source.repo}/${filename}` : source.repo;
  const doFetch = options.fetch ?? ((...a: Parameters<typeof fetch>) => fetch(...a));
  let response: Response;
  try {
    response = await doFetch(url, { headers: key ? { authorization: `Bearer ${key}` } : {}, signal: options.signal, credentials: 'omit' });
  } catch (e) {
    throw hearthError('lora_download_failed',
      `The LoRA adapter ${what} could not be downloaded (${(e as Error).message ?? e}); check the network`, { param: 'lora_adapter_name' });
  }
  if (response.status === 401 || response.status === 403) {
    throw invalidRequest(`Hugging Face refused ${source.repo} (HTTP ${response.status}): the repository is private or gated; ${key ? 'the Huggingface-Access-Key cannot read it' : 'send a Huggingface-Access-Key header with a token that can read it'}`,
      'lora_adapter_name', 'lora_access_denied');
  }
  if (response.status === 404) {
    throw filename
      ? invalidRequest(`No file "${filename}" in the Hugging Face repo ${source.repo} (HTTP 404)`, 'lora_weight_filename', 'lora_not_found')
      : invalidRequest(`No Hugging Face repo ${source.repo} (HTTP 404)`, 'lora_adapter_name', 'lora_not_found');
  }
  if (!response.ok) {
    throw hearthError('lora_download_failed',
      `Downloading the LoRA adapter ${what} failed with HTTP ${response.status}`, { param: 'lora_adapter_name' });
  }
  return response;
}

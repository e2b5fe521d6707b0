/**
 * The artifact store: model files downloaded once with byte progress, checked (size against the catalog and the
 * response's Content-Length, sha256), then kept in the Cache API with their metadata in IndexedDB (idb-keyval). A file
 * is recorded only after it is complete and verified, so nothing half-written is ever read back. The sha256 is
 * computed once, at download: the record keeps the hash and size the file was verified against and the cached
 * response carries the same hash, so a load compares sizes and trusts that record; a record missing, disagreeing with
 * the stored size or with the catalog's sha256, or a response put there by something else, has the file hashed again
 * (or fetched again). A file missing or changed in storage (site data cleared, evicted, tampered with) is fetched
 * again, or answered with a 503 naming it. Running out of quota answers 507 with the bytes needed and available.
 * Works in pages and workers alike.
 */
import { createStore, del, get, keys, set, type UseStore } from 'idb-keyval';
import { HearthError, insufficientStorage } from '../core/errors';
import { concatBytes } from '../util/bytes';
import { browserLimits, checkFits, IN_MEMORY_EXTERNAL_DATA_BYTES, tooLarge, type DeviceLimits } from './fit';
import type { CatalogEntry, ExternalDataFile, ModelFile } from './types';

export interface DownloadProgress {
  modelId: string;
  /** The file being fetched (its role) and totals across the model's files. */
  file: string;
  loadedBytes: number;
  totalBytes: number | null;
  /** True once every file is stored. */
  done: boolean;
}

export type ProgressListener = (p: DownloadProgress) => void;

export interface EnsureOptions {
  /** Only this variant's files (plus the shared ones); all files when omitted. */
  variant?: string;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

export interface ReadOptions extends EnsureOptions {
  /**
   * Fetch only the file read when it is missing, not the rest of the model (by default a read downloads the whole
   * model, or variant, first): for a small file read to decide whether the big ones are needed at all.
   */
  alone?: boolean;
}

/** The files a variant needs: the shared ones plus its own (every file when no variant is named). */
/** Whether the entry has a safety checker (an optional file, fetched the first time `safety_check` asks for it). */
export const hasSafetyChecker = (entry: CatalogEntry): boolean => entry.files.some((f) => f.role === 'safety_checker');

export function filesFor(entry: CatalogEntry, variant?: string): ModelFile[] {
  return entry.files.filter((f) => !f.optional && (variant === undefined || f.variant === undefined || f.variant === variant));
}

/** The external data files of the graph with `role` (within `variant`), as the catalog declares them. */
export function externalDataFiles(entry: CatalogEntry, role: string, variant?: string): ModelFile[] {
  return filesFor(entry, variant).filter((f) => f.externalDataOf === role);
}

/** The name a graph refers to its external data file by: the catalog's `dataPath`, else the URL's last segment. */
export const dataPathOf = (file: ModelFile): string => file.dataPath ?? new URL(file.url, 'https://x/').pathname.split('/').pop()!;

/** A stored file's record. */
export interface StoredFile {
  url: string;
  size: number;
  /** The sha256 of the bytes as they were stored, computed then ('' when not computed: a local file over 1 GiB). */
  sha256: string;
  storedAt: number;
  /**
   * The catalog's sha256 and the size the bytes were verified against when they were stored (or hashed again on a
   * load). Loads trust it while it agrees with the catalog, the stored size and the cached response's hash header.
   * Absent: not verified against a catalog sha256 (the catalog gave none, or a record from before verify-once).
   */
  verified?: { sha256: string; size: number };
}

/** File records by URL (IndexedDB in browsers). */
export interface MetaStore {
  get(url: string): Promise<StoredFile | undefined>;
  set(url: string, file: StoredFile): Promise<void>;
  del(url: string): Promise<void>;
  keys(): Promise<string[]>;
}

/** Where the store keeps things; browsers get Cache Storage, IndexedDB and `navigator.storage`, unit tests fakes. */
export interface StoreBackends {
  openCache(): Promise<Cache>;
  meta: MetaStore;
  estimate(): Promise<{ quota?: number; usage?: number } | undefined>;
  /** The sha256 (lower-case hex) of a file's bytes; WebCrypto's by default (tests count the calls). */
  sha256?(bytes: Uint8Array): Promise<string>;
}

export const CACHE_NAME = 'hearth-models-v1';

/** The response header a stored file's sha256 travels in, binding the cached bytes to their record. */
export const SHA256_HEADER = 'x-hearth-sha256';

/** A file's bytes as the cache keeps them: its length, and its sha256 when computed. */
const storedResponse = (body: Uint8Array | Blob, size: number, sha256: string) => new Response(body as BlobPart, {
  headers: { 'content-length': String(size), ...(sha256 && { [SHA256_HEADER]: sha256 }) },
});

/**
 * File records in IndexedDB. Site data cleared while running closes the connection under us: an operation that
 * fails opens the database afresh and tries once more, then fails with a 503 (never waits forever).
 */
function indexedDbMeta(): MetaStore {
  let store: UseStore = createStore('hearth-models', 'files');
  const run = async <T>(op: (s: UseStore) => Promise<T>): Promise<T> => {
    try {
      return await op(store);
    } catch (first) {
      if (isQuotaError(first)) throw first;
      store = createStore('hearth-models', 'files');
      try {
        return await op(store);
      } catch (e) {
        if (isQuotaError(e)) throw e;
        throw storeError(`The model store's IndexedDB is unavailable: ${(e as Error).message}`, 'storage_unavailable', e);
      }
    }
  };
  return {
    get: (url) => run((s) => get<StoredFile>(url, s)),
    set: (url, file) => run((s) => set(url, file, s)),
    del: (url) => run((s) => del(url, s)),
    keys: () => run(async (s) => (await keys(s)).map(String)),
  };
}

const browserBackends = (): StoreBackends => ({
  openCache: () => caches.open(CACHE_NAME),
  meta: indexedDbMeta(),
  estimate: async () => globalThis.navigator?.storage?.estimate?.().catch(() => undefined),
});

export const storeError = (message: string, code: string, cause?: unknown) =>
  new HearthError({ type: 'service_unavailable', message, code, cause });

export class ArtifactStore {
  private readonly meta: MetaStore;
  private readonly backends: StoreBackends;
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly hash: (bytes: Uint8Array) => Promise<string>;

  private limits?: Promise<DeviceLimits>;

  constructor(private readonly baseUrl: string, private readonly fetchImpl: typeof fetch = (...a) => fetch(...a),
    private readonly deviceLimits: () => Promise<DeviceLimits> = browserLimits, backends?: Partial<StoreBackends>) {
    const defaults = backends?.openCache && backends.meta && backends.estimate ? undefined : browserBackends();
    this.backends = { ...defaults!, ...backends };
    this.meta = this.backends.meta;
    this.hash = this.backends.sha256 ?? sha256Hex;
  }

  private async cache(): Promise<Cache> {
    try {
      return await this.backends.openCache();
    } catch (e) {
      throw storeError(`The model store's Cache Storage is unavailable: ${(e as Error).message}`, 'storage_unavailable', e);
    }
  }

  /** Throws a 503 `model_too_large` (before any download) when the entry's files cannot load in this browser. */
  async checkFits(entry: CatalogEntry, files: readonly ModelFile[] = filesFor(entry)): Promise<void> {
    checkFits(entry, files, await (this.limits ??= this.deviceLimits()));
  }

  resolveUrl(file: ModelFile): string {
    return new URL(file.url, this.baseUrl).href;
  }

  /** Whether the entry's shared files and (when it has variants) every file of at least one variant are stored. */
  async isDownloaded(entry: CatalogEntry): Promise<boolean> {
    const variants = [...new Set(entry.files.map((f) => f.variant).filter((v): v is string => v !== undefined))];
    if (variants.length === 0) return this.hasAll(filesFor(entry));
    for (const v of variants) if (await this.hasAll(filesFor(entry, v))) return true;
    return false;
  }

  /** Downloads whatever is missing of the entry (of one variant's files plus the shared ones, when `variant` is given);
   * concurrent calls for the same files share one download. */
  ensure(entry: CatalogEntry, options: EnsureOptions = {}): Promise<void> {
    const key = `${entry.id}\u0000${options.variant ?? ''}`;
    let job = this.inflight.get(key);
    if (!job) {
      job = this.download(entry, filesFor(entry, options.variant), options.onProgress, options.signal)
        .finally(() => this.inflight.delete(key));
      this.inflight.set(key, job);
    }
    return job;
  }

  /** Downloads one file if it is missing, not the rest of the model (shared by concurrent callers like `ensure`). */
  private ensureOne(entry: CatalogEntry, file: ModelFile, options: EnsureOptions): Promise<void> {
    const key = `${entry.id}\u0000one:${this.resolveUrl(file)}`;
    let job = this.inflight.get(key);
    if (!job) {
      job = this.download(entry, [file], options.onProgress, options.signal).finally(() => this.inflight.delete(key));
      this.inflight.set(key, job);
    }
    return job;
  }

  private async hasAll(files: ModelFile[]): Promise<boolean> {
    for (const file of files) if (!(await this.meta.get(this.resolveUrl(file)))) return false;
    return true;
  }

  /** The bytes of one file (by role, within `variant` when given), downloading the model first if needed. */
  async read(entry: CatalogEntry, role: string, options: ReadOptions = {}): Promise<Uint8Array> {
    const blob = await this.readBlob(entry, role, options);
    const limit = (await (this.limits ??= this.deviceLimits())).maxArrayBufferBytes;
    if (blob.size > limit) throw tooLarge(`Model ${entry.id} file "${role}" is ${blob.size} bytes, over the ${limit} one ArrayBuffer can hold`);
    return new Uint8Array(await blob.arrayBuffer());
  }

  /** A stored file as a Blob (disk-backed: nothing is read into memory), downloading the model first if needed. */
  async readBlob(entry: CatalogEntry, role: string, options: ReadOptions = {}): Promise<Blob> {
    const file = filesFor(entry, options.variant).find((f) => f.role === role) ?? entry.files.find((f) => f.optional && f.role === role);
    if (!file) throw storeError(`Model ${entry.id} has no "${role}" file${options.variant ? ` in variant ${options.variant}` : ''}`, 'bad_catalog_entry');
    const url = this.resolveUrl(file);
    let problem = 'missing';
    for (let attempt = 0; attempt < 2; attempt++) {
      if (file.optional || options.alone) await this.ensureOne(entry, file, options);
      else await this.ensure(entry, options);
      const cache = await this.cache();
      const cached = await cache.match(url).catch(() => undefined);
      const blob = await cached?.blob().catch(() => undefined);
      const stored = await this.meta.get(url);
      if (blob && stored) {
        const found = await this.problemWith(file, url, blob, stored, cached!.headers.get(SHA256_HEADER), cache);
        if (found === null) return blob;
        problem = found;
      } else {
        problem = blob ? 'not recorded' : stored ? 'missing (site data cleared or evicted?)' : 'missing';
      }
      // Evicted, cut short, changed or without its record: forget it and fetch again.
      if (blob) await cache.delete(url).catch(() => false);
      await this.meta.del(url);
    }
    throw storeError(`Model ${entry.id} file "${role}" (${url}) is ${problem} in storage even after fetching it again`, 'storage_evicted');
  }

  /**
   * Why a stored file cannot be used as it is (null: it can). Sizes are compared on every load: the stored size
   * against the catalog's and the record's. A file the catalog pins by sha256 was hashed once, when it was stored;
   * its load trusts that while the record says it was verified against the catalog's sha256 at the stored size and the
   * cached response carries that hash (one put there by anything else does not). Otherwise (the catalog's sha256
   * changed, the record is missing it, disagrees or is from before verify-once) the bytes are hashed again: a match
   * renews the record, a mismatch has the file fetched again.
   */
  private async problemWith(file: ModelFile, url: string, blob: Blob, stored: StoredFile, header: string | null,
    cache: Cache): Promise<string | null> {
    const expected = file.size ?? stored.size;
    if (!file.sha256) return blob.size === expected && stored.size === blob.size ? null : `${blob.size} bytes where ${expected} were stored`;
    if (file.size !== undefined && blob.size !== file.size) return `${blob.size} bytes where ${file.size} were stored`;
    const { verified } = stored;
    if (verified?.sha256 === file.sha256 && verified.size === blob.size && stored.size === blob.size && header === file.sha256) return null;
    if (blob.size > (await (this.limits ??= this.deviceLimits())).maxArrayBufferBytes) {
      return `not verified against the catalog's sha256 (${blob.size} bytes, too large to hash again in memory)`;
    }
    const sha256 = await this.hash(new Uint8Array(await blob.arrayBuffer()));
    if (sha256 !== file.sha256) return stored.size === blob.size ? 'sha256 changed' : `${blob.size} bytes where ${stored.size} were stored`;
    // The bytes are the catalog's: renew the record and the response's hash, so the next load trusts them again.
    if (header !== sha256) await cache.put(url, storedResponse(blob, blob.size, sha256)).catch(() => undefined);
    await this.meta.set(url, { ...stored, size: blob.size, sha256, verified: { sha256, size: blob.size } });
    return null;
  }

  /**
   * The external data files of the graph with `role`, named as the graph refers to them: bytes up to
   * IN_MEMORY_EXTERNAL_DATA_BYTES, larger ones as a blob: URL of the stored file, which onnxruntime-web streams into
   * its heap without one JavaScript ArrayBuffer of the whole file (the URL lives as long as this worker).
   */
  async readExternalData(entry: CatalogEntry, role: string,
    options: EnsureOptions & { inMemoryBytes?: number } = {}): Promise<ExternalDataFile[]> {
    const inMemory = options.inMemoryBytes ?? IN_MEMORY_EXTERNAL_DATA_BYTES;
    const out: ExternalDataFile[] = [];
    for (const file of externalDataFiles(entry, role, options.variant)) {
      const blob = await this.readBlob(entry, file.role, options);
      out.push({
        path: dataPathOf(file),
        data: blob.size > inMemory ? URL.createObjectURL(blob) : new Uint8Array(await blob.arrayBuffer()),
      });
    }
    return out;
  }

  async readJson(entry: CatalogEntry, role: string, options: ReadOptions = {}): Promise<object> {
    const bytes = await this.read(entry, role, options);
    try {
      return JSON.parse(new TextDecoder().decode(bytes)) as object;
    } catch (e) {
      throw storeError(`Model ${entry.id} file "${role}" is not valid JSON`, 'corrupt_file', e);
    }
  }

  /**
   * Keeps a file the user opened (a local GGUF) as `file`'s bytes, so engine workers read it like any stored file.
   * Recorded only once the whole file is in the cache (sha256 computed when it fits in memory).
   */
  async keepLocal(file: ModelFile, blob: Blob): Promise<void> {
    const url = this.resolveUrl(file);
    await this.checkQuota(url, blob.size);
    const sha256 = blob.size <= IN_MEMORY_EXTERNAL_DATA_BYTES ? await this.hash(new Uint8Array(await blob.arrayBuffer())) : '';
    const cache = await this.cache();
    try {
      await cache.put(url, storedResponse(blob, blob.size, sha256));
      await this.meta.set(url, { url, size: blob.size, sha256, storedAt: Date.now() });
    } catch (e) {
      await cache.delete(url).catch(() => false); // never leave bytes without their record
      if (!isQuotaError(e)) throw e instanceof HearthError ? e : storeError(`Could not store ${url}: ${(e as Error).message}`, 'storage_failed', e);
      throw await this.quotaError(url, blob.size, `storing ${url} failed (${(e as Error).message})`, e);
    }
  }

  async delete(entry: CatalogEntry): Promise<void> {
    const cache = await this.cache();
    for (const file of entry.files) {
      const url = this.resolveUrl(file);
      await this.meta.del(url);
      await cache.delete(url);
    }
  }

  /** Bytes held by all stored files. */
  async usage(): Promise<number> {
    let total = 0;
    for (const key of await this.meta.keys()) total += (await this.meta.get(key))?.size ?? 0;
    return total;
  }

  private async download(entry: CatalogEntry, files: ModelFile[], onProgress?: ProgressListener, signal?: AbortSignal): Promise<void> {
    if (!files.every((f) => f.optional)) await this.checkFits(entry, files);
    const missing: ModelFile[] = [];
    for (const file of files) if (!(await this.meta.get(this.resolveUrl(file)))) missing.push(file);
    if (missing.length === 0) return;
    const known = missing.every((f) => f.size !== undefined);
    const totalBytes = known ? missing.reduce((s, f) => s + (f.size ?? 0), 0) : null;
    // Refused before any byte is fetched when even the sizes known (exact or listed) cannot fit in the quota.
    await this.checkQuota(entry.id, missing.reduce((s, f) => s + (f.size ?? f.listedSize ?? 0), 0));
    let doneBytes = 0;
    let cache = await this.cache();
    for (const [i, file] of missing.entries()) {
      const url = this.resolveUrl(file);
      const bytes = await this.fetchFile(entry.id, file, url, signal, (n) =>
        onProgress?.({ modelId: entry.id, file: file.role, loadedBytes: doneBytes + n, totalBytes, done: false }));
      // Hashed once, here: the record says what it was verified against, and loads trust it (see problemWith).
      const sha256 = await this.hash(bytes);
      if (file.sha256 && file.sha256 !== sha256) {
        throw storeError(`Model file ${url} is corrupt: sha256 ${sha256} does not match the catalog's ${file.sha256}`, 'integrity_check_failed');
      }
      const put = (c: Cache) => c.put(url, storedResponse(bytes, bytes.length, sha256));
      try {
        await put(cache).catch(async (e: unknown) => {
          if (isQuotaError(e)) throw e;
          cache = await this.cache(); // the cache was deleted under us (site data cleared): write into a fresh one
          await put(cache);
        });
        await this.meta.set(url, { url, size: bytes.length, sha256, storedAt: Date.now(),
          ...(file.sha256 && { verified: { sha256: file.sha256, size: bytes.length } }) });
      } catch (e) {
        await cache.delete(url).catch(() => false); // never leave bytes without their record
        if (!isQuotaError(e)) throw e instanceof HearthError ? e : storeError(`Could not store ${url}: ${(e as Error).message}`, 'storage_failed', e);
        const rest = missing.slice(i + 1).reduce((s, f) => s + (f.size ?? f.listedSize ?? 0), 0);
        throw await this.quotaError(entry.id, bytes.length + rest, `storing ${url} failed (${(e as Error).message})`, e);
      }
      doneBytes += bytes.length;
    }
    onProgress?.({ modelId: entry.id, file: '', loadedBytes: doneBytes, totalBytes: totalBytes ?? doneBytes, done: true });
  }

  /** A 507 when `needed` bytes are over what the quota has left (checked before downloading). */
  private async checkQuota(modelId: string, needed: number): Promise<void> {
    if (needed <= 0) return;
    const estimate = await this.backends.estimate().catch(() => undefined);
    if (!estimate?.quota) return;
    const available = estimate.quota - (estimate.usage ?? 0);
    if (available < needed) throw await this.quotaError(modelId, needed, 'refused before downloading');
  }

  private async quotaError(modelId: string, needed: number, what: string, cause?: unknown): Promise<HearthError> {
    const estimate = await this.backends.estimate().catch(() => undefined);
    const available = estimate?.quota === undefined ? null : Math.max(0, estimate.quota - (estimate.usage ?? 0));
    // The estimate can be wrong (browsers round it, and some limits, such as a test's quota override, are not in it).
    const shown = available === null ? 'an unknown number of bytes available'
      : `${available} available (quota ${estimate!.quota}, used ${estimate!.usage ?? 0})${available >= needed ? ' by the browser\'s estimate' : ''}`;
    return insufficientStorage(`Not enough storage for ${modelId}: needs ${needed} bytes, ${shown}; ${what}. `
      + 'Free space (delete a model in the model manager, or other site data) or grant persistent storage.', 'storage_quota_exceeded', cause);
  }

  private async fetchFile(modelId: string, file: ModelFile, url: string, signal: AbortSignal | undefined,
    onBytes: (n: number) => void): Promise<Uint8Array> {
    let response: Response;
    try {
      response = await this.fetchImpl(url, { signal, credentials: 'omit' });
    } catch (e) {
      throw storeError(`Could not download ${url} for ${modelId}: network error (${(e as Error).message})`, 'download_failed', e);
    }
    if (!response.ok || !response.body) {
      throw storeError(`Could not download ${url} for ${modelId}: HTTP ${response.status}`, 'download_failed');
    }
    const declared = declaredLength(response);
    const chunks: Uint8Array[] = [];
    let received = 0;
    const reader = response.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        received += value.length;
        onBytes(received);
      }
    } catch (e) {
      throw storeError(`Download of ${url} broke off after ${received} bytes: ${(e as Error).message}`, 'download_failed', e);
    }
    if (file.size !== undefined && received !== file.size) {
      throw storeError(`Model file ${url} is incomplete or corrupt: got ${received} bytes, expected ${file.size}`, 'integrity_check_failed');
    }
    if (declared && (declared.exact ? received !== declared.bytes : received < declared.bytes)) {
      throw storeError(`Download of ${url} for ${modelId} is incomplete: got ${received} bytes, the server's Content-Length is ${declared.bytes}; nothing was stored`, 'download_incomplete');
    }
    return concatBytes(chunks, received);
  }
}

/**
 * The body length a response declares. The body fetch hands over is decoded, so Content-Length is its length only
 * without a Content-Encoding; cross-origin responses hide that header unless exposed, so there a body shorter than
 * declared is still caught (text compresses to less than it decodes to; servers do not compress model weights).
 */
function declaredLength(response: Response): { bytes: number; exact: boolean } | undefined {
  const header = response.headers.get('content-length');
  const bytes = header === null || header.trim() === '' ? NaN : Number(header);
  if (!Number.isSafeInteger(bytes) || bytes < 0) return undefined;
  const encoding = response.headers.get('content-encoding');
  if (encoding && encoding.toLowerCase() !== 'identity') return undefined;
  return { bytes, exact: response.type !== 'cors' && response.type !== 'opaque' };
}

function isQuotaError(e: unknown): boolean {
  return e instanceof DOMException && (e.name === 'QuotaExceededError' || e.code === 22);
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as BufferSource);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

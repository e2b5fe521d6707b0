/**
 * The artifact store: model files downloaded once with byte progress, checked (size, sha256), then kept in the
 * Cache API with their metadata in IndexedDB (idb-keyval). A file is recorded only after it is complete and
 * verified, so nothing half-written is ever read back. Works in pages and workers alike.
 */
import { createStore, del, get, keys, set, type UseStore } from 'idb-keyval';
import { HearthError } from '../core/errors';
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

interface StoredFile {
  url: string;
  size: number;
  sha256: string;
  storedAt: number;
}

const CACHE_NAME = 'hearth-models-v1';

export const storeError = (message: string, code: string, cause?: unknown) =>
  new HearthError({ type: 'service_unavailable', message, code, cause });

export class ArtifactStore {
  private readonly meta: UseStore;
  private readonly inflight = new Map<string, Promise<void>>();

  private limits?: Promise<DeviceLimits>;

  constructor(private readonly baseUrl: string, private readonly fetchImpl: typeof fetch = (...a) => fetch(...a),
    private readonly deviceLimits: () => Promise<DeviceLimits> = browserLimits) {
    this.meta = createStore('hearth-models', 'files');
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

  /** Downloads one optional file if it is missing (shared by concurrent callers like `ensure`). */
  private ensureOptional(entry: CatalogEntry, file: ModelFile, options: EnsureOptions): Promise<void> {
    const key = `${entry.id}\u0000optional:${file.role}`;
    let job = this.inflight.get(key);
    if (!job) {
      job = this.download(entry, [file], options.onProgress, options.signal).finally(() => this.inflight.delete(key));
      this.inflight.set(key, job);
    }
    return job;
  }

  private async hasAll(files: ModelFile[]): Promise<boolean> {
    for (const file of files) if (!(await get<StoredFile>(this.resolveUrl(file), this.meta))) return false;
    return true;
  }

  /** The bytes of one file (by role, within `variant` when given), downloading the model first if needed. */
  async read(entry: CatalogEntry, role: string, options: EnsureOptions = {}): Promise<Uint8Array> {
    const blob = await this.readBlob(entry, role, options);
    const limit = (await (this.limits ??= this.deviceLimits())).maxArrayBufferBytes;
    if (blob.size > limit) throw tooLarge(`Model ${entry.id} file "${role}" is ${blob.size} bytes, over the ${limit} one ArrayBuffer can hold`);
    return new Uint8Array(await blob.arrayBuffer());
  }

  /** A stored file as a Blob (disk-backed: nothing is read into memory), downloading the model first if needed. */
  async readBlob(entry: CatalogEntry, role: string, options: EnsureOptions = {}): Promise<Blob> {
    const file = filesFor(entry, options.variant).find((f) => f.role === role) ?? entry.files.find((f) => f.optional && f.role === role);
    if (!file) throw storeError(`Model ${entry.id} has no "${role}" file${options.variant ? ` in variant ${options.variant}` : ''}`, 'bad_catalog_entry');
    const url = this.resolveUrl(file);
    for (let attempt = 0; attempt < 2; attempt++) {
      if (file.optional) await this.ensureOptional(entry, file, options);
      else await this.ensure(entry, options);
      const cache = await caches.open(CACHE_NAME);
      const cached = await cache.match(url);
      if (cached) {
        const blob = await cached.blob();
        // Checked on every read: the size against what was stored (and the catalog), the sha256 where the catalog
        // knows it and the file fits in memory. A file cut short or changed since is deleted and fetched again.
        const stored = await get<StoredFile>(url, this.meta);
        const sizeOk = blob.size === (file.size ?? stored?.size ?? blob.size) && (!stored || stored.size === blob.size);
        const hashable = file.sha256 && blob.size <= IN_MEMORY_EXTERNAL_DATA_BYTES;
        if (sizeOk && (!hashable || (await sha256Hex(new Uint8Array(await blob.arrayBuffer()))) === file.sha256)) return blob;
        await cache.delete(url);
      }
      await del(url, this.meta); // evicted, cut short or changed: forget it and fetch again
    }
    throw storeError(`Model file ${url} is missing or corrupt in storage even after fetching it again`, 'storage_evicted');
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

  async readJson(entry: CatalogEntry, role: string, options: EnsureOptions = {}): Promise<object> {
    const bytes = await this.read(entry, role, options);
    try {
      return JSON.parse(new TextDecoder().decode(bytes)) as object;
    } catch (e) {
      throw storeError(`Model ${entry.id} file "${role}" is not valid JSON`, 'corrupt_file', e);
    }
  }

  async delete(entry: CatalogEntry): Promise<void> {
    const cache = await caches.open(CACHE_NAME);
    for (const file of entry.files) {
      const url = this.resolveUrl(file);
      await del(url, this.meta);
      await cache.delete(url);
    }
  }

  /** Bytes held by all stored files. */
  async usage(): Promise<number> {
    let total = 0;
    for (const key of await keys(this.meta)) total += (await get<StoredFile>(key, this.meta))?.size ?? 0;
    return total;
  }

  private async download(entry: CatalogEntry, files: ModelFile[], onProgress?: ProgressListener, signal?: AbortSignal): Promise<void> {
    if (!files.every((f) => f.optional)) await this.checkFits(entry, files);
    const missing: ModelFile[] = [];
    for (const file of files) if (!(await get<StoredFile>(this.resolveUrl(file), this.meta))) missing.push(file);
    if (missing.length === 0) return;
    const known = missing.every((f) => f.size !== undefined);
    const totalBytes = known ? missing.reduce((s, f) => s + (f.size ?? 0), 0) : null;
    if (totalBytes !== null) await checkQuota(entry.id, totalBytes);
    let doneBytes = 0;
    const cache = await caches.open(CACHE_NAME);
    for (const file of missing) {
      const url = this.resolveUrl(file);
      const bytes = await this.fetchFile(entry.id, file, url, signal, (n) =>
        onProgress?.({ modelId: entry.id, file: file.role, loadedBytes: doneBytes + n, totalBytes, done: false }));
      const sha256 = await sha256Hex(bytes);
      if (file.sha256 && file.sha256 !== sha256) {
        throw storeError(`Model file ${url} is corrupt: sha256 ${sha256} does not match the catalog's ${file.sha256}`, 'integrity_check_failed');
      }
      try {
        await cache.put(url, new Response(bytes as BlobPart, { headers: { 'content-length': String(bytes.length) } }));
      } catch (e) {
        throw isQuotaError(e)
          ? storeError(`Not enough storage to keep ${entry.id} (${url}); free space or grant persistent storage`, 'storage_quota_exceeded', e)
          : storeError(`Could not store ${url}: ${(e as Error).message}`, 'storage_failed', e);
      }
      await set(url, { url, size: bytes.length, sha256, storedAt: Date.now() } satisfies StoredFile, this.meta);
      doneBytes += bytes.length;
    }
    onProgress?.({ modelId: entry.id, file: '', loadedBytes: doneBytes, totalBytes: totalBytes ?? doneBytes, done: true });
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
    const expected = file.size ?? (Number(response.headers.get('content-length')) || undefined);
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
      throw storeError(`Model file ${url} is incomplete or corrupt: got ${received} bytes, expected ${expected}`, 'integrity_check_failed');
    }
    return concatBytes(chunks, received);
  }
}

async function checkQuota(modelId: string, needed: number): Promise<void> {
  const estimate = await globalThis.navigator?.storage?.estimate?.().catch(() => undefined);
  if (!estimate?.quota) return;
  const free = estimate.quota - (estimate.usage ?? 0);
  if (free < needed) {
    throw storeError(`Not enough storage for ${modelId}: needs ${needed} bytes, ${free} available`, 'storage_quota_exceeded');
  }
}

function isQuotaError(e: unknown): boolean {
  return e instanceof DOMException && (e.name === 'QuotaExceededError' || e.code === 22);
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as BufferSource);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

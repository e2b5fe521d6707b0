// The artifact store's bookkeeping in Node, over in-memory stand-ins for Cache Storage, IndexedDB and the storage
// quota (the same store runs in Chromium through the service worker in tests/browser/models.test.ts and
// hardening.test.ts): 507 with bytes needed and available before downloading and when a write fails, a body shorter
// or longer than its Content-Length stores nothing, sizes and sha256 re-checked on read with a refetch, storage
// cleared between reads, and nothing half-written ever used.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HearthError } from '../../src/api/errors';
import { BROWSER_LIMITS } from '../../src/models/fit';
import { ArtifactStore, type MetaStore, type StoredFile, type StoreBackends } from '../../src/models/store';
import type { CatalogEntry } from '../../src/models/types';

const BASE = 'https://hearth.test/models/';
const bytesOf = (text: string) => new TextEncoder().encode(text);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const FILES: Record<string, Uint8Array> = {
  'm/model.onnx': bytesOf('graph bytes '.repeat(100)),
  'm/tokenizer.json': bytesOf('{"model": {"type": "WordPiece"}}'),
};

/**
 * Cache Storage as far as the store uses it, with writes that can be made to fail like a full quota. A response's
 * headers stay with the bytes it was put with: bytes set into `entries` directly stand for a response put there by
 * something else (no headers), as Cache Storage replaces a whole response.
 */
class MemoryCache {
  readonly entries = new Map<string, Uint8Array>();
  private readonly headers = new WeakMap<Uint8Array, Headers>();
  quotaBytes = Infinity;
  async match(url: string) {
    const b = this.entries.get(String(url));
    return b ? new Response(b.slice() as BlobPart, { headers: this.headers.get(b) }) : undefined;
  }
  async put(url: string, response: Response) {
    const b = new Uint8Array(await response.arrayBuffer());
    if (this.used() + b.length > this.quotaBytes) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
    this.headers.set(b, new Headers(response.headers));
    this.entries.set(String(url), b);
  }
  async delete(url: string) { return this.entries.delete(String(url)); }
  used() { let n = 0; for (const b of this.entries.values()) n += b.length; return n; }
}

function memoryMeta(): MetaStore & { map: Map<string, StoredFile> } {
  const map = new Map<string, StoredFile>();
  return {
    map,
    get: async (url) => map.get(url),
    set: async (url, file) => { map.set(url, file); },
    del: async (url) => { map.delete(url); },
    keys: async () => [...map.keys()],
  };
}

interface Served { body?: Uint8Array; contentLength?: string | null; encoding?: string; status?: number }

function setup(serve: (path: string) => Served = () => ({})) {
  const cache = new MemoryCache();
  const meta = memoryMeta();
  const fetched: string[] = [];
  /** The length of every byte array the store hashed. */
  const hashed: number[] = [];
  const fetchImpl = (async (input: RequestInfo | URL) => {
    const path = String(input).slice(BASE.length);
    fetched.push(path);
    const served = serve(path);
    const body = served.body ?? FILES[path];
    if (!body) return new Response('not found', { status: 404 });
    const headers = new Headers();
    const length = served.contentLength === undefined ? String(body.length) : served.contentLength;
    if (length !== null) headers.set('content-length', length);
    if (served.encoding) headers.set('content-encoding', served.encoding);
    return new Response(body.slice() as BlobPart, { status: served.status ?? 200, headers });
  }) as typeof fetch;
  const backends: StoreBackends = {
    openCache: async () => cache as unknown as Cache,
    meta,
    estimate: async () => (Number.isFinite(cache.quotaBytes) ? { quota: cache.quotaBytes, usage: cache.used() } : undefined),
    sha256: async (bytes) => { hashed.push(bytes.length); return sha(bytes); },
  };
  const store = new ArtifactStore(BASE, fetchImpl, async () => BROWSER_LIMITS, backends);
  /** Another store over the same storage: the next page or worker that loads the model. */
  const reopen = () => new ArtifactStore(BASE, fetchImpl, async () => BROWSER_LIMITS, backends);
  return { store, cache, meta, fetched, hashed, reopen };
}

function entry(pins: { size?: boolean; sha256?: boolean } = { size: true, sha256: true }): CatalogEntry {
  return {
    id: 'test/m', aliases: [], kind: 'embeddings', backend: 'onnx', ownedBy: 'test', description: '', builtIn: true, created: 0,
    files: Object.entries({ model: 'm/model.onnx', tokenizer: 'm/tokenizer.json' }).map(([role, path]) => ({
      role, url: path,
      ...(pins.size && { size: FILES[path].length }),
      ...(pins.sha256 && { sha256: sha(FILES[path]) }),
    })),
  };
}

async function rejection(p: Promise<unknown>): Promise<HearthError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(HearthError);
    return e as HearthError;
  }
  throw new Error('expected a rejection');
}

describe('quota', () => {
  it('a model over the quota left is refused before downloading: 507 with the bytes needed and available', async () => {
    const { store, cache, fetched } = setup();
    cache.quotaBytes = 1000;
    cache.entries.set('https://hearth.test/other', new Uint8Array(300));
    const e = await rejection(store.read(entry(), 'model'));
    const needed = FILES['m/model.onnx'].length + FILES['m/tokenizer.json'].length;
    expect(e.toJSON()).toMatchObject({ error: { type: 'insufficient_storage', code: 'storage_quota_exceeded', param: null } });
    expect(e.status).toBe(507);
    expect(e.message).toContain(`needs ${needed} bytes, 700 available (quota 1000, used 300)`);
    expect(fetched).toEqual([]);
  });

  it('sizes not in the catalog: the write that fails with QuotaExceededError answers 507, and nothing of it is kept', async () => {
    const { store, cache, meta } = setup();
    cache.quotaBytes = FILES['m/tokenizer.json'].length + 100; // the model file cannot fit
    const e = await rejection(store.read(entry({}), 'tokenizer'));
    expect(e.status).toBe(507);
    expect(e.message).toMatch(new RegExp(`needs ${FILES['m/model.onnx'].length} bytes, \\d+ available`));
    expect(e.message).toContain('https://hearth.test/models/m/model.onnx');
    expect([...cache.entries.keys()].some((u) => u.endsWith('model.onnx'))).toBe(false);
    expect([...meta.map.keys()].some((u) => u.endsWith('model.onnx'))).toBe(false);
    cache.quotaBytes = Infinity; // space freed: the next request downloads it
    expect(new TextDecoder().decode(await store.read(entry({}), 'tokenizer'))).toContain('WordPiece');
  });
});

describe('Content-Length', () => {
  it.each([['shorter', -7], ['longer', 5]])('a body %s than its Content-Length stores nothing: 503 naming the file', async (_, delta) => {
    const { store, cache, meta } = setup((path) => (path === 'm/tokenizer.json'
      ? { contentLength: String(FILES[path].length - delta) } : {}));
    const e = await rejection(store.read(entry({}), 'tokenizer'));
    expect(e.toJSON()).toMatchObject({ error: { type: 'service_unavailable', code: 'download_incomplete' } });
    expect(e.message).toContain('https://hearth.test/models/m/tokenizer.json');
    expect(e.message).toContain(`got ${FILES['m/tokenizer.json'].length} bytes, the server's Content-Length is ${FILES['m/tokenizer.json'].length - delta}`);
    expect([...cache.entries.keys()].some((u) => u.endsWith('tokenizer.json'))).toBe(false);
    expect([...meta.map.keys()].some((u) => u.endsWith('tokenizer.json'))).toBe(false);
  });

  it('no Content-Length (chunked) or a compressed body (Content-Length counts the encoded bytes) is not compared', async () => {
    const { store } = setup(() => ({ contentLength: null }));
    expect((await store.read(entry({}), 'model')).length).toBe(FILES['m/model.onnx'].length);
    const gzip = setup(() => ({ contentLength: '40', encoding: 'gzip' }));
    expect((await gzip.store.read(entry({}), 'model')).length).toBe(FILES['m/model.onnx'].length);
  });

  it('the catalog size wins over the server: a body of the declared length but the wrong size is refused', async () => {
    const cut = FILES['m/model.onnx'].slice(0, 100);
    const { store } = setup((path) => (path === 'm/model.onnx' ? { body: cut } : {}));
    const e = await rejection(store.read(entry({ size: true }), 'model'));
    expect(e.toJSON()).toMatchObject({ error: { code: 'integrity_check_failed' } });
    expect(e.message).toContain(`got 100 bytes, expected ${FILES['m/model.onnx'].length}`);
  });
});

describe('checked on every read', () => {
  it('a stored file changed since (same size, other bytes) fails its sha256 at load: deleted and fetched again', async () => {
    const { store, cache, fetched } = setup();
    await store.ensure(entry());
    const url = 'https://hearth.test/models/m/tokenizer.json';
    const poisoned = bytesOf('{"model": {"type": "Nonsense!"}}');
    expect(poisoned.length).toBe(FILES['m/tokenizer.json'].length);
    cache.entries.set(url, poisoned);
    fetched.length = 0;
    expect(await store.read(entry(), 'tokenizer')).toEqual(FILES['m/tokenizer.json']);
    expect(fetched).toEqual(['m/tokenizer.json']);
    expect(cache.entries.get(url)).toEqual(FILES['m/tokenizer.json']);
  });

  it('a stored file cut short is caught by its size even without a catalog size or sha256, and fetched again', async () => {
    const { store, cache, fetched } = setup();
    await store.ensure(entry({}));
    const url = 'https://hearth.test/models/m/model.onnx';
    cache.entries.set(url, FILES['m/model.onnx'].slice(0, 10));
    fetched.length = 0;
    expect(await store.read(entry({}), 'model')).toEqual(FILES['m/model.onnx']);
    expect(fetched).toEqual(['m/model.onnx']);
  });

  it('bytes without their record (a write cut off between the two) are never used: fetched again', async () => {
    const { store, cache, meta, fetched } = setup();
    const url = 'https://hearth.test/models/m/model.onnx';
    cache.entries.set(url, bytesOf('half written'));
    expect(await store.read(entry({}), 'model')).toEqual(FILES['m/model.onnx']);
    expect(fetched).toContain('m/model.onnx');
    expect(meta.map.get(url)?.size).toBe(FILES['m/model.onnx'].length);
  });

  it('site data cleared between reads (cache and records gone): the next read fetches again', async () => {
    const { store, cache, meta, fetched } = setup();
    expect(await store.read(entry(), 'model')).toEqual(FILES['m/model.onnx']);
    cache.entries.clear();
    meta.map.clear();
    fetched.length = 0;
    expect(await store.read(entry(), 'tokenizer')).toEqual(FILES['m/tokenizer.json']);
    expect(fetched.sort()).toEqual(['m/model.onnx', 'm/tokenizer.json']);
    expect(await store.isDownloaded(entry())).toBe(true);
  });

  it('only the cache cleared (records left): detected at read, fetched again', async () => {
    const { store, cache } = setup();
    await store.ensure(entry());
    cache.entries.clear();
    expect(await store.read(entry(), 'model')).toEqual(FILES['m/model.onnx']);
  });

  it('the cache deleted under a download (site data cleared mid-load): the write goes to a fresh cache', async () => {
    const { store, cache, meta } = setup();
    const put = cache.put.bind(cache);
    let deleted = false;
    cache.put = async (u: string, r: Response) => {
      if (!deleted) {
        deleted = true;
        throw new DOMException('Entry was not found.', 'NotFoundError');
      }
      return put(u, r);
    };
    expect(await store.read(entry(), 'model')).toEqual(FILES['m/model.onnx']);
    expect(deleted).toBe(true);
    expect(meta.map.size).toBe(2);
  });

  it('a file that stays wrong after fetching it again: 503 naming the file', async () => {
    let served = 0;
    const { store, cache } = setup((path) => {
      if (path === 'm/model.onnx') served++;
      return {};
    });
    await store.ensure(entry({}));
    const url = 'https://hearth.test/models/m/model.onnx';
    // Whatever is stored is cut short again before it is read (a storage that keeps losing the file).
    const put = cache.put.bind(cache);
    cache.put = async (u: string, r: Response) => { await put(u, r); if (String(u) === url) cache.entries.set(url, new Uint8Array(3)); };
    cache.entries.set(url, new Uint8Array(3));
    const e = await rejection(store.read(entry({}), 'model'));
    expect(e.toJSON()).toMatchObject({ error: { type: 'service_unavailable', code: 'storage_evicted' } });
    expect(e.message).toContain(`Model test/m file "model" (${url}) is 3 bytes where ${FILES['m/model.onnx'].length} were stored`);
    expect(served).toBe(2);
  });

  it('a storage that fails outright answers a 503, never hangs', async () => {
    const { store } = setup();
    const broken = new ArtifactStore(BASE, fetch, async () => BROWSER_LIMITS, {
      openCache: async () => { throw new DOMException('Unexpected internal error.', 'UnknownError'); },
      meta: memoryMeta(),
      estimate: async () => undefined,
    });
    const e = await rejection(broken.read(entry(), 'model'));
    expect(e.toJSON()).toMatchObject({ error: { type: 'service_unavailable', code: 'storage_unavailable' } });
    expect(store).toBeDefined();
  });
});

describe('sha256 verified once, at download', () => {
  const MODEL_URL = 'https://hearth.test/models/m/model.onnx';
  const modelBytes = FILES['m/model.onnx'];

  it('a second load, and a fresh store over the same storage (the next page), does not hash again', async () => {
    const { store, meta, hashed, fetched, reopen } = setup();
    expect(await store.read(entry(), 'model')).toEqual(modelBytes);
    // Each file hashed once, as it was downloaded; the record says what it was verified against.
    expect(hashed.sort((a, b) => a - b)).toEqual([FILES['m/tokenizer.json'].length, modelBytes.length]);
    expect(meta.map.get(MODEL_URL)?.verified).toEqual({ sha256: sha(modelBytes), size: modelBytes.length });
    hashed.length = 0;
    expect(await store.read(entry(), 'model')).toEqual(modelBytes);
    expect(await store.readJson(entry(), 'tokenizer')).toEqual({ model: { type: 'WordPiece' } });
    expect(await reopen().read(entry(), 'model')).toEqual(modelBytes);
    expect(hashed).toEqual([]);
    expect(fetched.sort()).toEqual(['m/model.onnx', 'm/tokenizer.json']);
  });

  it('a changed catalog sha256 re-verifies: new bytes upstream are fetched again (then trusted), a sha256 the file has is recorded', async () => {
    const newBytes = bytesOf('graph bytes '.repeat(99) + 'GRAPH BYTES ');
    expect(newBytes.length).toBe(modelBytes.length);
    let upstream = modelBytes;
    const { store, meta, hashed, fetched } = setup((path) => (path === 'm/model.onnx' ? { body: upstream } : {}));
    await store.ensure(entry());
    upstream = newBytes;
    const moved = entry();
    moved.files[0].sha256 = sha(newBytes);
    hashed.length = 0;
    fetched.length = 0;
    expect(await store.read(moved, 'model')).toEqual(newBytes);
    expect(hashed).toEqual([modelBytes.length, newBytes.length]); // the stored file (no match), then the new download
    expect(fetched).toEqual(['m/model.onnx']);
    expect(meta.map.get(MODEL_URL)?.verified?.sha256).toBe(sha(newBytes));
    hashed.length = 0;
    expect(await store.read(moved, 'model')).toEqual(newBytes);
    expect(hashed).toEqual([]);

    // A catalog that gains the sha256 of a file stored without one: hashed once, matches, recorded; nothing fetched.
    const unpinned = setup();
    await unpinned.store.ensure(entry({ size: true }));
    expect(unpinned.meta.map.get(MODEL_URL)?.verified).toBeUndefined();
    unpinned.hashed.length = 0;
    unpinned.fetched.length = 0;
    for (let i = 0; i < 2; i++) expect(await unpinned.store.read(entry(), 'model')).toEqual(modelBytes);
    expect(unpinned.hashed).toEqual([modelBytes.length]);
    expect(unpinned.fetched).toEqual([]);
    expect(unpinned.meta.map.get(MODEL_URL)?.verified).toEqual({ sha256: sha(modelBytes), size: modelBytes.length });
  });

  it('a catalog sha256 the stored file and upstream both miss: 503 integrity_check_failed, nothing of it kept', async () => {
    const { store, cache, meta } = setup();
    await store.ensure(entry());
    const wrong = entry();
    wrong.files[0].sha256 = '0'.repeat(64);
    const e = await rejection(store.read(wrong, 'model'));
    expect(e.toJSON()).toMatchObject({ error: { type: 'service_unavailable', code: 'integrity_check_failed' } });
    expect(cache.entries.has(MODEL_URL)).toBe(false);
    expect(meta.map.has(MODEL_URL)).toBe(false);
  });

  it.each([
    ['its size disagrees with the stored file', (r: StoredFile): StoredFile => ({ ...r, size: r.size + 1 })],
    ['it claims another sha256', (r: StoredFile): StoredFile => ({ ...r, verified: { sha256: 'f'.repeat(64), size: r.size } })],
    ['it was verified at another size', (r: StoredFile): StoredFile => ({ ...r, verified: { ...r.verified!, size: 1 } })],
    ['it is from before verify-once (no verified)', ({ verified: _, ...r }: StoredFile): StoredFile => r],
  ])('a record whose %s is not trusted: the file is hashed again, the record renewed, nothing fetched', async (_, tamper) => {
    const { store, meta, hashed, fetched } = setup();
    await store.ensure(entry());
    const good = meta.map.get(MODEL_URL)!;
    meta.map.set(MODEL_URL, tamper(good));
    hashed.length = 0;
    fetched.length = 0;
    expect(await store.read(entry(), 'model')).toEqual(modelBytes);
    expect(hashed).toEqual([modelBytes.length]);
    expect(fetched).toEqual([]);
    expect(meta.map.get(MODEL_URL)).toMatchObject({ size: good.size, sha256: good.sha256, verified: good.verified });
    hashed.length = 0;
    expect(await store.read(entry(), 'model')).toEqual(modelBytes);
    expect(hashed).toEqual([]);
  });

  it('bytes put in the cache by anything else (no hash header, as stored before verify-once) are hashed once: then trusted', async () => {
    const { store, cache, hashed, fetched } = setup();
    await store.ensure(entry());
    cache.entries.set(MODEL_URL, modelBytes.slice());
    hashed.length = 0;
    fetched.length = 0;
    expect(await store.read(entry(), 'model')).toEqual(modelBytes);
    expect(hashed).toEqual([modelBytes.length]);
    expect((await cache.match(MODEL_URL))!.headers.get('x-hearth-sha256')).toBe(sha(modelBytes));
    expect(await store.read(entry(), 'model')).toEqual(modelBytes);
    expect(hashed).toEqual([modelBytes.length]);
    expect(fetched).toEqual([]);
  });

  it('a tampered record over tampered bytes (both cut short) ends in a fetch, never the wrong bytes', async () => {
    const { store, cache, meta, fetched } = setup();
    await store.ensure(entry({ sha256: true }));
    const cut = modelBytes.slice(0, 50);
    cache.entries.set(MODEL_URL, cut);
    meta.map.set(MODEL_URL, { ...meta.map.get(MODEL_URL)!, size: cut.length, verified: { sha256: sha(modelBytes), size: cut.length } });
    fetched.length = 0;
    expect(await store.read(entry({ sha256: true }), 'model')).toEqual(modelBytes);
    expect(fetched).toEqual(['m/model.onnx']);
  });
});

describe('reading one file alone', () => {
  it('fetches only that file (a small config read before deciding on the big one); a plain read then fetches the rest', async () => {
    const { store, fetched } = setup();
    expect(await store.readJson(entry(), 'tokenizer', { alone: true })).toEqual({ model: { type: 'WordPiece' } });
    expect(fetched).toEqual(['m/tokenizer.json']);
    expect(await store.isDownloaded(entry())).toBe(false);
    expect(await store.read(entry(), 'model')).toEqual(FILES['m/model.onnx']);
    expect(fetched).toEqual(['m/tokenizer.json', 'm/model.onnx']);
  });
});

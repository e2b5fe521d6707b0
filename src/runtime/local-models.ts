/**
 * Models the user opens from their own disk: `hearth.models.add(file)` (and the model manager's file picker). A GGUF
 * file is checked first — header, architecture, tensor block types, tokenizer — and refused with a 400 naming the
 * problem; then it is kept in the artifact store (read by the LLM worker like any stored file) and registered as an
 * LLM `local/<name>` served by Hearth's WGSL decoder. Registered files are remembered (IndexedDB) and registered
 * again when Hearth next starts in this origin.
 */
import { createStore, get, set, type UseStore } from 'idb-keyval';
import { invalidRequest } from '../api/errors';
import type { ModelRegistry } from '../models/registry';
import type { ArtifactStore } from '../models/store';
import type { CatalogEntry } from '../models/types';

export interface AddModelOptions {
  /** The model id to register (default `local/<general.name or file name>`). */
  id?: string;
}

export interface LocalModels {
  /** Checks, stores and registers a GGUF file; resolves to its catalog entry (its `id` names it in requests). */
  add(file: Blob & { name?: string }, options?: AddModelOptions): Promise<CatalogEntry>;
  /** The local models registered so far (this session's and the remembered ones). */
  list(): CatalogEntry[];
  /** Settles once the remembered local models are registered again. */
  ready: Promise<void>;
}

const ENTRIES_KEY = 'entries';

const slug = (name: string) => name.replace(/\.gguf$/i, '').toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'model';

/** `unload(id)`: drops a loaded copy of a model a new file replaces under the same id. */
export function localModels(registry: ModelRegistry, store: ArtifactStore, unload: (id: string) => Promise<void> = async () => {}): LocalModels {
  const persisted: UseStore | null = typeof indexedDB === 'undefined' ? null : createStore('hearth-local-models', 'entries');
  const entries: CatalogEntry[] = [];
  const remember = async () => { if (persisted) await set(ENTRIES_KEY, entries, persisted); };
  const ready = (async () => {
    if (!persisted) return;
    for (const entry of (await get<CatalogEntry[]>(ENTRIES_KEY, persisted).catch(() => undefined)) ?? []) {
      try {
        registry.register(entry);
        entries.push(entry);
      } catch { /* a name now taken by another model: forget it */ }
    }
  })();

  return {
    ready,
    list: () => [...entries],
    async add(file, options = {}) {
      await ready;
      // The GGUF reader (and @huggingface/gguf) is loaded on first use, not with the page.
      const [{ checkGgufTypes, ggufTypeName, readGgufHeader }, { ggufTokenizer }, { ggufLlamaArchitecture, ggufTensorNeeded }] = await Promise.all([
        import('../engines/llm/wgsl/gguf-file'), import('../engines/llm/wgsl/gguf-tokenizer'), import('../engines/llm/wgsl/gguf-weights'),
      ]);
      const header = await readGgufHeader(file);
      const arch = ggufLlamaArchitecture(header);
      checkGgufTypes(header, ggufTensorNeeded);
      ggufTokenizer(header.metadata); // a file whose tokenizer cannot be built is refused before it is stored
      const name = typeof header.metadata['general.name'] === 'string' ? header.metadata['general.name'] as string : file.name ?? 'model';
      const id = options.id ?? `local/${slug(name)}`;
      const existing = registry.find(id);
      if (existing && !entries.some((e) => e.id === existing.id)) {
        throw invalidRequest(`Model id "${id}" is already used by another model; pass another id`, 'id', 'model_exists');
      }
      const types = [...new Set(header.tensors.filter((t) => ggufTensorNeeded(t.name)).map((t) => ggufTypeName(t.typeId)))];
      const entry: CatalogEntry = {
        id,
        aliases: [],
        kind: 'llm',
        backend: 'auto',
        ownedBy: 'local',
        description: `Local GGUF file${file.name ? ` ${file.name}` : ''} (${String(header.metadata['general.architecture'])}, ` +
          `${arch.layers} layers, ${types.join('/')}), run by Hearth's WGSL decoder`,
        builtIn: false,
        files: [{ role: 'gguf', url: `local-models/${encodeURIComponent(slug(id))}.gguf`, size: file.size }],
        llm: {
          contextLength: arch.maxPositions,
          variants: [{ backend: 'gguf', name: 'gguf', requiresF16: false }],
          tools: false,
          vision: false,
        },
        created: Math.floor(Date.now() / 1000),
      };
      await store.keepLocal(entry.files[0], file);
      registry.register(entry);
      const at = entries.findIndex((e) => e.id === id);
      if (at >= 0) {
        entries.splice(at, 1, entry);
        await unload(id).catch(() => undefined);
      }
      else entries.push(entry);
      await remember();
      return entry;
    },
  };
}

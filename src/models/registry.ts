/**
 * Resolves the names callers use (canonical ids, Fireworks ids, aliases) to catalog entries; users may register
 * their own entries next to the built-in catalog.
 */
import { invalidRequest, notFound } from '../api/errors';
import { CATALOG } from './catalog';
import type { CatalogEntry, ModelKind } from './types';

export class ModelRegistry {
  private readonly byName = new Map<string, CatalogEntry>();
  private readonly entries: CatalogEntry[] = [];

  constructor(entries: readonly CatalogEntry[] = CATALOG) {
    for (const e of entries) this.register(e);
  }

  register(entry: CatalogEntry): void {
    for (const name of [entry.id, ...entry.aliases]) {
      const existing = this.byName.get(name);
      if (existing && existing.id !== entry.id) throw new Error(`Model name ${name} is already used by ${existing.id}`);
    }
    const old = this.entries.findIndex((e) => e.id === entry.id);
    if (old >= 0) this.entries.splice(old, 1);
    this.entries.push(entry);
    for (const name of [entry.id, ...entry.aliases]) this.byName.set(name, entry);
  }

  list(): readonly CatalogEntry[] {
    return this.entries;
  }

  find(name: string): CatalogEntry | undefined {
    return this.byName.get(name);
  }

  /** The entry for `name`, which must be of `kind`; 404 for unknown names, 400 for a model of another kind. */
  resolve(name: string, kind: ModelKind, param = 'model'): CatalogEntry {
    const entry = this.byName.get(name);
    if (!entry) {
      const known = this.entries.filter((e) => e.kind === kind).map((e) => e.id).join(', ');
      throw notFound(`Model "${name}" not found. ${kind} models: ${known || 'none'}`, param, 'model_not_found');
    }
    if (entry.kind !== kind) {
      throw invalidRequest(`Model "${name}" is a ${entry.kind} model and cannot serve ${kind} requests`, param, 'wrong_model_kind');
    }
    return entry;
  }
}

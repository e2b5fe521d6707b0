/**
 * Resolves the names callers use (canonical ids, Fireworks ids, aliases) to catalog entries; users may register
 * their own entries next to the built-in catalog, and their own aliases (`startHearth({ aliases })`), which win over
 * the catalog's: `{'accounts/fireworks/models/stable-diffusion-xl-1024-v1-0': 'hearth/tiny-sdxl'}` serves that path
 * with the model they chose.
 */
import { invalidRequest, notFound } from '../core/errors';
import { CATALOG } from './catalog';
import type { CatalogEntry, ModelKind } from './types';

export class ModelRegistry {
  private readonly byName = new Map<string, CatalogEntry>();
  private readonly entries: CatalogEntry[] = [];
  /** User aliases: name → the id of the entry that serves it. */
  private readonly userAliases = new Map<string, string>();

  constructor(entries: readonly CatalogEntry[] = CATALOG, aliases: Readonly<Record<string, string>> = {}) {
    for (const e of entries) this.register(e);
    for (const [name, target] of Object.entries(aliases)) this.alias(name, target);
  }

  /** Makes `name` resolve to the model `target` names (its id or any of its names), over any catalog meaning. */
  alias(name: string, target: string): void {
    if (!name || name === target) throw new Error(`Alias "${name}" → "${target}" is not an alias`);
    const entry = this.find(target);
    if (!entry) throw new Error(`Alias "${name}" names an unknown model "${target}"`);
    if (entry.id === name) throw new Error(`Alias "${name}" would hide the model of that id`);
    this.userAliases.set(name, entry.id);
  }

  /** The user aliases, name → model id. */
  aliases(): Readonly<Record<string, string>> {
    return Object.fromEntries(this.userAliases);
  }

  /** Every name that resolves to `entry`: its id, its catalog aliases not taken over by a user alias, user aliases to it. */
  namesOf(entry: CatalogEntry): string[] {
    const own = entry.aliases.filter((a) => !this.userAliases.has(a));
    const user = [...this.userAliases].filter(([, id]) => id === entry.id).map(([name]) => name);
    return [...new Set([...own, ...user])];
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
    const aliased = this.userAliases.get(name);
    return aliased !== undefined ? this.byName.get(aliased) : this.byName.get(name);
  }

  /** The entry for `name`, which must be of `kind`; 404 for unknown names, 400 for a model of another kind. */
  resolve(name: string, kind: ModelKind, param = 'model'): CatalogEntry {
    const entry = this.find(name);
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

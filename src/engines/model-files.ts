/**
 * How engines read a model's files: by catalog role (and variant), whatever holds them — the artifact store in the
 * browser's workers (src/runtime/store-files.ts), a directory in Node (src/server/model-files.ts), fixtures in tests.
 * Each engine declares which roles it reads in its own files.ts, so workers, tests, benches and `hearth serve` build
 * engines from the same factories and differ only in the ModelFiles they pass.
 */
import type { CatalogEntry, ExternalDataFile } from '../models/types';

export interface ReadFileOptions {
  /**
   * Where reading downloads (the artifact store): fetch only this file, not the rest of the model (a read normally
   * downloads the whole model first). For a small file read to decide whether the big ones are needed at all.
   */
  alone?: boolean;
}

export interface ModelFiles {
  /** The bytes of the entry's file with this role (within `variant` when given). */
  read(entry: CatalogEntry, role: string, variant?: string): Promise<Uint8Array>;
  /** The same file parsed as JSON. */
  readJson(entry: CatalogEntry, role: string, variant?: string, options?: ReadFileOptions): Promise<object>;
  /** The external data files of the graph with this role, named as the graph refers to them (none: an empty list). */
  readExternalData(entry: CatalogEntry, role: string, variant?: string): Promise<ExternalDataFile[]>;
}

/** Whether the catalog lists a file with this role for the entry (within `variant`: files of no variant count). */
export function hasFile(entry: CatalogEntry, role: string, variant?: string): boolean {
  return entry.files.some((f) => f.role === role && (variant === undefined || f.variant === undefined || f.variant === variant));
}

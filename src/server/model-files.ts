/**
 * Model files in Node: a catalog entry's files read from a directory laid out like the web app's public/ folder
 * (a file's relative catalog URL is its path below that directory). Models whose files live on another host are not
 * served from here: reading one fails with a 503 that says so.
 */
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { unavailable } from '../core/errors';
import { hasFile, type ModelFiles } from '../engines/model-files';
import { dataPathOf, externalDataFiles, filesFor } from '../models/store';
import type { CatalogEntry, ExternalDataFile, ModelFile } from '../models/types';

/** The engines' ModelFiles over a directory, plus what `hearth serve` asks of the directory itself. */
export interface ModelDirectory extends ModelFiles {
  readJson<T = object>(entry: CatalogEntry, role: string, variant?: string): Promise<T>;
  has(entry: CatalogEntry, role: string, variant?: string): boolean;
  /** The file name of a role's file (what an ONNX graph's external-data reference names). */
  fileName(entry: CatalogEntry, role: string, variant?: string): string;
  /** Whether every required file of the entry is in the directory. */
  isPresent(entry: CatalogEntry): Promise<boolean>;
}

const isLocal = (file: ModelFile) => !/^[a-z][a-z0-9+.-]*:/i.test(file.url);

export function directoryFiles(root: string): ModelDirectory {
  const find = (entry: CatalogEntry, role: string, variant?: string): ModelFile => {
    const file = entry.files.find((f) => f.role === role && (variant === undefined || f.variant === undefined || f.variant === variant));
    if (!file) throw unavailable(`${entry.id} has no "${role}" file`, 'model_file_missing');
    if (!isLocal(file)) {
      throw unavailable(`${entry.id} is not in this server's model folder (${file.url} is remote; hearth serve reads models from ${root})`,
        'model_not_downloaded');
    }
    return file;
  };
  const read = async (entry: CatalogEntry, role: string, variant?: string) => {
    const file = find(entry, role, variant);
    try {
      return new Uint8Array(await readFile(join(root, file.url)));
    } catch (e) {
      throw unavailable(`${entry.id}: ${file.url} cannot be read from ${root}`, 'model_not_downloaded', e);
    }
  };
  return {
    read,
    async readJson<T>(entry: CatalogEntry, role: string, variant?: string) {
      return JSON.parse(new TextDecoder().decode(await read(entry, role, variant))) as T;
    },
    has: hasFile,
    fileName: (entry, role, variant) => find(entry, role, variant).url.split('/').pop()!,
    async readExternalData(entry, role, variant) {
      const out: ExternalDataFile[] = [];
      for (const file of externalDataFiles(entry, role, variant)) out.push({ path: dataPathOf(file), data: await read(entry, file.role, variant) });
      return out;
    },
    async isPresent(entry) {
      const needed = filesFor(entry);
      if (!needed.every(isLocal)) return false;
      const checks = await Promise.all(needed.map((f) => access(join(root, f.url)).then(() => true, () => false)));
      return checks.every(Boolean);
    },
  };
}

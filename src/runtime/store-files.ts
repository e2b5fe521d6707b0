/**
 * The artifact store as the engines' ModelFiles (src/engines/model-files.ts): what the engine workers read model
 * files through in the browser (downloading a model on first read, as ArtifactStore does).
 */
import type { ModelFiles } from '../engines/model-files';
import type { ArtifactStore } from '../models/store';

export function storeFiles(store: ArtifactStore): ModelFiles {
  return {
    read: (entry, role, variant) => store.read(entry, role, { variant }),
    readJson: (entry, role, variant, options) => store.readJson(entry, role, { variant, alone: options?.alone }),
    readExternalData: (entry, role, variant) => store.readExternalData(entry, role, { variant }),
  };
}

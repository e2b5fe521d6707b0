/** The files an embeddings model is read from, by catalog role: the ONNX graph and its tokenizer. */
import type { CatalogEntry } from '../../models/types';
import type { ModelFiles } from '../model-files';
import type { EmbedderFiles } from './onnx-embedder';

export async function readEmbedderFiles(entry: CatalogEntry, files: ModelFiles): Promise<EmbedderFiles> {
  return {
    model: await files.read(entry, 'model'),
    tokenizer: await files.readJson(entry, 'tokenizer'),
    tokenizerConfig: await files.readJson(entry, 'tokenizer_config'),
  };
}

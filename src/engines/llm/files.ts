/**
 * The files an ONNX LLM variant is read from, by catalog role: the decoder graph (with its external weights), the
 * tokenizer, the model config and, when the repository has one, generation_config.json. Both our decoders (WGSL and
 * onnxruntime-web) read the same files. config.json can be read on its own first (readLlmConfig): it says whether
 * the WGSL decoder runs the architecture, before the big graph file is fetched. A GGUF variant is one file, role 'gguf'.
 */
import type { CatalogEntry } from '../../models/types';
import { hasFile, type ModelFiles } from '../model-files';
import type { OnnxLlmFiles } from './onnx-backend';

/** The variant's config.json alone (where reading downloads, only that small file is fetched). */
export function readLlmConfig(entry: CatalogEntry, variant: string, files: ModelFiles): Promise<object> {
  return files.readJson(entry, 'config', variant, { alone: true });
}

export async function readLlmFiles(entry: CatalogEntry, variant: string, files: ModelFiles): Promise<OnnxLlmFiles> {
  const config = await readLlmConfig(entry, variant, files);
  const externalData = await files.readExternalData(entry, 'model', variant);
  return {
    model: await files.read(entry, 'model', variant),
    externalData: externalData.length ? externalData : undefined,
    tokenizer: await files.readJson(entry, 'tokenizer', variant),
    tokenizerConfig: await files.readJson(entry, 'tokenizer_config', variant),
    config,
    generationConfig: hasFile(entry, 'generation_config', variant) ? await files.readJson(entry, 'generation_config', variant) : undefined,
  };
}

/** The bytes of a GGUF variant's single file (role 'gguf'). */
export function readGgufFile(entry: CatalogEntry, files: ModelFiles): Promise<Uint8Array> {
  return files.read(entry, 'gguf');
}

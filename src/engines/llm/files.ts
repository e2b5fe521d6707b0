/**
 * The files an ONNX LLM variant is read from, by catalog role: the decoder graph (with its external weights), the
 * tokenizer, the model config and, when the repository has one, generation_config.json. Both our decoders (WGSL and
 * onnxruntime-web) read the same files. A GGUF variant is one file, role 'gguf'.
 */
import type { CatalogEntry } from '../../models/types';
import { hasFile, type ModelFiles } from '../model-files';
import type { OnnxLlmFiles } from './onnx-backend';

export async function readLlmFiles(entry: CatalogEntry, variant: string, files: ModelFiles): Promise<OnnxLlmFiles> {
  const externalData = await files.readExternalData(entry, 'model', variant);
  return {
    model: await files.read(entry, 'model', variant),
    externalData: externalData.length ? externalData : undefined,
    tokenizer: await files.readJson(entry, 'tokenizer', variant),
    tokenizerConfig: await files.readJson(entry, 'tokenizer_config', variant),
    config: await files.readJson(entry, 'config', variant),
    generationConfig: hasFile(entry, 'generation_config', variant) ? await files.readJson(entry, 'generation_config', variant) : undefined,
  };
}

/** The bytes of a GGUF variant's single file (role 'gguf'). */
export function readGgufFile(entry: CatalogEntry, files: ModelFiles): Promise<Uint8Array> {
  return files.read(entry, 'gguf');
}

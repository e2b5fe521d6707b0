/**
 * Loads an LLM variant for Hearth's own WGSL decoder from the files the catalog downloads for its ONNX variant:
 * config.json says whether the architecture is one it runs, the ONNX initializers are its weights (read in place,
 * uploaded once), and the tokenizer/template/EOS come from the same files as for the ONNX decoder. Any reason it
 * cannot (architecture, weight format, adapter limits) is an Error: the registry records it and falls back.
 */
import type { CatalogEntry, LlmVariant } from '../../../models/types';
import type { LlmModel } from '../generate';
import { assembleLlm, type OnnxLlmFiles } from '../onnx-backend';
import { llamaArchitecture } from './config';
import { WgslDecoder, type WgslLlmShaderSources } from './decoder';
import { llamaWeightsFromOnnx } from './onnx-weights';

/** KV-cache slots the WGSL decoder allocates at most per row (the model's context is capped to it). */
export const WGSL_MAX_CONTEXT = 4096;

export interface WgslLoadOptions {
  /** A device to use (Node tests, benches); by default one is requested from navigator.gpu. */
  device?: GPUDevice;
  shaders?: WgslLlmShaderSources;
}

export async function loadWgslLlm(entry: CatalogEntry, variant: LlmVariant, files: OnnxLlmFiles, options: WgslLoadOptions = {}): Promise<LlmModel> {
  const arch = llamaArchitecture(files.config);
  const external = (files.externalData ?? []).map((f) => {
    // Files past the store's in-memory size come as blob: URLs (onnxruntime-web streams them); the WGSL reader
    // takes bytes, so such a model falls back to onnxruntime-web with this reason.
    if (typeof f.data === 'string') throw new Error(`external data ${f.path} is too large to read in memory for the WGSL decoder`);
    return { path: f.path, data: f.data };
  });
  const weights = llamaWeightsFromOnnx(files.model, external, arch);
  const context = Math.min(entry.llm?.contextLength ?? Infinity, arch.maxPositions, WGSL_MAX_CONTEXT);
  const decoder = await WgslDecoder.create(weights, { capacity: context, shaders: options.shaders }, options.device);
  try {
    return assembleLlm(entry, variant, files, decoder, decoder.capacity);
  } catch (e) {
    await decoder.release();
    throw e;
  }
}

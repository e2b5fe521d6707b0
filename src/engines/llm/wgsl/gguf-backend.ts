/**
 * Loads a GGUF file (llama.cpp's format: what Ollama and LM Studio keep) for Hearth's WGSL decoder: weights from its
 * tensors (uploaded once, blocks as stored), architecture and tokenizer from its metadata, chat template from
 * `tokenizer.chat_template`. A file it cannot read is a 400 naming why (gguf-file.ts, gguf-weights.ts,
 * gguf-tokenizer.ts).
 */
import type { CatalogEntry, LlmVariant } from '../../../models/types';
import type { LlmModel } from '../generate';
import { assembleLlm } from '../onnx-backend';
import { WGSL_MAX_CONTEXT, type WgslLoadOptions } from './backend';
import { WgslDecoder } from './decoder';
import { readGguf } from './gguf-file';
import { ggufTokenizer } from './gguf-tokenizer';
import { llamaWeightsFromGguf } from './gguf-weights';

export async function loadGgufLlm(entry: CatalogEntry, variant: LlmVariant, bytes: Uint8Array, options: WgslLoadOptions & { ggufShader?: string } = {}): Promise<LlmModel> {
  const file = await readGguf(bytes);
  const weights = llamaWeightsFromGguf(file);
  const tokenizer = ggufTokenizer(file.metadata);
  const arch = weights.arch;
  const context = Math.min(entry.llm?.contextLength ?? Infinity, arch.maxPositions, WGSL_MAX_CONTEXT);
  const decoder = await WgslDecoder.create(weights, { capacity: context, shaders: options.shaders, ggufShader: options.ggufShader }, options.device);
  try {
    const files = {
      model: new Uint8Array(0),
      tokenizer: tokenizer.tokenizer,
      tokenizerConfig: tokenizer.tokenizerConfig,
      config: { max_position_embeddings: arch.maxPositions, eos_token_id: tokenizer.eosIds },
    };
    return assembleLlm(entry, variant, files, decoder, decoder.capacity);
  } catch (e) {
    await decoder.release();
    throw e;
  }
}


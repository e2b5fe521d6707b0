/** The model: a catalog variant → web-llm's AppConfig and the facts our mapping needs about it (WebLlmTarget). */
import type { AppConfig, ChatOptions, ModelRecord } from '@mlc-ai/web-llm';
import { notFound } from '../../../core/errors';
import type { CatalogEntry, LlmVariant } from '../../../models/types';

export type WebLlmVariant = Extract<LlmVariant, { backend: 'web-llm' }>;
export type WebLlmCacheBackend = NonNullable<AppConfig['cacheBackend']>;

/** What the request mapping needs to know of the loaded MLC model. */
export interface WebLlmTarget {
  mlcModelId: string;
  /** Tokens of the KV cache web-llm was loaded with (prompt + completion); web-llm stops there with "length". */
  contextWindow: number;
  /** The MLC build takes images (ModelRecord.model_type is ModelType.VLM). */
  vision: boolean;
  /**
   * Tokens of a text by web-llm's own tokenizer, when the backend can reach it: the prompt bound then counts the
   * messages' text exactly (else by UTF-8 bytes, a looser bound) and adds only the template's markup.
   */
  countTokens?: (text: string) => number;
  /** Width of the model's logits (mlc-chat-config `vocab_size`), when the backend knows it: logit_bias ids are checked. */
  vocabSize?: number;
}

/** web-llm's `ModelType.VLM` (an enum value; this module imports no web-llm code; a unit test checks it). */
export const WEBLLM_MODEL_TYPE_VLM = 2;

/** KV-cache size for self-hosted builds without their own override (what web-llm's prebuilt records use). */
export const DEFAULT_WEBLLM_CONTEXT_WINDOW = 4096;

export interface WebLlmModelSetup {
  appConfig: AppConfig;
  /** Passed to `engine.reload(mlcModelId, chatOpts)`. */
  chatOpts: ChatOptions;
  target: WebLlmTarget;
}

/**
 * The AppConfig that loads one catalog variant: web-llm's prebuilt record for `mlcModelId`, with the variant's
 * self-hosted `modelUrl` / `modelLibUrl` (resolved against `baseUrl`: web-llm 0.2.86 itself fails on a relative
 * model URL) in place of the prebuilt ones. web-llm appends `resolve/main/` to a model URL that has no
 * `/resolve/<rev>/` in it, so self-hosted weights live in a Hugging Face-like layout. The KV cache is fixed to the
 * record's `context_window_size` (else min(catalog context, 4096)) without a sliding window, so that the context
 * the mapping reasons about is the one web-llm allocates.
 */
export function webLlmModelSetup(entry: CatalogEntry, variant: WebLlmVariant, prebuilt: readonly ModelRecord[],
  options: { baseUrl: string; cacheBackend: WebLlmCacheBackend }): WebLlmModelSetup {
  const id = variant.mlcModelId;
  const known = prebuilt.find((r) => r.model_id === id);
  const abs = (url: string) => new URL(url, options.baseUrl).href;
  const model = variant.modelUrl ? abs(variant.modelUrl) : known?.model;
  const modelLib = variant.modelLibUrl ? abs(variant.modelLibUrl) : known?.model_lib;
  if (!model || !modelLib) {
    throw notFound(`web-llm 0.2.86 has no prebuilt model "${id}" (catalog entry ${entry.id}, variant ${variant.name}); ` +
      `its catalog variant needs ${!model && !modelLib ? 'modelUrl and modelLibUrl' : !model ? 'modelUrl' : 'modelLibUrl'}`,
    'model', 'model_not_found');
  }
  const selfHosted = Boolean(variant.modelUrl || variant.modelLibUrl);
  const features = new Set(known?.required_features ?? []);
  if (variant.requiresF16) features.add('shader-f16');
  const record: ModelRecord = {
    model,
    model_id: id,
    model_lib: modelLib,
    ...(known?.overrides && { overrides: known.overrides }),
    ...(known?.model_type !== undefined && { model_type: known.model_type }),
    ...(known?.vram_required_MB !== undefined && { vram_required_MB: known.vram_required_MB }),
    ...(known?.low_resource_required !== undefined && { low_resource_required: known.low_resource_required }),
    ...(known?.buffer_size_required_bytes !== undefined && { buffer_size_required_bytes: known.buffer_size_required_bytes }),
    // Checksums and manifests describe the prebuilt files; self-hosted files are other files.
    ...(!selfHosted && known?.integrity && { integrity: known.integrity }),
    ...(!selfHosted && known?.model_manifest && { model_manifest: known.model_manifest }),
    ...(features.size && { required_features: [...features] }),
  };
  const catalogContext = entry.llm?.contextLength ?? DEFAULT_WEBLLM_CONTEXT_WINDOW;
  const override = known?.overrides?.context_window_size;
  const contextWindow = Math.min(catalogContext, override && override > 0 ? override : DEFAULT_WEBLLM_CONTEXT_WINDOW);
  return {
    appConfig: { model_list: [record], cacheBackend: options.cacheBackend },
    chatOpts: { context_window_size: contextWindow, sliding_window_size: -1 },
    target: { mlcModelId: id, contextWindow, vision: record.model_type === WEBLLM_MODEL_TYPE_VLM },
  };
}

/**
 * Loads an LLM variant for our ONNX decoder: session on the requested device (with the KV cache kept on the GPU),
 * tokenizer, chat template, EOS ids and context length from the model's own config files (`assembleLlm`, shared
 * with the WGSL decoder's loader).
 */
import type * as OrtModule from 'onnxruntime-web';
import { internal } from '../../core/errors';
import type { CatalogEntry, ExternalDataFile, LlmVariant } from '../../models/types';
import type { OrtDevice } from '../embeddings/types';
import { ChatTemplate, type TemplateConfig } from './chat-template';
import { ConstraintFactory } from './constraint';
import type { LlmDecoder } from './decoder';
import type { LlmModel } from './generate';
import { OnnxDecoder, type DecoderShape, type Ort } from './onnx-decoder';
import { LlmTokenizer } from './tokenizer';
import { detectToolFormat } from './tool-calls';

export interface OnnxLlmFiles {
  model: Uint8Array;
  /** External weights (`model.onnx_data`, `model.onnx.data`, …), named as the graph refers to them. */
  externalData?: ExternalDataFile[];
  tokenizer: object;
  tokenizerConfig: object;
  config: object;
  generationConfig?: object;
}

interface HfConfig {
  num_hidden_layers?: number;
  num_key_value_heads?: number;
  num_attention_heads?: number;
  hidden_size?: number;
  head_dim?: number;
  vocab_size?: number;
  max_position_embeddings?: number;
  eos_token_id?: number | number[];
}

export async function loadOnnxLlm(ort: Ort, entry: CatalogEntry, variant: Extract<LlmVariant, { backend: 'onnx' }>,
  device: OrtDevice, files: OnnxLlmFiles): Promise<LlmModel> {
  const config = files.config as HfConfig;
  const shape = decoderShape(entry, config);
  const options: OrtModule.InferenceSession.SessionOptions = OnnxDecoder.sessionOptions(device, shape);
  if (files.externalData?.length) options.externalData = files.externalData;
  const session = await ort.InferenceSession.create(files.model, options);
  return assembleLlm(entry, variant, files, new OnnxDecoder(ort, session, shape, device), Infinity);
}

/**
 * A loaded model from its decoder and the model's own files: tokenizer, chat template, EOS ids, and the context
 * length (the catalog's, the config's and the decoder's own `contextCap`, whichever is least).
 */
export function assembleLlm(entry: CatalogEntry, variant: LlmVariant, files: OnnxLlmFiles, decoder: LlmDecoder, contextCap: number): LlmModel {
  const config = files.config as HfConfig;
  const tokenizer = new LlmTokenizer(files.tokenizer, files.tokenizerConfig);
  const templateConfig = files.tokenizerConfig as TemplateConfig;
  const template = templateConfig.chat_template ? new ChatTemplate(templateConfig) : null;
  const eos = (files.generationConfig as HfConfig | undefined)?.eos_token_id ?? config.eos_token_id;
  const eosIds = (Array.isArray(eos) ? eos : eos === undefined ? [] : [eos]).filter((x) => Number.isInteger(x));
  if (!eosIds.length) throw internal(`Model ${entry.id} (${variant.name}) names no eos_token_id`, 'bad_model_config');
  let constraints: Promise<ConstraintFactory> | undefined;
  return {
    id: entry.id,
    decoder,
    tokenizer,
    template,
    eosIds,
    contextLength: Math.min(entry.llm?.contextLength ?? Infinity, config.max_position_embeddings ?? Infinity, contextCap),
    toolFormat: template ? detectToolFormat(template.source) : null,
    constraints: () => (constraints ??= ConstraintFactory.create(files.tokenizer, files.tokenizerConfig,
      { vocabSize: decoder.shape.vocabSize, stopTokenIds: eosIds })),
  };
}

function decoderShape(entry: CatalogEntry, config: HfConfig): DecoderShape {
  const fromCatalog = entry.llm?.onnx;
  const layers = config.num_hidden_layers ?? fromCatalog?.layers;
  const kvHeads = config.num_key_value_heads ?? config.num_attention_heads ?? fromCatalog?.kvHeads;
  const headDim = config.head_dim ?? (config.hidden_size && config.num_attention_heads
    ? config.hidden_size / config.num_attention_heads : fromCatalog?.headDim);
  const vocabSize = config.vocab_size ?? fromCatalog?.vocabSize;
  if (!layers || !kvHeads || !headDim || !vocabSize) {
    throw internal(`Model ${entry.id}: config.json lacks the layer/head sizes needed for its KV cache`, 'bad_model_config');
  }
  return { layers, kvHeads, headDim, vocabSize };
}

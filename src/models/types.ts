/**
 * The shape of catalog data: what a model is, which engine runs it, and which files it needs.
 * The catalog itself (catalog.ts) is plain data of these types; nothing else switches on model ids.
 */

export type ModelKind = 'embeddings' | 'llm' | 'image';

/** One file a model needs. `url` is absolute (Hugging Face) or same-origin relative (built-in models under /models/). */
export interface ModelFile {
  /** Logical role the engine asks for, e.g. 'model', 'tokenizer', 'tokenizer_config'. */
  role: string;
  url: string;
  /** Size in bytes when known; downloads check it. */
  size?: number;
  /** Lower-case hex sha256 when known; downloads verify it before the file is stored. */
  sha256?: string;
}

export type Pooling = 'mean' | 'cls';

export interface EmbeddingsSpec {
  /** Width of the model's hidden state (the full embedding length). */
  hiddenSize: number;
  /** Tokens per input, special tokens included; longer inputs are truncated. */
  maxTokens: number;
  pooling: Pooling;
  normalize: boolean;
  /** Matryoshka-trained models accept `dimensions` in [1, hiddenSize]; others refuse it. */
  matryoshka: boolean;
  /** Graph input names the ONNX export uses. */
  inputs: { inputIds: string; attentionMask: string; tokenTypeIds?: string };
  output: string;
}

export interface CatalogEntry {
  /** Canonical id, as listed by GET /models. */
  id: string;
  /** Other names that resolve to this entry (Fireworks ids and short names). */
  aliases: string[];
  kind: ModelKind;
  /** Which engine backend family loads it (e.g. 'onnx'); the engine picks the device (webgpu, wasm). */
  backend: 'onnx' | 'web-llm';
  ownedBy: string;
  description: string;
  /** True for the tiny models shipped in public/ (work offline, used by tests and the demo). */
  builtIn: boolean;
  files: ModelFile[];
  embeddings?: EmbeddingsSpec;
  /** Unix seconds; Model.created in the API. */
  created: number;
}

/**
 * The shape of catalog data: what a model is, which engine runs it, and which files it needs.
 * The catalog itself (catalog.ts) is plain data of these types; nothing else switches on model ids.
 */

/**
 * The kinds of engine a catalog entry can name (`CatalogEntry.kind`): the model kinds of the engines' kinds table,
 * which declares them into this interface (src/engines/kinds.ts; this layer cannot import the engines). Its keys are
 * the kinds: 'embeddings', 'llm', 'image'.
 */
export interface ModelKinds {}
export type ModelKind = keyof ModelKinds;

/** One file a model needs. `url` is absolute (Hugging Face) or same-origin relative (built-in models under /models/). */
export interface ModelFile {
  /** Logical role the engine asks for, e.g. 'model', 'tokenizer', 'tokenizer_config'. */
  role: string;
  url: string;
  /** Size in bytes when known; downloads check it. */
  size?: number;
  /**
   * The size a listing shows rounded (Hugging Face's "10.3 GB") when the exact one is not known: used to refuse a model
   * that cannot fit before downloading it, never to verify a download.
   */
  listedSize?: number;
  /** Lower-case hex sha256 when known; downloads verify it before the file is stored. */
  sha256?: string;
  /** Files of one variant only (e.g. 'q4f16'); files without a variant are shared by all. */
  variant?: string;
  /** Fetched only when a request needs it (the safety checker): not part of a model's download or its state. */
  optional?: boolean;
  /**
   * This file holds the external data (weights) of the graph file with this role (`unet_data` → `unet`): exports over
   * 2 GB, whatever the file is called (`model.onnx_data` from Optimum, `model.onnx.data`, `weights.pb`). It is handed
   * to onnxruntime-web as its own file, never concatenated with the graph.
   */
  externalDataOf?: string;
  /** The name the graph's tensors give this external data file (their `location`); the URL's last segment by default. */
  dataPath?: string;
}

/** One external data file for onnxruntime-web, named as its graph refers to it: bytes, or a blob: URL it streams. */
export interface ExternalDataFile { path: string; data: Uint8Array | string }

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

/** One way to run an LLM: an ONNX export in one precision, or a web-llm (MLC) build. Tried in catalog order. */
export type LlmVariant =
  | {
    backend: 'onnx';
    /** Names the files of this variant (ModelFile.variant) and says what it is: 'q4f16', 'q4', 'fp32'. */
    name: string;
    /**
     * fp16 tensors: onnxruntime-web on WebGPU needs the `shader-f16` feature (skipped on adapters without it); Hearth's
     * WGSL decoder reads them on any adapter (float16 storage, float32 arithmetic).
     */
    requiresF16: boolean;
    /** Runs on the wasm backend too (no WebGPU-only ops; real fp16-arithmetic exports do not). */
    wasm: boolean;
  }
  | {
    backend: 'web-llm';
    name: string;
    /** web-llm's model_id in its prebuilt list (or in `appConfig` below). */
    mlcModelId: string;
    requiresF16: boolean;
    /** Self-hosted MLC builds: weights URL and model library URL (absolute or same-origin relative). */
    modelUrl?: string;
    modelLibUrl?: string;
  }
  | {
    /** A GGUF file (llama.cpp's format, the ModelFile of role 'gguf'), run by Hearth's WGSL decoder on WebGPU. */
    backend: 'gguf';
    name: string;
    requiresF16: false;
  };

export interface LlmSpec {
  /** Context window in tokens (prompt + completion). */
  contextLength: number;
  variants: LlmVariant[];
  /** The chat template renders `tools`, and its output format is known (see tool-calls.ts). */
  tools: boolean;
  /** Accepts image inputs. */
  vision: boolean;
  /** ONNX graph facts: layer count, KV heads and head size (from config.json), to build empty past tensors. */
  onnx?: { layers: number; kvHeads: number; headDim: number; vocabSize: number };
}

/** An SDXL- or SD-family pipeline: ONNX export parts, plus what the pipeline must know about them. */
export interface ImageSpec {
  /** Supported (width, height) pairs; the first is the default. */
  resolutions: [number, number][];
  /** VAE latent scaling (0.13025 for SDXL, 0.18215 for SD 1.x/2.x). */
  scalingFactor: number;
  /** SDXL base uses zero embeddings for an empty negative prompt; exports without that flag encode "". */
  zerosForEmptyPrompt: boolean;
  /** 'sdxl' (default): two text encoders, pooled `text_embeds` and `time_ids`. 'sd': SD 1.x/2.x, one text encoder
   * whose last_hidden_state conditions a UNet without added inputs. (The UNet's timestep dtype is read from it.) */
  family?: 'sdxl' | 'sd';
  /** 'dpmpp_2m_karras' (default, K_DPMPP_2M) or 'euler_trailing' (diffusers' Euler with trailing spacing: Turbo). */
  sampler?: 'dpmpp_2m_karras' | 'euler_trailing';
  /** cfg_scale when a request gives none (7 otherwise; Turbo models are meant for 0). */
  defaultCfgScale?: number;
  /** A cfg_scale ≤ 1 runs the UNet on the prompt alone, with no negative batch (diffusers' guidance_scale ≤ 1). */
  guidanceOffAtOrBelowOne?: boolean;
  /** An fp16 export: runs only on WebGPU adapters with `shader-f16` (not on wasm). */
  requiresF16?: boolean;
  /** A ControlNet (canny) ships with the model (files `controlnet` and `unet_controlnet`). */
  controlnet: boolean;
  /** Default steps when the request gives none (the spec's default is 50; turbo models want 1–4). */
  defaultSteps: number;
  /** The fewest `steps` a request may ask for, when below the spec's minimum of 10 (Turbo models: 1). */
  minSteps?: number;
}

export interface CatalogEntry {
  /** Canonical id, as listed by GET /models. */
  id: string;
  /** Other names that resolve to this entry (Fireworks ids and short names). */
  aliases: string[];
  kind: ModelKind;
  /** Which engine backend family loads it; for LLMs the variants list the backends in the order they are tried. */
  backend: 'onnx' | 'web-llm' | 'auto';
  ownedBy: string;
  description: string;
  /** True for the tiny models shipped in public/ (work offline, used by tests and the demo). */
  builtIn: boolean;
  /** Test models of real architectures with random weights: correct to the last token, but their output is noise. */
  randomWeights?: boolean;
  files: ModelFile[];
  embeddings?: EmbeddingsSpec;
  llm?: LlmSpec;
  image?: ImageSpec;
  /** Unix seconds; Model.created in the API. */
  created: number;
}

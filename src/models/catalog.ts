/**
 * The model catalog, as data: every model Hearth can serve, its Fireworks aliases, engine kind, backend and files.
 * Built-in tiny models ship in public/models/ (made by scripts/make_fixtures.py) and work offline; real models are
 * downloaded from Hugging Face by the same store and engine code. Nothing else in the project switches on model ids.
 */
import BUILTIN_MANIFEST from './builtin-manifest.json';
import type { CatalogEntry, EmbeddingsSpec, LlmVariant, ModelFile } from './types';

const HF = 'https://huggingface.co';

/*
 * Where the facts about real repositories come from (no network here: read through the search index of public
 * sources; anything not listed is unverified and said so next to the file):
 * [A] microsoft/onnxruntime-inference-examples js/sd-turbo/index.js: schmuell/sd-turbo-ort-web's parts
 *     (text_encoder, unet, vae_decoder model.onnx), input_ids int32, timestep int64 [1], out_sample, latent_sample →
 *     sample, sigma 14.6146 at timestep 999, VAE scaling 0.18215, and that it needs shader-f16.
 * [B] A public image-model catalog pinned to schmuell/sd-turbo-ort-web@ace89b7d2cd849f9a73914cdbb8a3ea60c853dd1 with
 *     exact byte sizes (its hashes are Blake3, not sha256, so none is given here).
 * [C] webmachinelearning/webnn-developer-preview demos/sdxl-turbo: microsoft/sdxl-turbo-webnn's parts, both text
 *     encoders and the VAE decoder with external data named model.onnx.data, the UNet in one 1.83 GB file, input_ids
 *     int32 (encoder 1) / int64 (encoder 2), outputs hidden_states.11 / hidden_states.31 + text_embeds, timestep
 *     float32 [1], out_sample; sizes as the demo lists them (rounded).
 * [D] Hugging Face file pages (rounded sizes, exact LFS sha256).
 * [E] Issue 12's reading of the repository listings (rounded sizes, names).
 * [F] onnx-community/Llama-3.2-1B-Instruct's onnx/ listing at c5b77c42b9a13105f54d55be507e1a65b5b8149b (rounded sizes).
 * [G] nomic-ai/nomic-embed-text-v1.5 onnx/model.onnx: 547,310,275 bytes and sha256 147d5aa8…, from two independent public
 *     manifests (a Homebrew formula pinning the file's full sha256; a model-provenance table that downloaded, sized and
 *     hashed it, matching the same prefix).
 * [H] onnx-community/Qwen2.5-0.5B-Instruct pinned at cc5cc01a65cc3ff17bdb73a7de33d879f62599b0 by several public apps;
 *     sizes as their manifests round them (q4f16 467.3 MiB, q4 ~750 MB).
 * Files under resolve/main are unpinned: a repository may change them; downloads still compare Content-Length, and
 * any size or sha256 given here, before a file is stored.
 */
const SDXL_BASE = `${HF}/stabilityai/stable-diffusion-xl-base-1.0/resolve/main`;
const SDXL_TURBO = `${HF}/stabilityai/sdxl-turbo/resolve/main`;
const SDXL_TURBO_WEBNN = `${HF}/microsoft/sdxl-turbo-webnn/resolve/main`;
const SD_TURBO_ORT = `${HF}/schmuell/sd-turbo-ort-web/resolve/ace89b7d2cd849f9a73914cdbb8a3ea60c853dd1`;
const LLAMA_32_1B_ONNX = `${HF}/onnx-community/Llama-3.2-1B-Instruct/resolve/c5b77c42b9a13105f54d55be507e1a65b5b8149b`;
const QWEN_25_05B_ONNX = `${HF}/onnx-community/Qwen2.5-0.5B-Instruct/resolve/cc5cc01a65cc3ff17bdb73a7de33d879f62599b0`;

const BERT_IO: Pick<EmbeddingsSpec, 'inputs' | 'output'> = {
  inputs: { inputIds: 'input_ids', attentionMask: 'attention_mask', tokenTypeIds: 'token_type_ids' },
  output: 'last_hidden_state',
};

const onnxEmbedderFiles = (base: string, model = 'onnx/model.onnx') => [
  { role: 'model', url: `${base}/${model}` },
  { role: 'tokenizer', url: `${base}/tokenizer.json` },
  { role: 'tokenizer_config', url: `${base}/tokenizer_config.json` },
];

/** The files of an onnx-community / transformers.js LLM export: shared config and tokenizer, one model file per variant. */
const onnxLlmFiles = (base: string, variants: Record<string, string>, tokenizerConfig = 'tokenizer_config.json'): ModelFile[] => [
  { role: 'tokenizer', url: `${base}/tokenizer.json` },
  { role: 'tokenizer_config', url: `${base}/${tokenizerConfig}` },
  { role: 'config', url: `${base}/config.json` },
  { role: 'generation_config', url: `${base}/generation_config.json` },
  ...Object.entries(variants).map(([variant, file]) => ({ role: 'model', url: `${base}/${file}`, variant })),
];

const onnx = (name: string, requiresF16: boolean): LlmVariant => ({ backend: 'onnx', name, requiresF16, wasm: !requiresF16 });
const mlc = (name: string, mlcModelId: string, requiresF16: boolean): LlmVariant => ({ backend: 'web-llm', name, mlcModelId, requiresF16 });

/** The files of an Optimum SDXL ONNX export (one folder per part). */
const sdxlFiles = (base: string, parts: { unet?: string; controlnet?: boolean; slowTokenizers?: boolean } = {}): ModelFile[] => [
  { role: 'text_encoder', url: `${base}/text_encoder/model.onnx` },
  { role: 'text_encoder_2', url: `${base}/text_encoder_2/model.onnx` },
  { role: 'unet', url: `${base}/${parts.unet ?? 'unet/model.onnx'}` },
  { role: 'vae_decoder', url: `${base}/vae_decoder/model.onnx` },
  { role: 'vae_encoder', url: `${base}/vae_encoder/model.onnx` },
  ...(parts.slowTokenizers ? [...slowTokenizer('tokenizer', `${base}/tokenizer`), ...slowTokenizer('tokenizer_2', `${base}/tokenizer_2`)] : [
    { role: 'tokenizer', url: `${base}/tokenizer/tokenizer.json` },
    { role: 'tokenizer_config', url: `${base}/tokenizer/tokenizer_config.json` },
    { role: 'tokenizer_2', url: `${base}/tokenizer_2/tokenizer.json` },
    { role: 'tokenizer_2_config', url: `${base}/tokenizer_2/tokenizer_config.json` },
  ]),
  { role: 'scheduler_config', url: `${base}/scheduler/scheduler_config.json` },
  ...(parts.controlnet ? [
    { role: 'controlnet', url: `${base}/controlnet/model.onnx` },
    { role: 'unet_controlnet', url: `${base}/unet/model_controlnet.onnx` },
  ] : []),
];

/** A graph file, with its external data file when it has one (`data`: the data file's name in the same folder). */
const graph = (role: string, url: string, data?: string): ModelFile[] => [
  { role, url },
  ...(data ? [{ role: `${role}_data`, url: `${url.slice(0, url.lastIndexOf('/') + 1)}${data}`, externalDataOf: role }] : []),
];

/** A CLIP tokenizer folder that has no tokenizer.json (vocab.json + merges.txt: clip-files.ts builds one). */
const slowTokenizer = (role: string, dir: string): ModelFile[] => [
  { role: `${role}_vocab`, url: `${dir}/vocab.json` },
  { role: `${role}_merges`, url: `${dir}/merges.txt` },
  { role: `${role}_config`, url: `${dir}/tokenizer_config.json` },
];

/**
 * The safety checker behind `safety_check: true`, fetched only when a request asks for it. SDXL ships none; the real
 * entries use diffusers' ONNX export of CompVis' StableDiffusionSafetyChecker (any image size: it sees a 224 crop).
 */
const safetyChecker = (model: string, preprocessor: string): ModelFile[] => [
  { role: 'safety_checker', url: model, optional: true },
  { role: 'safety_checker_config', url: preprocessor, optional: true },
];
const REAL_SAFETY_CHECKER = safetyChecker(
  `${HF}/onnx-community/stable-diffusion-v1-5-ONNX/resolve/main/safety_checker/model.onnx`,
  `${HF}/onnx-community/stable-diffusion-v1-5-ONNX/resolve/main/feature_extractor/preprocessor_config.json`,
);

/** The (width, height) pairs the spec lists for stable-diffusion-xl-1024-v1-0. */
const SDXL_RESOLUTIONS: [number, number][] = [
  [1024, 1024], [1152, 896], [896, 1152], [1216, 832], [832, 1216], [1344, 768], [768, 1344], [1536, 640], [640, 1536],
];

/** Built-in files get their exact size and sha256 from the manifest (scripts/builtin-manifest.mjs). */
const MANIFEST: Record<string, { size: number; sha256: string }> = BUILTIN_MANIFEST;
const checked = (entries: CatalogEntry[]): CatalogEntry[] => entries.map((e) => (e.builtIn
  ? { ...e, files: e.files.map((f) => ({ ...MANIFEST[f.url], ...f })) }
  : e));

export const CATALOG: readonly CatalogEntry[] = Object.freeze(checked([
  {
    id: 'hearth/tiny-embed',
    aliases: ['accounts/hearth/models/tiny-embed'],
    kind: 'embeddings',
    backend: 'onnx',
    ownedBy: 'hearth',
    description: 'Built-in tiny BERT embedder (random weights, 64 dims, mean pooling, Matryoshka): for tests and offline demos.',
    builtIn: true,
    randomWeights: true,
    created: 1764115200,
    files: onnxEmbedderFiles('models/hearth-tiny-embed', 'model.onnx'),
    embeddings: { hiddenSize: 64, maxTokens: 128, pooling: 'mean', normalize: true, matryoshka: true, ...BERT_IO },
  },
  {
    id: 'hearth/tiny-embed-cls',
    aliases: ['accounts/hearth/models/tiny-embed-cls'],
    kind: 'embeddings',
    backend: 'onnx',
    ownedBy: 'hearth',
    description: 'Built-in tiny BERT embedder (random weights, 32 dims, CLS pooling, no Matryoshka).',
    builtIn: true,
    randomWeights: true,
    created: 1764115200,
    files: onnxEmbedderFiles('models/hearth-tiny-embed-cls', 'model.onnx'),
    embeddings: { hiddenSize: 32, maxTokens: 64, pooling: 'cls', normalize: true, matryoshka: false, ...BERT_IO },
  },
  {
    id: 'nomic-ai/nomic-embed-text-v1.5',
    aliases: ['accounts/fireworks/models/nomic-embed-text-v1.5', 'nomic-embed-text-v1.5'],
    kind: 'embeddings',
    backend: 'onnx',
    ownedBy: 'nomic-ai',
    description: 'Nomic Embed v1.5 (768 dims, Matryoshka down to 64, 8192 tokens). Prefix inputs with "search_query: " or "search_document: ".',
    builtIn: false,
    created: 1707955200,
    // [G] the model file's exact size and sha256; the tokenizer files' are not known.
    files: onnxEmbedderFiles(`${HF}/nomic-ai/nomic-embed-text-v1.5/resolve/main`).map((f) => (f.role === 'model'
      ? { ...f, size: 547_310_275, sha256: '147d5aa88c2101237358e17796cf3a227cead1ec304ec34b465bb08e9d952965' } : f)),
    embeddings: { hiddenSize: 768, maxTokens: 8192, pooling: 'mean', normalize: true, matryoshka: true, ...BERT_IO },
  },
  {
    id: 'thenlper/gte-base',
    aliases: ['accounts/fireworks/models/gte-base', 'gte-base'],
    kind: 'embeddings',
    backend: 'onnx',
    ownedBy: 'thenlper',
    description: 'GTE base (768 dims, 512 tokens, mean pooling); ONNX export from Xenova/gte-base.',
    builtIn: false,
    created: 1690848000,
    files: onnxEmbedderFiles(`${HF}/Xenova/gte-base/resolve/main`),
    embeddings: { hiddenSize: 768, maxTokens: 512, pooling: 'mean', normalize: true, matryoshka: false, ...BERT_IO },
  },
  {
    id: 'hearth/tiny-llama',
    aliases: ['accounts/hearth/models/tiny-llama'],
    kind: 'llm',
    backend: 'onnx',
    ownedBy: 'hearth',
    description: 'Built-in tiny Llama decoder (random weights, 2 layers, real Llama-3 tokenizer and chat template): for tests and offline demos. Its text is gibberish.',
    builtIn: true,
    randomWeights: true,
    created: 1764115200,
    files: onnxLlmFiles('models/hearth-tiny-llama', { fp32: 'model.onnx' }),
    llm: { contextLength: 256, variants: [onnx('fp32', false)], tools: false, vision: false },
  },
  {
    id: 'hearth/tiny-llama-q4',
    aliases: ['accounts/hearth/models/tiny-llama-q4'],
    kind: 'llm',
    backend: 'onnx',
    ownedBy: 'hearth',
    description: 'The tiny Llama with 4-bit weights (MatMulNBits), the quantisation real ONNX LLMs use.',
    builtIn: true,
    randomWeights: true,
    created: 1764115200,
    files: onnxLlmFiles('models/hearth-tiny-llama', { q4: 'model_q4.onnx' }),
    llm: { contextLength: 256, variants: [onnx('q4', false)], tools: false, vision: false },
  },
  {
    id: 'hearth/tiny-llama-q4f16',
    aliases: ['accounts/hearth/models/tiny-llama-q4f16'],
    kind: 'llm',
    backend: 'onnx',
    ownedBy: 'hearth',
    description: 'The tiny Llama in the I/O layout of onnx-community q4f16 exports: float16 past_key_values, present and logits (4-bit weights, fp16 embedding). Its arithmetic stays fp32, so it also runs on wasm; on WebGPU its float16 tensors need shader-f16.',
    builtIn: true,
    randomWeights: true,
    created: 1764115200,
    files: onnxLlmFiles('models/hearth-tiny-llama', { q4f16: 'model_q4f16.onnx' }),
    llm: { contextLength: 256, variants: [{ backend: 'onnx', name: 'q4f16', requiresF16: true, wasm: true }], tools: false, vision: false },
  },
  {
    id: 'hearth/tiny-llama-tools',
    aliases: ['accounts/hearth/models/tiny-llama-tools'],
    kind: 'llm',
    backend: 'onnx',
    ownedBy: 'hearth',
    description: 'The tiny Llama with a Llama-3.1-style tool-calling chat template: for function-calling tests.',
    builtIn: true,
    randomWeights: true,
    created: 1764115200,
    files: onnxLlmFiles('models/hearth-tiny-llama', { fp32: 'model.onnx' }, 'tokenizer_config_tools.json'),
    llm: { contextLength: 256, variants: [onnx('fp32', false)], tools: true, vision: false },
  },
  {
    id: 'hearth/stories260k',
    aliases: ['accounts/hearth/models/stories260k'],
    kind: 'llm',
    backend: 'onnx',
    ownedBy: 'karpathy',
    description: "Built-in real, trained model: Karpathy's TinyStories stories260K from llama2.c (MIT; 260K parameters, 5 layers, 512-token vocabulary), imported by scripts/import_llama2c.py. It continues simple children's stories in English (try \"Once upon a time\"); not a chat model: chat uses the last user message as the story's beginning.",
    builtIn: true,
    created: 1690848000,
    files: onnxLlmFiles('models/hearth-stories260k', { fp32: 'model.onnx' }),
    llm: { contextLength: 512, variants: [onnx('fp32', false)], tools: false, vision: false },
  },
  {
    id: 'hearth/stories260k-q4',
    aliases: ['accounts/hearth/models/stories260k-q4'],
    kind: 'llm',
    backend: 'onnx',
    ownedBy: 'karpathy',
    description: 'stories260K with 4-bit weights (MatMulNBits, block 32): its greedy story equals the fp32 one.',
    builtIn: true,
    created: 1690848000,
    files: onnxLlmFiles('models/hearth-stories260k', { q4: 'model_q4.onnx' }),
    llm: { contextLength: 512, variants: [onnx('q4', false)], tools: false, vision: false },
  },
  {
    id: 'meta-llama/Llama-3.2-1B-Instruct',
    aliases: ['accounts/fireworks/models/llama-v3p2-1b-instruct', 'llama-v3p2-1b-instruct'],
    kind: 'llm',
    backend: 'auto',
    ownedBy: 'meta-llama',
    description: 'Llama 3.2 1B Instruct: web-llm (MLC) on WebGPU, else the onnx-community ONNX export (q4f16 on Hearth\'s WGSL decoder on any WebGPU adapter, or on onnxruntime-web with shader-f16; q4 otherwise, also on wasm).',
    builtIn: false,
    created: 1727222400,
    // [F] pinned to the listed revision: model_q4f16.onnx 1.07 GB and model_q4.onnx 1.66 GB, one file each (rounded);
    // other sizes not verified.
    files: onnxLlmFiles(LLAMA_32_1B_ONNX, { q4f16: 'onnx/model_q4f16.onnx', q4: 'onnx/model_q4.onnx' })
      .map((f) => (f.variant ? { ...f, listedSize: f.variant === 'q4f16' ? 1_070_000_000 : 1_660_000_000 } : f)),
    llm: {
      contextLength: 4096,
      variants: [
        mlc('q4f16_1', 'Llama-3.2-1B-Instruct-q4f16_1-MLC', true),
        mlc('q4f32_1', 'Llama-3.2-1B-Instruct-q4f32_1-MLC', false),
        onnx('q4f16', true),
        onnx('q4', false),
      ],
      tools: true,
      vision: false,
    },
  },
  {
    id: 'Qwen/Qwen2.5-0.5B-Instruct',
    aliases: ['accounts/fireworks/models/qwen2p5-0p5b-instruct', 'qwen2p5-0p5b-instruct'],
    kind: 'llm',
    backend: 'auto',
    ownedBy: 'Qwen',
    description: 'Qwen2.5 0.5B Instruct: web-llm (MLC) on WebGPU, else the onnx-community ONNX export.',
    builtIn: false,
    created: 1726531200,
    // [H] pinned revision; model sizes as listed (rounded), other sizes not verified.
    files: onnxLlmFiles(QWEN_25_05B_ONNX, { q4f16: 'onnx/model_q4f16.onnx', q4: 'onnx/model_q4.onnx' })
      .map((f) => (f.variant ? { ...f, listedSize: f.variant === 'q4f16' ? 490_000_000 : 750_000_000 } : f)),
    llm: {
      contextLength: 4096,
      variants: [
        mlc('q4f16_1', 'Qwen2.5-0.5B-Instruct-q4f16_1-MLC', true),
        mlc('q4f32_1', 'Qwen2.5-0.5B-Instruct-q4f32_1-MLC', false),
        onnx('q4f16', true),
        onnx('q4', false),
      ],
      tools: true,
      vision: false,
    },
  },
  {
    id: 'hearth/tiny-sdxl',
    aliases: ['accounts/hearth/models/tiny-sdxl'],
    kind: 'image',
    backend: 'onnx',
    ownedBy: 'hearth',
    description: 'Built-in tiny SDXL (random weights, every part of the real pipeline incl. ControlNet, 64–128 px): for tests and offline demos. Its images are coloured noise.',
    builtIn: true,
    randomWeights: true,
    created: 1764115200,
    files: [
      ...sdxlFiles('models/hearth-tiny-sdxl', { controlnet: true }),
      ...safetyChecker('models/hearth-tiny-sdxl/safety_checker/model.onnx', 'models/hearth-tiny-sdxl/safety_checker/preprocessor_config.json'),
    ],
    image: {
      resolutions: [[64, 64], [72, 56], [56, 72], [128, 128]],
      scalingFactor: 0.13025, zerosForEmptyPrompt: false, controlnet: true, defaultSteps: 10,
    },
  },
  {
    id: 'hearth/tiny-sdxl-turbo',
    aliases: ['accounts/hearth/models/tiny-sdxl-turbo'],
    kind: 'image',
    backend: 'onnx',
    ownedBy: 'hearth',
    description: 'Built-in tiny SDXL-Turbo in the layout of microsoft/sdxl-turbo-webnn (int32 ids, one hidden state per text encoder, model.onnx.data external data, float32 [1] timestep) with stabilityai/sdxl-turbo\'s tokenizer folders (vocab.json + merges.txt only) and a VAE encoder emitting latent_sample. Random weights: for tests.',
    builtIn: true,
    randomWeights: true,
    created: 1764115200,
    files: [
      ...graph('text_encoder', 'models/hearth-tiny-sdxl-turbo/text_encoder/model.onnx', 'model.onnx.data'),
      ...graph('text_encoder_2', 'models/hearth-tiny-sdxl-turbo/text_encoder_2/model.onnx', 'model.onnx.data'),
      ...graph('unet', 'models/hearth-tiny-sdxl-turbo/unet/model.onnx'),
      ...graph('vae_decoder', 'models/hearth-tiny-sdxl-turbo/vae_decoder/model.onnx', 'model.onnx.data'),
      ...graph('vae_encoder', 'models/hearth-tiny-sdxl-turbo/vae_encoder/model.onnx'),
      ...slowTokenizer('tokenizer', 'models/hearth-tiny-sdxl-turbo/tokenizer'),
      ...slowTokenizer('tokenizer_2', 'models/hearth-tiny-sdxl-turbo/tokenizer_2'),
      { role: 'scheduler_config', url: 'models/hearth-tiny-sdxl-turbo/scheduler/scheduler_config.json' },
    ],
    image: {
      resolutions: [[64, 64], [128, 128]], scalingFactor: 0.13025, zerosForEmptyPrompt: true, controlnet: false, defaultSteps: 1, minSteps: 1,
      sampler: 'euler_trailing', defaultCfgScale: 0, guidanceOffAtOrBelowOne: true,
    },
  },
  {
    id: 'hearth/tiny-sd-turbo',
    aliases: ['accounts/hearth/models/tiny-sd-turbo'],
    kind: 'image',
    backend: 'onnx',
    ownedBy: 'hearth',
    description: 'Built-in tiny SD-Turbo (SD 2.1 pipeline: one text encoder, no added time ids, int64 timestep) in the layout of schmuell/sd-turbo-ort-web, tokenizer from vocab.json + merges.txt, UNet weights in weights.pb. Random weights: for tests.',
    builtIn: true,
    randomWeights: true,
    created: 1764115200,
    files: [
      ...graph('text_encoder', 'models/hearth-tiny-sd-turbo/text_encoder/model.onnx'),
      ...graph('unet', 'models/hearth-tiny-sd-turbo/unet/model.onnx', 'weights.pb'),
      ...graph('vae_decoder', 'models/hearth-tiny-sd-turbo/vae_decoder/model.onnx'),
      ...slowTokenizer('tokenizer', 'models/hearth-tiny-sd-turbo/tokenizer'),
      { role: 'scheduler_config', url: 'models/hearth-tiny-sd-turbo/scheduler/scheduler_config.json' },
    ],
    image: {
      resolutions: [[64, 64], [128, 128]], scalingFactor: 0.18215, zerosForEmptyPrompt: false, controlnet: false, defaultSteps: 1, minSteps: 1,
      family: 'sd', sampler: 'euler_trailing', defaultCfgScale: 0, guidanceOffAtOrBelowOne: true,
    },
  },
  {
    id: 'stable-diffusion-xl-1024-v1-0',
    aliases: ['accounts/fireworks/models/stable-diffusion-xl-1024-v1-0', 'stabilityai/stable-diffusion-xl-base-1.0'],
    kind: 'image',
    backend: 'onnx',
    ownedBy: 'stabilityai',
    description: 'SDXL base 1.0 (Fireworks\' default image model). Its only ONNX export in the Stability repository is fp32: the UNet\'s weights alone are 10.3 GB, over the 4 GiB a browser\'s WebAssembly heap can load, so it is refused before download here and needs a remote backend; no fp16/int4 SDXL 1.0 export that fits has been verified. For local images use SDXL-Turbo or SD-Turbo.',
    builtIn: false,
    created: 1690502400,
    files: [
      // [E] tokenizer folders hold vocab.json + merges.txt, no tokenizer.json.
      ...sdxlFiles(SDXL_BASE, { slowTokenizers: true }).map((f) => (f.role === 'unet'
        ? { ...f, listedSize: 7_290_000, sha256: '6f001c090fb13c0d0f8b0a5916da814712a94400b99471fabe77c1c4a51ecaaf' } : f)),
      // [D] 10.3 GB, LFS sha256 from the file page of a "Duplicate from stabilityai/stable-diffusion-xl-base-1.0" repo.
      { role: 'unet_data', url: `${SDXL_BASE}/unet/model.onnx_data`, externalDataOf: 'unet', listedSize: 10_300_000_000,
        sha256: '7905b71f0044c5ea8fea8ca0451bd73cad53492ad50f964c49c3ff9250afa350' },
      // [E] 2.78 GB, as issue 12 read it from the repository listing.
      { role: 'text_encoder_2_data', url: `${SDXL_BASE}/text_encoder_2/model.onnx_data`, externalDataOf: 'text_encoder_2', listedSize: 2_780_000_000 },
      ...REAL_SAFETY_CHECKER,
    ],
    image: { resolutions: SDXL_RESOLUTIONS, scalingFactor: 0.13025, zerosForEmptyPrompt: true, controlnet: false, defaultSteps: 50 },
  },
  {
    id: 'stabilityai/sdxl-turbo',
    aliases: ['sdxl-turbo'],
    kind: 'image',
    backend: 'onnx',
    ownedBy: 'stabilityai',
    description: 'SDXL-Turbo (1–4 steps, 512×512, guidance off at cfg_scale ≤ 1) from microsoft/sdxl-turbo-webnn, the fp16 export the WebNN developer preview runs (~2.5 GB: UNet 1.83 GB in one file), with stabilityai/sdxl-turbo\'s tokenizers, VAE encoder and scheduler. Needs WebGPU with shader-f16. Verified here only through a fixture of its layout (hearth/tiny-sdxl-turbo).',
    builtIn: false,
    created: 1700697600,
    files: [
      // [C] parts, names and external data names; sizes as the demo lists them (model + data together).
      { role: 'text_encoder', url: `${SDXL_TURBO_WEBNN}/text_encoder/model.onnx` },
      { role: 'text_encoder_data', url: `${SDXL_TURBO_WEBNN}/text_encoder/model.onnx.data`, externalDataOf: 'text_encoder', listedSize: 118_000_000 },
      { role: 'text_encoder_2', url: `${SDXL_TURBO_WEBNN}/text_encoder_2/model.onnx` },
      { role: 'text_encoder_2_data', url: `${SDXL_TURBO_WEBNN}/text_encoder_2/model.onnx.data`, externalDataOf: 'text_encoder_2', listedSize: 461_000_000 },
      { role: 'unet', url: `${SDXL_TURBO_WEBNN}/unet/model.onnx`, listedSize: 1_830_000_000 },
      { role: 'vae_decoder', url: `${SDXL_TURBO_WEBNN}/vae_decoder/model.onnx` },
      { role: 'vae_decoder_data', url: `${SDXL_TURBO_WEBNN}/vae_decoder/model.onnx.data`, externalDataOf: 'vae_decoder', listedSize: 96_200_000 },
      // [E] the Optimum fp32 VAE encoder of stabilityai/sdxl-turbo (2023: its output is latent_sample); size not verified.
      { role: 'vae_encoder', url: `${SDXL_TURBO}/vae_encoder/model.onnx` },
      // [E] tokenizer folders hold vocab.json + merges.txt (no tokenizer.json); sizes not verified.
      ...slowTokenizer('tokenizer', `${SDXL_TURBO}/tokenizer`),
      ...slowTokenizer('tokenizer_2', `${SDXL_TURBO}/tokenizer_2`),
      { role: 'scheduler_config', url: `${SDXL_TURBO}/scheduler/scheduler_config.json` },
      ...REAL_SAFETY_CHECKER,
    ],
    image: {
      resolutions: [[512, 512]], scalingFactor: 0.13025, zerosForEmptyPrompt: true, controlnet: false, defaultSteps: 1, minSteps: 1,
      sampler: 'euler_trailing', defaultCfgScale: 0, guidanceOffAtOrBelowOne: true, requiresF16: true,
    },
  },
  {
    id: 'stabilityai/sd-turbo',
    aliases: ['sd-turbo'],
    kind: 'image',
    backend: 'onnx',
    ownedBy: 'stabilityai',
    description: 'SD-Turbo (SD 2.1 distilled: 1–4 steps, 512×512, one text encoder, guidance off at cfg_scale ≤ 1) from schmuell/sd-turbo-ort-web, the fp16 export behind onnxruntime-web\'s own SD-Turbo example (2.51 GB, every file under 2 GB, no external data). Needs WebGPU with shader-f16. Verified here only through a fixture of its layout (hearth/tiny-sd-turbo).',
    builtIn: false,
    created: 1701129600,
    files: [
      // [B] exact sizes at the pinned revision; [A] the parts and their I/O.
      { role: 'text_encoder', url: `${SD_TURBO_ORT}/text_encoder/model.onnx`, size: 681_393_168 },
      { role: 'unet', url: `${SD_TURBO_ORT}/unet/model.onnx`, size: 1_733_430_199 },
      { role: 'vae_decoder', url: `${SD_TURBO_ORT}/vae_decoder/model.onnx`, size: 99_094_314 },
      { role: 'tokenizer_vocab', url: `${SD_TURBO_ORT}/tokenizer/vocab.json`, size: 1_059_962 },
      { role: 'tokenizer_merges', url: `${SD_TURBO_ORT}/tokenizer/merges.txt`, size: 524_619 },
      { role: 'tokenizer_config', url: `${SD_TURBO_ORT}/tokenizer/tokenizer_config.json`, size: 855 },
      // The ORT repository has no scheduler folder: stabilityai/sd-turbo's config (trailing Euler); size not verified.
      { role: 'scheduler_config', url: `${HF}/stabilityai/sd-turbo/resolve/main/scheduler/scheduler_config.json` },
      ...REAL_SAFETY_CHECKER,
    ],
    image: {
      resolutions: [[512, 512]], scalingFactor: 0.18215, zerosForEmptyPrompt: false, controlnet: false, defaultSteps: 1, minSteps: 1,
      family: 'sd', sampler: 'euler_trailing', defaultCfgScale: 0, guidanceOffAtOrBelowOne: true, requiresF16: true,
    },
  },
] satisfies CatalogEntry[]));

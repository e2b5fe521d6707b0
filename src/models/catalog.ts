/**
 * The model catalog, as data: every model Hearth can serve, its Fireworks aliases, engine kind, backend and files.
 * Built-in tiny models ship in public/models/ (made by scripts/make_fixtures.py) and work offline; real models are
 * downloaded from Hugging Face by the same store and engine code. Nothing else in the project switches on model ids.
 */
import type { CatalogEntry, EmbeddingsSpec } from './types';

const HF = 'https://huggingface.co';

const BERT_IO: Pick<EmbeddingsSpec, 'inputs' | 'output'> = {
  inputs: { inputIds: 'input_ids', attentionMask: 'attention_mask', tokenTypeIds: 'token_type_ids' },
  output: 'last_hidden_state',
};

const onnxEmbedderFiles = (base: string, model = 'onnx/model.onnx') => [
  { role: 'model', url: `${base}/${model}` },
  { role: 'tokenizer', url: `${base}/tokenizer.json` },
  { role: 'tokenizer_config', url: `${base}/tokenizer_config.json` },
];

export const CATALOG: readonly CatalogEntry[] = Object.freeze([
  {
    id: 'hearth/tiny-embed',
    aliases: ['accounts/hearth/models/tiny-embed'],
    kind: 'embeddings',
    backend: 'onnx',
    ownedBy: 'hearth',
    description: 'Built-in tiny BERT embedder (random weights, 64 dims, mean pooling, Matryoshka): for tests and offline demos.',
    builtIn: true,
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
    files: onnxEmbedderFiles(`${HF}/nomic-ai/nomic-embed-text-v1.5/resolve/main`),
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
] satisfies CatalogEntry[]);

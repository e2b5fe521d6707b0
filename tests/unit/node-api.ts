/**
 * The real API, assembled in Node: the same createApi, registry and EmbeddingsService the browser uses, with
 * onnxruntime-web's wasm backend and model files read from public/ (where the browser would download them).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-web';
import { unavailable } from '../../src/api/errors';
import { createApi, type Handle } from '../../src/api/handle';
import type { ApiDeps } from '../../src/api/types';
import { EmbeddingsService } from '../../src/engines/embeddings/service';
import { LlmService, type LlmServiceOptions } from '../../src/engines/llm/service';
import { loadedModels } from '../../src/engines/loaded';
import { filesFor } from '../../src/models/store';
import { ModelRegistry } from '../../src/models/registry';
import type { CatalogEntry } from '../../src/models/types';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const readJson = <T = unknown>(rel: string): T => JSON.parse(readFileSync(ROOT + rel, 'utf8')) as T;

ort.env.wasm.numThreads = 1;

function readFile(entry: CatalogEntry, role: string, variant?: string): Uint8Array {
  const file = filesFor(entry, variant).find((f) => f.role === role)!;
  if (/^https?:/.test(file.url)) throw new Error(`${entry.id} is not a built-in model (${file.url})`);
  return new Uint8Array(readFileSync(`${ROOT}public/${file.url}`));
}

const readJsonFile = (entry: CatalogEntry, role: string, variant?: string): object =>
  JSON.parse(new TextDecoder().decode(readFile(entry, role, variant))) as object;

/** A built-in LLM's files, read from public/. */
export const nodeLlmFiles: LlmServiceOptions['loadFiles'] = async (entry, variant) => ({
  model: readFile(entry, 'model', variant),
  tokenizer: readJsonFile(entry, 'tokenizer', variant),
  tokenizerConfig: readJsonFile(entry, 'tokenizer_config', variant),
  config: readJsonFile(entry, 'config', variant),
  generationConfig: readJsonFile(entry, 'generation_config', variant),
});

/** The LLM engine on wasm in Node (or as `options` say), reading built-in model files from public/. */
export function nodeLlm(options: Partial<LlmServiceOptions> = {}): LlmService {
  return new LlmService({ ort, devices: ['wasm'], hasShaderF16: async () => false, loadFiles: nodeLlmFiles, ...options });
}

export function nodeApi(overrides: Partial<ApiDeps> = {}, llm: LlmService = nodeLlm()): { handle: Handle; service: EmbeddingsService; llm: LlmService } {
  const service = new EmbeddingsService(ort, async (entry) => ({
    model: readFile(entry, 'model'),
    tokenizer: JSON.parse(new TextDecoder().decode(readFile(entry, 'tokenizer'))) as object,
    tokenizerConfig: JSON.parse(new TextDecoder().decode(readFile(entry, 'tokenizer_config'))) as object,
  }), ['wasm']);
  const handle = createApi({
    registry: new ModelRegistry(),
    engines: {
      embeddings: async () => service,
      llm: async () => llm,
      image: async () => {
        throw unavailable('The image engine needs OffscreenCanvas: it is tested in the browser', 'no_image_engine');
      },
      loaded: () => loadedModels(service, llm),
    },
    isDownloaded: async (e) => e.builtIn,
    ...overrides,
  });
  return { handle, service, llm };
}

export const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  new Request(`http://localhost/inference/v1${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

export const get = (path: string, headers: Record<string, string> = {}) =>
  new Request(`http://localhost/inference/v1${path}`, { headers });

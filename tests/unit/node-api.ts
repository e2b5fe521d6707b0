/**
 * The real API, assembled in Node: the same createApi, registry and EmbeddingsService the browser uses, with
 * onnxruntime-web's wasm backend and model files read from public/ (where the browser would download them).
 * `nodeImage()` is the image engine for Node (PNG encoding by tests/clients/png.ts instead of a canvas).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-web';
import { unavailable } from '../../src/api/errors';
import { createApi, type Handle } from '../../src/api/handle';
import type { ApiDeps } from '../../src/api/types';
import { EmbeddingsService } from '../../src/engines/embeddings/service';
import { cannyReference } from '../../src/engines/sdxl/canny-reference';
import type { SchedulerConfig } from '../../src/engines/sdxl/scheduler';
import { SdxlService, type SdxlFiles } from '../../src/engines/sdxl/service';
import { LlmService } from '../../src/engines/llm/service';
import { loadedModels } from '../../src/engines/loaded';
import { filesFor } from '../../src/models/store';
import { ModelRegistry } from '../../src/models/registry';
import type { CatalogEntry } from '../../src/models/types';
import { encodePng } from '../clients/png';

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

/** The LLM engine on wasm in Node, reading built-in model files from public/. */
export function nodeLlm(): LlmService {
  return new LlmService({
    ort,
    devices: ['wasm'],
    hasShaderF16: async () => false,
    loadFiles: async (entry, variant) => ({
      model: readFile(entry, 'model', variant),
      tokenizer: readJsonFile(entry, 'tokenizer', variant),
      tokenizerConfig: readJsonFile(entry, 'tokenizer_config', variant),
      config: readJsonFile(entry, 'config', variant),
      generationConfig: readJsonFile(entry, 'generation_config', variant),
    }),
  });
}

/** A built-in SDXL's files from public/, as the image worker would get them from the store. */
export async function sdxlFilesFromPublic(entry: CatalogEntry): Promise<SdxlFiles> {
  const models: Record<string, Uint8Array> = {};
  for (const part of ['text_encoder', 'text_encoder_2', 'unet', 'vae_decoder', 'vae_encoder', 'controlnet', 'unet_controlnet']) {
    if (entry.files.some((f) => f.role === part)) models[part] = readFile(entry, part);
  }
  return {
    models, externalData: {},
    tokenizer: readJsonFile(entry, 'tokenizer'), tokenizerConfig: readJsonFile(entry, 'tokenizer_config'),
    tokenizer2: readJsonFile(entry, 'tokenizer_2'), tokenizer2Config: readJsonFile(entry, 'tokenizer_2_config'),
    schedulerConfig: readJsonFile(entry, 'scheduler_config') as SchedulerConfig,
  };
}

/** The image engine on wasm in Node: text-to-image with PNG output (no canvas, so no input-image decoding). */
export function nodeImage(): SdxlService {
  return new SdxlService({
    ort, devices: ['wasm'], loadFiles: sdxlFilesFromPublic,
    codec: {
      decode: async () => { throw new Error('decoding input images needs a canvas: tested in the browser'); },
      encode: async (img, type) => {
        if (type !== 'image/png') throw new Error(`Node tests encode PNG only, not ${type}`);
        return encodePng(img.data, img.width, img.height).slice().buffer;
      },
    },
    canny: async (rgba, w, h, low, high) => { const r = cannyReference(rgba, w, h, { low, high }); return { chw: r.chw, rgba: r.edges }; },
  });
}

/** `engines` replaces single engine getters (e.g. `{ image: async () => nodeImage() }`); `overrides` any other dep. */
export function nodeApi(overrides: Partial<ApiDeps> = {}, engines: Partial<ApiDeps['engines']> = {}): { handle: Handle; service: EmbeddingsService; llm: LlmService } {
  const service = new EmbeddingsService(ort, async (entry) => ({
    model: readFile(entry, 'model'),
    tokenizer: JSON.parse(new TextDecoder().decode(readFile(entry, 'tokenizer'))) as object,
    tokenizerConfig: JSON.parse(new TextDecoder().decode(readFile(entry, 'tokenizer_config'))) as object,
  }), ['wasm']);
  const llm = nodeLlm();
  const handle = createApi({
    registry: new ModelRegistry(),
    engines: {
      embeddings: async () => service,
      llm: async () => llm,
      image: async () => {
        throw unavailable('The image engine needs OffscreenCanvas: it is tested in the browser', 'no_image_engine');
      },
      loaded: () => loadedModels(service, llm),
      ...engines,
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

/**
 * The real API, assembled in Node for the unit tests: the same createApi and registry the browser uses, with the
 * engines `hearth serve` runs (src/server/node-engines.ts: onnxruntime-web's wasm backend, model files read from
 * public/, where the browser would download them).
 * `nodeImage()` is the image engine alone (PNG/JPEG coded without a canvas).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createApi, type Handle } from '../../src/api/handle';
import type { ApiDeps } from '../../src/api/types';
import * as ort from 'onnxruntime-web';
import { LlmService, type LlmServiceOptions } from '../../src/engines/llm/service';
import { createImageService, type ImageService } from '../../src/engines/image/service';
import { ModelRegistry } from '../../src/models/registry';
import { directoryFiles } from '../../src/server/model-files';
import { createNodeEngines, llmFiles, nodeEnvironment, type NodeEngines } from '../../src/server/node-engines';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const readJson = <T = unknown>(rel: string): T => JSON.parse(readFileSync(ROOT + rel, 'utf8')) as T;

/** The engines on wasm in Node, reading built-in model files from public/. */
export const nodeEngines = (): NodeEngines => createNodeEngines(directoryFiles(`${ROOT}public`));

/** A built-in LLM's files, read from public/. */
export const nodeLlmFiles: LlmServiceOptions['loadFiles'] = llmFiles(directoryFiles(`${ROOT}public`));

/** The LLM engine on wasm in Node (or as `options` say), reading built-in model files from public/. */
export function nodeLlm(options: Partial<LlmServiceOptions> = {}): LlmService {
  return new LlmService({ ort, devices: ['wasm'], hasShaderF16: async () => false, loadFiles: nodeLlmFiles, ...options });
}

/** The image engine on wasm in Node (the tiny SDXL and its kin from public/). */
export const nodeImage = (): ImageService => createImageService(nodeEnvironment(directoryFiles(`${ROOT}public`)));

/**
 * The API in Node. `engines` replaces single engine getters (e.g. `{ image: async () => nodeImage() }`), or is an
 * LLM engine of the caller's making (`nodeLlm({...})`) that also reports in GET /models.
 */
export function nodeApi(overrides: Partial<ApiDeps> = {}, engineOverrides: Partial<ApiDeps['engines']> | LlmService = {}):
  { handle: Handle; engines: NodeEngines } {
  const llm = engineOverrides instanceof LlmService ? engineOverrides : undefined;
  const getters = engineOverrides instanceof LlmService ? {} : engineOverrides;
  const engines = createNodeEngines(directoryFiles(`${ROOT}public`), { engines: { llm } });
  const handle = createApi({
    registry: new ModelRegistry(), ...engines.deps, ...overrides,
    engines: { ...engines.deps.engines, ...getters, ...overrides.engines },
  });
  return { handle, engines };
}

export const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  new Request(`http://localhost/inference/v1${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

export const get = (path: string, headers: Record<string, string> = {}) =>
  new Request(`http://localhost/inference/v1${path}`, { headers });

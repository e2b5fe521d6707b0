/**
 * The engines in Node: the same EmbeddingsService, LlmService and ImageService the browser's workers run, on the
 * ONNX Runtime node-runtime.ts chose (onnxruntime-node on CPU/CUDA for `hearth serve`; onnxruntime-web's wasm build,
 * single-threaded, by default and for the Node tests), reading model files from a directory (model-files.ts) and
 * coding images without a canvas (image-codec.ts). `hearth serve` and the Node tests build their API from this.
 * Node's counterpart of the browser's worker entries is one factory per kind of the kinds table
 * (src/engines/kinds.ts), demanded by the compiler; the API's engine getters are derived from them.
 */
import { nextTurn } from '../core/deferred';
import type { ApiDeps } from '../api/types';
import { createEmbeddingsService, type EmbeddingsService } from '../engines/embeddings/service';
import { ENGINE_KINDS, perModelKind, type EngineInterfaces, type Engines, type ModelKind } from '../engines/kinds';
import { loadedModels } from '../engines/loaded';
import { readLlmFiles } from '../engines/llm/files';
import { createLlmService, type LlmService, type LlmServiceOptions } from '../engines/llm/service';
import type { ModelFiles } from '../engines/model-files';
import { cpuCanny } from '../engines/image/edges';
import { createImageService, type ImageService } from '../engines/image/service';
import { nodeCodec } from './image-codec';
import type { ModelDirectory } from './model-files';
import { WASM_RUNTIME, type NodeRuntime } from './node-runtime';

export interface NodeEngines {
  /** The ONNX Runtime and devices the engines run on. */
  runtime: NodeRuntime;
  embeddings: EmbeddingsService;
  llm: LlmService;
  /** Created on first use (it is the heaviest). */
  image(): ImageService;
  /** What ApiDeps needs: the engines and whether a model's files are present. */
  deps: Pick<ApiDeps, 'engines' | 'isDownloaded'>;
}

/**
 * In Node the engines run on the server's own thread and their loops never wait for I/O, so a client's disconnect
 * would only be noticed after the whole job. Each event of a generation is therefore handed out after one turn of
 * the event loop: other requests progress between tokens or steps, and a cancel arrives while the job still runs.
 */
function yielding<E extends { run(job: never, signal?: AbortSignal): Promise<ReadableStream<unknown>> }>(engine: E): E {
  return new Proxy(engine, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (prop !== 'run') return typeof value === 'function' ? value.bind(target) : value;
      return async (job: never, signal?: AbortSignal) => {
        const reader = (await target.run(job, signal)).getReader();
        return new ReadableStream({
          async pull(controller) {
            await nextTurn();
            const { value: event, done } = await reader.read();
            if (done) controller.close();
            else controller.enqueue(event);
          },
          cancel: (reason) => reader.cancel(reason),
        }, { highWaterMark: 0 });
      };
    },
  });
}

/** An LLM's files (by variant) from a model directory, as LlmService loads them. */
export function llmFiles(files: ModelFiles): LlmServiceOptions['loadFiles'] {
  return (entry, variant) => readLlmFiles(entry, variant, files);
}

/**
 * `runtime`: the ONNX Runtime and devices (default: onnxruntime-web's wasm build; `await nodeRuntime()` for
 * onnxruntime-node). `llm`: an LLM engine of the caller's making (e.g. with the WGSL decoder on a Dawn device).
 */
export function createNodeEngines(files: ModelDirectory, options: { llm?: LlmService; runtime?: NodeRuntime } = {}): NodeEngines {
  const runtime = options.runtime ?? WASM_RUNTIME;
  const { ort, devices } = runtime;
  /** Per kind, its engine as Node builds it. */
  const create = {
    embeddings: () => createEmbeddingsService({ ort, files, devices }),
    llm: () => options.llm ?? createLlmService({ ort, files, devices, hasShaderF16: async () => false }),
    image: () => createImageService({ ort, files, devices, codec: nodeCodec, canny: cpuCanny }),
  } satisfies { [K in ModelKind]: () => EngineInterfaces[K] };
  type Services = { [K in ModelKind]: ReturnType<(typeof create)[K]> };
  /** The engines created so far. */
  const started: Partial<Services> = {};
  const get = <K extends ModelKind>(kind: K): Services[K] => (started[kind] ??= create[kind]() as Services[K]) as Services[K];

  type Getters = { [K in ModelKind]: Engines[K] };
  return {
    // The embeddings and LLM engines are made at once (they cost nothing until a model loads), the image one on first use.
    runtime, embeddings: get('embeddings'), llm: get('llm'), image: () => get('image'),
    deps: {
      engines: {
        // A kind whose jobs answer streams (the kinds table) hands their events out one turn of the event loop apart.
        ...perModelKind<Getters>(<K extends ModelKind>(kind: K) => (ENGINE_KINDS[kind].answer === 'stream'
          ? async () => yielding(get(kind) as Parameters<typeof yielding>[0])
          : async () => get(kind)) as Getters[K]),
        loaded: () => loadedModels(started),
      },
      isDownloaded: (entry) => files.isPresent(entry),
    },
  };
}

/**
 * The engines in Node: the same EmbeddingsService, LlmService and SdxlService the browser's workers run, on the
 * ONNX Runtime node-runtime.ts chose (onnxruntime-node on CPU/CUDA for `hearth serve`; onnxruntime-web's wasm build,
 * single-threaded, by default and for the Node tests), reading model files from a directory (model-files.ts) and
 * coding images without a canvas (image-codec.ts). `hearth serve` and the Node tests build their API from this.
 */
import type { ApiDeps } from '../api/types';
import { createEmbeddingsService, type EmbeddingsService } from '../engines/embeddings/service';
import { loadedModels } from '../engines/loaded';
import { readLlmFiles } from '../engines/llm/files';
import { createLlmService, type LlmService, type LlmServiceOptions } from '../engines/llm/service';
import type { ModelFiles } from '../engines/model-files';
import { cpuCanny } from '../engines/sdxl/edges';
import { createSdxlService, type SdxlService } from '../engines/sdxl/service';
import { nodeCodec } from './image-codec';
import type { ModelDirectory } from './model-files';
import { WASM_RUNTIME, type NodeRuntime } from './node-runtime';

export interface NodeEngines {
  /** The ONNX Runtime and devices the engines run on. */
  runtime: NodeRuntime;
  embeddings: EmbeddingsService;
  llm: LlmService;
  /** Created on first use (it is the heaviest). */
  image(): SdxlService;
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
            await new Promise((resolve) => setImmediate(resolve));
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
  const embeddings = createEmbeddingsService({ ort, files, devices });
  const llm = options.llm ?? createLlmService({ ort, files, devices, hasShaderF16: async () => false });
  let sdxl: SdxlService | undefined;
  const image = () => (sdxl ??= createSdxlService({ ort, files, devices, codec: nodeCodec, canny: cpuCanny }));

  return {
    runtime, embeddings, llm, image,
    deps: {
      engines: {
        embeddings: async () => embeddings,
        llm: async () => yielding(llm),
        image: async () => yielding(image()),
        loaded: () => loadedModels({ embeddings, llm, image: sdxl }),
      },
      isDownloaded: (entry) => files.isPresent(entry),
    },
  };
}

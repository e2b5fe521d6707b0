/**
 * The engines in Node: the same services the browser's workers run, on the ONNX Runtime node-runtime.ts chose
 * (onnxruntime-node on CPU/CUDA for `hearth serve`; onnxruntime-web's wasm build, single-threaded, by default and for
 * the Node tests), reading model files from a directory (model-files.ts) and coding images without a canvas
 * (image-codec.ts). Each kind's engine is built on first use by its in-process factory in the kinds table
 * (src/engines/kinds.ts) from one Node environment: nothing here names a kind. `hearth serve` and the Node tests
 * build their API from this.
 */
import { nextTurn } from '../core/deferred';
import type { ApiDeps } from '../api/types';
import type { EngineEnvironment } from '../engines/environment';
import { ENGINE_KINDS, perModelKind, type EngineInterfaces, type Engines, type ModelKind, type ModelKindRow, type StartedEngines } from '../engines/kinds';
import { loadedModels } from '../engines/loaded';
import { readLlmFiles } from '../engines/llm/files';
import type { LlmServiceOptions } from '../engines/llm/service';
import type { ModelFiles } from '../engines/model-files';
import { cpuCanny } from '../engines/image/edges';
import { nodeCodec } from './image-codec';
import type { ModelDirectory } from './model-files';
import { WASM_RUNTIME, type NodeRuntime } from './node-runtime';

export interface NodeEngines {
  /** The ONNX Runtime and devices the engines run on. */
  runtime: NodeRuntime;
  /** The engine of a kind, built on first use (an engine costs nothing until a model loads). */
  engine<K extends ModelKind>(kind: K): Promise<EngineInterfaces[K]>;
  /** What ApiDeps needs: the engines and whether a model's files are present. */
  deps: Pick<ApiDeps, 'engines' | 'isDownloaded'>;
}

/** What every engine built in Node gets: the runtime's ORT and devices, the files, Node's image codec, CPU Canny. */
export function nodeEnvironment(files: ModelFiles, runtime: NodeRuntime = WASM_RUNTIME): EngineEnvironment {
  return { ort: runtime.ort, devices: runtime.devices, files, codec: nodeCodec, canny: cpuCanny, hasShaderF16: async () => false };
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
 * onnxruntime-node). `engines`: engines of the caller's making by kind (e.g. an LLM engine with the WGSL decoder on a
 * Dawn device), used instead of the table's factories.
 */
export function createNodeEngines(files: ModelDirectory, options: { runtime?: NodeRuntime; engines?: StartedEngines } = {}): NodeEngines {
  const runtime = options.runtime ?? WASM_RUNTIME;
  const environment = nodeEnvironment(files, runtime);
  /** The engines built so far (GET /models lists their loaded models). */
  const started: StartedEngines = { ...options.engines };
  const building: { [K in ModelKind]?: Promise<EngineInterfaces[K]> } = {};

  async function build<K extends ModelKind>(kind: K): Promise<EngineInterfaces[K]> {
    const given = started[kind];
    if (given) return given;
    const factory = await (ENGINE_KINDS[kind] as ModelKindRow<EngineInterfaces[K]>).inProcess?.();
    if (!factory) throw new Error(`The ${kind} engine cannot be built in this process: a browser build runs it in its worker`);
    return (started[kind] = factory(environment));
  }
  const engine = <K extends ModelKind>(kind: K): Promise<EngineInterfaces[K]> =>
    (building[kind] ??= build(kind) as never) as Promise<EngineInterfaces[K]>;

  type Getters = { [K in ModelKind]: Engines[K] };
  return {
    runtime,
    engine,
    deps: {
      engines: {
        // A kind whose jobs answer streams (the kinds table) hands their events out one turn of the event loop apart.
        ...perModelKind<Getters>(<K extends ModelKind>(kind: K) => (ENGINE_KINDS[kind].answer === 'stream'
          ? async () => yielding(await engine(kind) as Parameters<typeof yielding>[0])
          : () => engine(kind)) as Getters[K]),
        loaded: () => loadedModels(started),
      },
      isDownloaded: (entry) => files.isPresent(entry),
    },
  };
}

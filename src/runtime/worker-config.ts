/**
 * Settings a host hands to each engine worker at creation (through the Worker `name`, so they are there before
 * any module code runs).
 */
import type { OrtDevice } from '../engines/embeddings/types';

export interface WorkerConfig {
  /** Devices to try, in order. */
  devices: OrtDevice[];
  /** LLMs: try Hearth's WGSL decoder before onnxruntime-web on WebGPU (absent: true). */
  wgslLlm?: boolean;
  /** Absolute URL of a folder holding onnxruntime-web's .wasm/.mjs files; unset: the ones the build bundled. */
  ortWasmBase?: string;
  /** Base URL that relative model file URLs resolve against. */
  modelBase: string;
  /** Where LoRA adapters are downloaded from (`<hub>/<repo>/resolve/main/<file>`); default https://huggingface.co. */
  hubEndpoint?: string;
  /** Test-only: the worker obeys injected faults (hang, crash, device loss; see worker-watch.ts). */
  testHooks?: boolean;
}

export function readWorkerConfig(name: string): WorkerConfig {
  try {
    return JSON.parse(name) as WorkerConfig;
  } catch {
    throw new Error('Engine worker started without its configuration (the Worker name must be its JSON)');
  }
}

/**
 * What an engine built in its host's own process gets from it (Node: `hearth serve` and the Node tests): the ONNX
 * Runtime and its devices, the model files, and the platform's image coding and edge detection. Every kind's
 * in-process factory (the kinds table's `inProcess`) takes this one shape and uses what it needs. The browser's worker
 * entries build their engines with browser-only parts instead (a canvas codec, GPU Canny, web-llm, LoRA downloads).
 */
import type { Ort } from '../core/session';
import type { OrtDevice } from './embeddings/types';
import type { ImageCodec } from './image/codec';
import type { CannyFn } from './image/service';
import type { ModelFiles } from './model-files';

export interface EngineEnvironment {
  ort: Ort;
  /** Devices in the order sessions try them. */
  devices: OrtDevice[];
  files: ModelFiles;
  /** PNG/JPEG coding without a canvas. */
  codec: ImageCodec;
  /** Canny edges (ControlNet) on the CPU. */
  canny: CannyFn;
  /** Whether fp16 exports can run (a WebGPU adapter's `shader-f16`). */
  hasShaderF16: () => Promise<boolean>;
}

/** Builds a kind's engine in the host's process. */
export type EngineFactory<E> = (environment: EngineEnvironment) => E;

/**
 * The embeddings engine's boundary: what the API asks of it and what it answers, whichever backend runs it.
 */
import type { CatalogEntry } from '../../models/types';
import type { ModelEngine } from '../contract';

/**
 * Where an ONNX session runs: onnxruntime-web's WebGPU or wasm backend (browser, or wasm in Node), or
 * onnxruntime-node's CPU or CUDA execution provider (`hearth serve`). The name is the execution provider's.
 */
export type OrtDevice = 'webgpu' | 'wasm' | 'cpu' | 'cuda';

/** Devices that compute on the CPU: fp16-arithmetic exports and WebGPU-only variants are not tried there. */
export const onCpu = (device: OrtDevice): boolean => device === 'wasm' || device === 'cpu';

/** One input: text, or token ids the caller already has. `param` names it in errors (e.g. `input[2]`). */
export type EmbeddingInput = { text: string; param: string } | { ids: number[]; param: string };

export interface EmbedRequest {
  entry: CatalogEntry;
  inputs: EmbeddingInput[];
  dimensions?: number;
}

export interface EmbedResult {
  /** One unit vector per input, in input order. */
  vectors: Float32Array[];
  promptTokens: number;
  /** The device that ran the model ('webgpu', 'wasm', 'cpu', 'cuda'). */
  backend: OrtDevice;
}

/**
 * One request's vectors, answered whole (not as a stream: see contract.ts) and coalesced with the other requests
 * waiting for the same model. A request whose `signal` has aborted while it waited for its turn is dropped before it
 * runs (499 `cancelled`).
 */
export type EmbeddingsEngine = ModelEngine<EmbedRequest, EmbedResult>;

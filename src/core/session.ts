/**
 * onnxruntime sessions (onnxruntime-web, or onnxruntime-node's cpu/cuda in `hearth serve`), created one way for every engine: the `Ort` module type (the module is passed in, so
 * Node tests, workers and benches each bring their own build), the WebGPU availability check, and `createSession`.
 */
import type * as OrtModule from 'onnxruntime-web';

/** The onnxruntime-web module (`import * as ort from 'onnxruntime-web/webgpu'`), handed to engines by their host. */
export type Ort = typeof OrtModule;
export type OrtSession = OrtModule.InferenceSession;
export type OrtSessionOptions = OrtModule.InferenceSession.SessionOptions;

/** Whether this environment offers WebGPU (`navigator.gpu`); a page, a worker or Node with a WebGPU binding. */
export function hasWebGpu(): boolean {
  return Boolean((globalThis.navigator as Navigator | undefined)?.gpu);
}

/** Throws (a plain Error: a backend candidate's reason to be skipped) when `device` is WebGPU and there is none. */
export function assertDeviceAvailable(device: string, message = 'WebGPU is not available'): void {
  if (device === 'webgpu' && !hasWebGpu()) throw new Error(message);
}

/**
 * A session for `model` (the ONNX bytes) on `device`, after the WebGPU check; `options` adds to
 * `{ executionProviders: [device] }` (graph optimisation, external data, outputs kept on the GPU).
 */
export async function createSession(ort: Ort, model: Uint8Array, device: 'webgpu' | 'wasm' | 'cpu' | 'cuda', options: OrtSessionOptions = {},
  unavailableMessage?: string): Promise<OrtSession> {
  assertDeviceAvailable(device, unavailableMessage);
  return ort.InferenceSession.create(model, { executionProviders: [device], ...options });
}

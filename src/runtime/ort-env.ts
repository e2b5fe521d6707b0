/**
 * onnxruntime-web settings every engine worker applies: where its wasm lives, threads when the page is
 * cross-origin isolated, quiet logs.
 */
import type * as OrtModule from 'onnxruntime-web';
import type { WorkerConfig } from './worker-config';

export function configureOrt(ort: typeof OrtModule, config: WorkerConfig): void {
  if (config.ortWasmBase) ort.env.wasm.wasmPaths = config.ortWasmBase;
  ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  ort.env.logLevel = 'error';
}

/** onnxruntime-web is bundled into each worker, so its wasm threads start the same script as 'em-pthread' workers. */
export const isOrtThread = () => self.name.startsWith('em-pthread');

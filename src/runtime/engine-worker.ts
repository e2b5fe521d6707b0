/**
 * What every engine worker does before its engine exists: skip onnxruntime-web's own wasm threads (they start the
 * same script as 'em-pthread' workers and need no engine), read the host's WorkerConfig, configure onnxruntime-web,
 * open the artifact store as the engine's ModelFiles, and expose the engine the kind's factory builds over Comlink.
 * A worker entry (workers/<kind>.worker.ts) is this call with its engine's factory.
 */
import type * as OrtModule from 'onnxruntime-web';
import type { ModelFiles } from '../engines/model-files';
import { ArtifactStore } from '../models/store';
import { storeFiles } from './store-files';
import { configureOrt, isOrtThread } from './ort-env';
import { readWorkerConfig, type WorkerConfig } from './worker-config';
import { exposeEngine } from './worker-protocol';

export interface EngineWorkerContext {
  config: WorkerConfig;
  /** The model files, read through the artifact store (downloaded on first read). */
  files: ModelFiles;
}

export function startEngineWorker(ort: typeof OrtModule, createEngine: (context: EngineWorkerContext) => object): void {
  if (isOrtThread()) return;
  const config = readWorkerConfig(self.name);
  configureOrt(ort, config);
  exposeEngine(createEngine({ config, files: storeFiles(new ArtifactStore(config.modelBase)) }));
}

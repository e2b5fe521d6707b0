/**
 * Entry point of the embeddings engine worker: onnxruntime-web (WebGPU build, which also runs the wasm EP) and the
 * EmbeddingsService reading its files through the artifact store (src/runtime/engine-worker.ts does the wiring).
 */
import * as ort from 'onnxruntime-web/webgpu';
import { createEmbeddingsService } from '../src/engines/embeddings/service';
import { startEngineWorker } from '../src/runtime/engine-worker';

startEngineWorker(ort, ({ config, files }) => createEmbeddingsService({ ort, files, devices: config.devices }));

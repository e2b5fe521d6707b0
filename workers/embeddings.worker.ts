/**
 * Entry point of the embeddings engine worker: onnxruntime-web (WebGPU build, which also runs the wasm EP), the
 * artifact store for model files, and the EmbeddingsService exposed over Comlink.
 */
import * as ort from 'onnxruntime-web/webgpu';
import { EmbeddingsService } from '../src/engines/embeddings/service';
import { ArtifactStore } from '../src/models/store';
import { exposeEngine } from '../src/runtime/worker-protocol';
import { readWorkerConfig } from '../src/runtime/worker-config';
import { configureOrt, isOrtThread } from '../src/runtime/ort-env';

// onnxruntime-web is bundled into this file, so its wasm threads start this same script as 'em-pthread' workers:
// those only need ORT's module code above, not an engine.
if (!isOrtThread()) startEngine();

function startEngine() {
  const config = readWorkerConfig(self.name);
  configureOrt(ort, config);

  const store = new ArtifactStore(config.modelBase);
  const service = new EmbeddingsService(
    ort,
    async (entry) => ({
      model: await store.read(entry, 'model'),
      tokenizer: await store.readJson(entry, 'tokenizer'),
      tokenizerConfig: await store.readJson(entry, 'tokenizer_config'),
    }),
    config.devices,
  );
  exposeEngine(service);
}

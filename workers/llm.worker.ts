/**
 * Entry point of the LLM engine worker: Hearth's WGSL decoder (Llama-family models on WebGPU), onnxruntime-web
 * (WebGPU build, also runs wasm) for our ONNX decoder, web-llm
 * for MLC builds (its library is imported only when an MLC variant is first tried), the artifact store for model
 * files, and the LlmService exposed over Comlink.
 */
import * as ort from 'onnxruntime-web/webgpu';
import { LlmService } from '../src/engines/llm/service';
import { createWebLlmBackend } from '../src/engines/llm/webllm/backend';
import { ArtifactStore } from '../src/models/store';
import { exposeEngine } from '../src/runtime/worker-protocol';
import { readWorkerConfig } from '../src/runtime/worker-config';
import { configureOrt, isOrtThread } from '../src/runtime/ort-env';

// onnxruntime-web's wasm threads start this same script as 'em-pthread' workers: they need no engine.
if (!isOrtThread()) startEngine();

function startEngine() {
  const config = readWorkerConfig(self.name);
  configureOrt(ort, config);

  const store = new ArtifactStore(config.modelBase);
  let f16: Promise<boolean> | undefined;
  const service = new LlmService({
    ort,
    devices: config.devices,
    wgsl: config.wgslLlm === false ? undefined : {},
    webLlm: createWebLlmBackend({ baseUrl: config.modelBase, cacheBackend: 'cache' }),
    hasShaderF16: () => (f16 ??= navigator.gpu?.requestAdapter().then((a) => Boolean(a?.features.has('shader-f16'))) ?? Promise.resolve(false)),
    loadFiles: async (entry, variant) => {
      const opts = { variant };
      const has = (role: string) => entry.files.some((f) => f.role === role && (!f.variant || f.variant === variant));
      const externalData = await store.readExternalData(entry, 'model', opts);
      return {
        model: await store.read(entry, 'model', opts),
        externalData: externalData.length ? externalData : undefined,
        tokenizer: await store.readJson(entry, 'tokenizer', opts),
        tokenizerConfig: await store.readJson(entry, 'tokenizer_config', opts),
        config: await store.readJson(entry, 'config', opts),
        generationConfig: has('generation_config') ? await store.readJson(entry, 'generation_config', opts) : undefined,
      };
    },
  });
  exposeEngine(service);
}

/**
 * Entry point of the LLM engine worker: Hearth's WGSL decoder (Llama-family models on WebGPU), onnxruntime-web
 * (WebGPU build, also runs wasm) for our ONNX decoder, web-llm for MLC builds (its library is imported only when an
 * MLC variant is first tried), and the LlmService reading its files through the artifact store.
 */
import * as ort from 'onnxruntime-web/webgpu';
import { createLlmService } from '../src/engines/llm/service';
import { createWebLlmBackend } from '../src/engines/llm/webllm/backend';
import { adapterHasShaderF16 } from '../src/engines/webgpu-features';
import { startEngineWorker } from '../src/runtime/engine-worker';

startEngineWorker(ort, ({ config, files }) => createLlmService({
  ort,
  files,
  devices: config.devices,
  wgsl: config.wgslLlm === false ? undefined : {},
  webLlm: createWebLlmBackend({ baseUrl: config.modelBase, cacheBackend: 'cache' }),
  hasShaderF16: adapterHasShaderF16,
}));

/**
 * Entry point of the image engine worker: onnxruntime-web (WebGPU build, also runs wasm) for the SDXL parts, Canny
 * and the LoRA merge on a WebGPU device of their own (CPU otherwise), OffscreenCanvas image codecs, LoRA adapters
 * from the hub, and the ImageService reading its files through the artifact store.
 */
import * as ort from 'onnxruntime-web/webgpu';
import { canvasCodec } from '../src/engines/image/codec';
import { gpuImageTools } from '../src/engines/image/edges';
import { fetchLoraAdapter } from '../src/engines/image/lora/fetch';
import { createImageService } from '../src/engines/image/service';
import { adapterHasShaderF16 } from '../src/engines/webgpu-features';
import { LORA_CACHE } from '../src/models/lora-cache';
import { startEngineWorker } from '../src/runtime/engine-worker';

startEngineWorker(ort, ({ config, files }) => createImageService({
  ort,
  files,
  devices: config.devices,
  codec: canvasCodec,
  ...gpuImageTools(config.devices),
  fetchLora: (source) => fetchLoraAdapter(source, {
    hubEndpoint: config.hubEndpoint ?? 'https://huggingface.co',
    builtinHub: new URL('hub/', config.modelBase).href,
    cache: () => caches.open(LORA_CACHE),
  }),
  hasShaderF16: adapterHasShaderF16,
}));

/**
 * Entry point of the image engine worker: onnxruntime-web (WebGPU build, also runs wasm) for the SDXL parts, the
 * Canny detector (WGSL on WebGPU, the CPU reference otherwise), OffscreenCanvas image codecs, the artifact store,
 * and the SdxlService exposed over Comlink.
 */
import * as ort from 'onnxruntime-web/webgpu';
import { CannyDetector } from '../src/engines/sdxl/canny';
import { cannyReference } from '../src/engines/sdxl/canny-cpu';
import { canvasCodec } from '../src/engines/sdxl/codec';
import { fetchLoraAdapter } from '../src/engines/sdxl/lora/fetch';
import { GpuLoraMerger } from '../src/engines/sdxl/lora/gpu-merge';
import { cpuMerger, type WeightMerger } from '../src/engines/sdxl/lora/merge';
import { SdxlService, type CannyFn } from '../src/engines/sdxl/service';
import { loadImageFiles } from '../src/engines/sdxl/files';
import { LORA_CACHE } from '../src/models/lora-cache';
import { ArtifactStore } from '../src/models/store';
import { configureOrt, isOrtThread } from '../src/runtime/ort-env';
import { exposeEngine } from '../src/runtime/worker-protocol';
import { readWorkerConfig } from '../src/runtime/worker-config';

if (!isOrtThread()) startEngine();

function startEngine() {
  const config = readWorkerConfig(self.name);
  configureOrt(ort, config);
  const store = new ArtifactStore(config.modelBase);

  // Canny and the LoRA merge share one WebGPU device of their own (ORT keeps its own).
  let gpuDevice: Promise<GPUDevice | null> | undefined;
  const ownDevice = () => (gpuDevice ??= (async () => {
    if (!config.devices.includes('webgpu') || !navigator.gpu) return null;
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return null;
    // Merging big weights needs the adapter's real binding limits, not the defaults.
    const { maxStorageBufferBindingSize, maxBufferSize } = adapter.limits;
    return adapter.requestDevice({ requiredLimits: { maxStorageBufferBindingSize, maxBufferSize } });
  })().catch(() => null));
  let detector: Promise<CannyDetector | null> | undefined;
  const gpuDetector = () => (detector ??= ownDevice().then((d) => (d ? CannyDetector.create(d) : null)).catch(() => null));
  let merger: Promise<WeightMerger> | undefined;
  const loraMerger = () => (merger ??= ownDevice().then((d) => (d ? GpuLoraMerger.create(d) : cpuMerger)).catch(() => cpuMerger));

  const canny: CannyFn = async (rgba, width, height, low, high) => {
    const gpu = await gpuDetector();
    if (gpu) {
      const edges = await gpu.detect(rgba, width, height, { low, high });
      const chw = new Float32Array(3 * width * height);
      for (let p = 0; p < width * height; p++) chw[p] = chw[p + width * height] = chw[p + 2 * width * height] = edges[p * 4] / 255;
      return { chw, rgba: edges };
    }
    const ref = cannyReference(rgba, width, height, { low, high });
    return { chw: ref.chw, rgba: ref.edges };
  };

  const service = new SdxlService({
    ort,
    devices: config.devices,
    codec: canvasCodec,
    canny,
    fetchLora: (source) => fetchLoraAdapter(source, {
      hubEndpoint: config.hubEndpoint ?? 'https://huggingface.co',
      builtinHub: new URL('hub/', config.modelBase).href,
      cache: () => caches.open(LORA_CACHE),
    }),
    loraMerger: async (device) => (device === 'webgpu' ? loraMerger() : cpuMerger),
    loadSafetyChecker: async (entry) => ({
      model: await store.read(entry, 'safety_checker'),
      preprocessor: entry.files.some((f) => f.role === 'safety_checker_config') ? await store.readJson(entry, 'safety_checker_config') : undefined,
    }),
    loadFiles: (entry) => loadImageFiles(entry, store),
    hasShaderF16: async () => Boolean((await navigator.gpu?.requestAdapter())?.features.has('shader-f16')),
  });
  exposeEngine(service);
}

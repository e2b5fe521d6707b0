/**
 * The edge detectors ImageService runs for ControlNet (a CannyFn): the WebGPU CannyDetector on a device of its own
 * where WebGPU is enabled and available, else the CPU implementation of the same algorithm (canny-cpu.ts); and
 * the LoRA weight merger on that same device (else the CPU). Node and tests use the CPU ones.
 */
import type { OrtDevice } from '../embeddings/types';
import { CannyDetector } from './canny';
import { cannyReference } from './canny-cpu';
import { GpuLoraMerger } from './lora/gpu-merge';
import { cpuMerger, type WeightMerger } from './lora/merge';
import type { CannyFn } from './service';

/** Canny on the CPU. */
export const cpuCanny: CannyFn = async (rgba, width, height, low, high) => {
  const ref = cannyReference(rgba, width, height, { low, high });
  return { chw: ref.chw, rgba: ref.edges };
};

/** Canny and the LoRA merger on one WebGPU device of their own (onnxruntime-web keeps its own), created on first use. */
export function gpuImageTools(devices: readonly OrtDevice[]): { canny: CannyFn; loraMerger: (device: OrtDevice) => Promise<WeightMerger> } {
  let gpuDevice: Promise<GPUDevice | null> | undefined;
  const ownDevice = () => (gpuDevice ??= (async () => {
    if (!devices.includes('webgpu') || !navigator.gpu) return null;
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return null;
    // Merging big weights needs the adapter's real binding limits, not the defaults.
    const { maxStorageBufferBindingSize, maxBufferSize } = adapter.limits;
    return adapter.requestDevice({ requiredLimits: { maxStorageBufferBindingSize, maxBufferSize } });
  })().catch(() => null));
  let detector: Promise<CannyDetector | null> | undefined;
  const gpuDetector = () => (detector ??= ownDevice().then((d) => (d ? CannyDetector.create(d) : null)).catch(() => null));
  let merger: Promise<WeightMerger> | undefined;
  const gpuMerger = () => (merger ??= ownDevice().then((d) => (d ? GpuLoraMerger.create(d) : cpuMerger)).catch(() => cpuMerger));
  return {
    async canny(rgba, width, height, low, high) {
      const gpu = await gpuDetector();
      if (!gpu) return cpuCanny(rgba, width, height, low, high);
      const edges = await gpu.detect(rgba, width, height, { low, high });
      const chw = new Float32Array(3 * width * height);
      for (let p = 0; p < width * height; p++) chw[p] = chw[p + width * height] = chw[p + 2 * width * height] = edges[p * 4] / 255;
      return { chw, rgba: edges };
    },
    loraMerger: async (device) => (device === 'webgpu' ? gpuMerger() : cpuMerger),
  };
}

// What this browser's WebGPU adapter is: vendor and architecture (adapter.info), shader-f16, and the limits that decide which models fit.

export interface AdapterSummary {
  available: boolean;
  /** Why there is no adapter, when there is none. */
  reason?: string;
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  fallback?: boolean;
  shaderF16?: boolean;
  limits?: Record<string, number>;
}

export const KEY_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxStorageBuffersPerShaderStage',
] as const;

let cached: Promise<AdapterSummary> | undefined;

/** Asks for the default adapter, as the engine workers do; asked once per page. */
export function describeAdapter(): Promise<AdapterSummary> {
  cached ??= (async (): Promise<AdapterSummary> => {
    if (!('gpu' in navigator) || !navigator.gpu) return { available: false, reason: 'This browser has no WebGPU (navigator.gpu): the engines run on wasm.' };
    try {
      const adapter = await navigator.gpu.requestAdapter();
      if (!adapter) return { available: false, reason: 'WebGPU is present but no adapter was granted: the engines run on wasm.' };
      const info = adapter.info;
      const limits: Record<string, number> = {};
      for (const k of KEY_LIMITS) limits[k] = adapter.limits[k];
      return {
        available: true,
        vendor: info?.vendor || 'unknown',
        architecture: info?.architecture || 'unknown',
        device: info?.device || undefined,
        description: info?.description || undefined,
        fallback: (info as GPUAdapterInfo & { isFallbackAdapter?: boolean })?.isFallbackAdapter,
        shaderF16: adapter.features.has('shader-f16'),
        limits,
      };
    } catch (e) {
      return { available: false, reason: `requestAdapter failed: ${(e as Error).message}` };
    }
  })();
  return cached;
}

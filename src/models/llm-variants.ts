/**
 * Which ONNX variant of an LLM will run, decided before any big file is fetched: the one rule the engine's backends
 * (src/engines/llm/backend-registry.ts) apply to each candidate and the models page applies to choose what to
 * download, so a pre-download never fetches a variant the engine will skip (a 1 GB q4f16 the adapter cannot run) or
 * misses the one it will load first.
 *
 * Hearth's WGSL decoder runs any ONNX variant on WebGPU, fp16 / q4f16 included, with or without `shader-f16` (it
 * keeps float16 weights as stored and widens them in its kernels), for the architectures it knows; onnxruntime-web
 * needs `shader-f16` for f16 variants on WebGPU and runs on wasm/cpu only the variants marked `wasm`. Whether the
 * WGSL decoder accepts the architecture is known from config.json, a small file both the engine and the models page
 * read on its own before the graph file (`wgslConfigRefusal` in the context); a refusal from the weights themselves
 * comes only at load and falls back to onnxruntime-web, same files.
 */
import type { CatalogEntry, LlmVariant } from './types';

type OnnxVariant = Extract<LlmVariant, { backend: 'onnx' }>;

/** Where the engine may run LLMs: its devices in order (`webgpu`, `wasm`, …), the adapter, and the WGSL decoder. */
export interface LlmRunContext {
  devices: readonly string[];
  shaderF16: boolean;
  /** Hearth's WGSL decoder is registered (HearthOptions.wgslLlm). */
  wgsl: boolean;
  /** Why the WGSL decoder cannot run the architecture the model's config.json describes; null: it can; absent: not
   * read (then it is assumed to). */
  wgslConfigRefusal?: string | null;
}

/**
 * Why Hearth's WGSL decoder cannot run this ONNX variant on these devices (or, when `configRefusal` is given, this
 * architecture); null when it may.
 */
export function wgslRefusal(devices: readonly string[], configRefusal?: string | null): string | null {
  return devices.includes('webgpu') ? configRefusal ?? null : 'the WGSL decoder needs WebGPU, which is disabled';
}

/** Why onnxruntime-web cannot run this ONNX variant on `device`; null when it can. */
export function onnxRuntimeRefusal(variant: OnnxVariant, device: string, shaderF16: boolean): string | null {
  if (device === 'webgpu') return variant.requiresF16 && !shaderF16 ? 'the adapter lacks shader-f16' : null;
  if ((device === 'wasm' || device === 'cpu') && !variant.wasm) {
    return variant.requiresF16 ? 'f16 variants need WebGPU' : `this variant does not run on ${device}`;
  }
  return null;
}

/** Whether some backend could run this ONNX variant here. */
export function onnxVariantRuns(variant: OnnxVariant, context: LlmRunContext): boolean {
  if (context.wgsl && wgslRefusal(context.devices, context.wgslConfigRefusal) === null) return true;
  return context.devices.some((d) => onnxRuntimeRefusal(variant, d, context.shaderF16) === null);
}

/**
 * The file variant to download for `entry`: its first ONNX variant (catalog order, the engine's order) that has files
 * and that some backend could run here; else the first file variant there is. Undefined for entries without variants.
 */
export function onnxVariantToDownload(entry: CatalogEntry, context: LlmRunContext): string | undefined {
  const fileVariants = new Set(entry.files.map((f) => f.variant).filter((v): v is string => v !== undefined));
  if (!fileVariants.size) return undefined;
  for (const v of entry.llm?.variants ?? []) {
    if (v.backend === 'onnx' && fileVariants.has(v.name) && onnxVariantRuns(v, context)) return v.name;
  }
  return [...fileVariants][0];
}

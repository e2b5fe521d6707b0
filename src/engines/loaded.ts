/**
 * What GET /models reports about a loaded model, gathered from whichever engines have started.
 */
import type { EmbeddingsEngine } from './embeddings/types';
import type { LlmEngine, LlmStats } from './llm/types';
import type { ImageEngine } from './sdxl/types';

export interface LoadedModelState {
  /** Where it runs: 'webgpu' | 'wasm' (| 'cpu' | 'cuda' in `hearth serve`) for ONNX models; web-llm runs on WebGPU. */
  device: string;
  backend: string;
  variant?: string;
  stats?: LlmStats;
  /** The higher-priority backends that could not run the model, and why (e.g. the WGSL decoder, CUDA). */
  skipped?: { name: string; reason: string }[];
  /** Image models: the LoRA adapters (`repo/file`) merged into a loaded copy of the model. */
  loras?: string[];
}

/**
 * The models loaded in the engines started so far (kinds.ts's StartedEngines; typed here engine by engine, as
 * kinds.ts reads LoadedModelState from this file). Only `loaded()` is asked of each.
 */
export async function loadedModels({ embeddings, llm, image }: {
  embeddings?: Pick<EmbeddingsEngine, 'loaded'>; llm?: Pick<LlmEngine, 'loaded'>; image?: Pick<ImageEngine, 'loaded'>;
}): Promise<Map<string, LoadedModelState>> {
  const map = new Map<string, LoadedModelState>();
  for (const m of (await embeddings?.loaded()) ?? []) map.set(m.id, { device: m.backend, backend: 'onnx', skipped: m.skipped });
  for (const m of (await llm?.loaded()) ?? []) map.set(m.id, { device: m.device, backend: m.backend, variant: m.variant, stats: m.stats, skipped: m.skipped });
  for (const m of (await image?.loaded()) ?? []) {
    const state = map.get(m.id) ?? { device: m.device, backend: 'onnx' };
    if (m.lora) state.loras = [...(state.loras ?? []), m.lora];
    map.set(m.id, state);
  }
  return map;
}

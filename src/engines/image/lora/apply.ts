/**
 * Merges a LoRA adapter into the weights of an SDXL pipeline's parts before their sessions are created: UNet modules
 * go into every UNet graph the model has (`unet`, and `unet_controlnet` for ControlNet), text-encoder modules into
 * `text_encoder` / `text_encoder_2`. Every module must find its weight, with matching shapes, in each graph it
 * targets — otherwise the adapter is for another model and the request is a 400 naming the first misses; nothing is
 * written until every module has been resolved, so a bad adapter never leaves half-merged weights behind.
 */
import { invalidRequest } from '../../../core/errors';
import { loraModules, type LoraPart } from './adapter-keys';
import type { MergeJob, WeightMerger } from './merge';
import { indexOnnxWeights } from './onnx-weights';
import { readSafetensors } from './safetensors';
import { resolveTargets, type MergeTarget } from './targets';

/** One graph's bytes, and its external data files (exports over 2 GB; those over 1 GiB come as blob: URLs). */
export interface GraphWeights {
  model: Uint8Array;
  externalData?: { path: string; data: Uint8Array | string }[];
}

export interface LoraMergeReport {
  modules: number;
  /** Weights rewritten, per graph. */
  weights: Record<string, number>;
  device: 'webgpu' | 'cpu';
  milliseconds: number;
}

/** The graphs (by SDXL part name) each LoRA part applies to. */
const GRAPHS_OF: Record<LoraPart, string[]> = {
  unet: ['unet', 'unet_controlnet'],
  text_encoder: ['text_encoder'],
  text_encoder_2: ['text_encoder_2'],
};

export async function mergeLora(
  graphs: Record<string, GraphWeights | undefined>,
  adapter: Uint8Array,
  merger: WeightMerger,
  modelId: string,
): Promise<LoraMergeReport> {
  const started = performance.now();
  const modules = loraModules(readSafetensors(adapter));
  const plan: { graph: string; target: MergeTarget }[] = [];
  const misses: string[] = [];
  let total = 0;
  for (const [part, names] of Object.entries(GRAPHS_OF) as [LoraPart, string[]][]) {
    const mine = modules.filter((m) => m.part === part);
    if (!mine.length) continue;
    total += mine.length;
    const present = names.filter((n) => graphs[n]);
    if (!present.length) {
      misses.push(`${mine.length} ${part} modules (the model has no ${part})`);
      continue;
    }
    for (const graph of present) {
      const resolved = resolveTargets(indexOnnxWeights(graphs[graph]!.model), mine);
      for (const { module, why } of resolved.unmatched) misses.push(`"${module.key}" in ${graph}: ${why}`);
      for (const target of resolved.targets) plan.push({ graph, target });
    }
  }
  if (misses.length) {
    throw invalidRequest(
      `The LoRA adapter does not fit ${modelId}: ${misses.length} of ${total} modules have no matching weight (${misses.slice(0, 3).join('; ')}${misses.length > 3 ? '; …' : ''})`,
      'lora_adapter_name', 'lora_mismatch');
  }
  const jobs: MergeJob[] = plan.map(({ graph, target }) => ({
    bytes: weightBytes(graphs[graph]!, target, graph),
    type: target.initializer.type!,
    rows: target.rows, cols: target.cols, rank: target.module.down.shape[0], transposed: target.transposed,
    scale: target.module.scale, up: target.module.up.values, down: target.module.down.values,
  }));
  await merger.merge(jobs);
  const weights: Record<string, number> = {};
  for (const { graph } of plan) weights[graph] = (weights[graph] ?? 0) + 1;
  return { modules: modules.length, weights, device: merger.device, milliseconds: performance.now() - started };
}

function weightBytes(graph: GraphWeights, target: MergeTarget, name: string): Uint8Array {
  const { file, offset, length, name: weight } = target.initializer;
  const source = file === null ? graph.model : graph.externalData?.find((d) => d.path === file || d.path.endsWith(`/${file}`))?.data;
  if (typeof source === 'string') {
    throw invalidRequest(`LoRA adapters cannot be merged into ${name}: its external data (${file}) is too large to hold in memory`, 'lora_adapter_name', 'lora_unsupported_model');
  }
  if (!source || offset + length > source.byteLength) {
    throw invalidRequest(`The weight "${weight}" of ${name} lies outside its data (${file ?? 'model'} @ ${offset}+${length})`, 'lora_adapter_name', 'lora_mismatch');
  }
  return source.subarray(offset, offset + length);
}

/**
 * What the WGSL decoder's sampling kernel (shaders/llm/sample.wgsl) needs per row and step, packed as the u32 words
 * it reads: the request's sampling settings, the uniform draw taken from the choice's seeded generator, the penalty
 * state (prompt + output tokens for the repetition penalty, output counts for frequency/presence), logit_bias, the
 * ignore_eos ban and a grammar bitmask. `gpuSamplingFits` says whether a request's settings are ones the kernel
 * implements (Mirostat and typical_p stay on the CPU sampler, as do logprobs, which need the logits). Also the shape
 * of the sampling and argmax kernels' work: their stages (entry points dispatched in order, one workgroup per chunk
 * of the vocabulary or one in all), their scratch buffer and the bind group layout every stage shares.
 */
import type { DeviceSampler } from '../decoder';
import { isGreedy, LOGIT_BIAS_FORCE, type SamplingParams } from '../sampling';

/** Tokens per workgroup of sample.wgsl's per-chunk stages (CHUNK there). */
export const SAMPLER_CHUNK = 1024;
/** Logits per workgroup of argmax.wgsl's per_chunk stage (CHUNK there). */
export const ARGMAX_CHUNK = 1024;
/** Per-chunk and global words of sample.wgsl's scratch (STAT_WORDS, GLOBAL_WORDS there). */
const STAT_WORDS = 8;
const GLOBAL_WORDS = 16;

/** A kernel stage: its entry point, and whether it runs one workgroup per chunk (else one workgroup). */
export type KernelStage = readonly [entry: string, perChunk: boolean];

/** sample.wgsl's entry points, in dispatch order (what each does: the shader's header). */
export const SAMPLER_STAGES: readonly KernelStage[] = [
  ['prepare', true], ['edit', false], ['sort_chunks', true], ['pick_top_k', false], ['weigh', true], ['pick_nucleus', false], ['draw', false],
];
/** argmax.wgsl's entry points, in dispatch order. */
export const ARGMAX_STAGES: readonly KernelStage[] = [['per_chunk', true], ['combine', false]];

/** Workgroups of a stage over `vocab` logits. */
export function stageGroups(stage: KernelStage, kernel: 'sample' | 'argmax', vocab: number): number {
  return stage[1] ? Math.max(1, Math.ceil(vocab / (kernel === 'sample' ? SAMPLER_CHUNK : ARGMAX_CHUNK))) : 1;
}

/** u32 words of the scratch buffer both kernels use (binding 4 of sample.wgsl, 3 of argmax.wgsl). */
export function samplerScratchWords(vocab: number): number {
  const chunks = Math.max(1, Math.ceil(vocab / SAMPLER_CHUNK));
  return Math.max(3 * chunks * SAMPLER_CHUNK + STAT_WORDS * chunks + GLOBAL_WORDS, 2 * Math.ceil(vocab / ARGMAX_CHUNK));
}

/**
 * The bind group layout all stages of a kernel share (so one bind group serves them all). sample.wgsl: 0 the uniform,
 * 1 logits, 2 the sampler words (read-only), 3 work, 4 scratch, 5 result; argmax.wgsl: 0 the uniform, 1 logits
 * (read-only), 2 result, 3 scratch.
 */
export function kernelBindGroupLayout(device: GPUDevice, kernel: 'sample' | 'argmax'): GPUBindGroupLayout {
  let layouts = layoutCache.get(device);
  if (!layouts) layoutCache.set(device, (layouts = new Map()));
  const known = layouts.get(kernel);
  if (known) return known;
  const COMPUTE = 0x4; // GPUShaderStage.COMPUTE
  const storage = (binding: number, readOnly: boolean): GPUBindGroupLayoutEntry =>
    ({ binding, visibility: COMPUTE, buffer: { type: readOnly ? 'read-only-storage' : 'storage' } });
  const uniform: GPUBindGroupLayoutEntry = { binding: 0, visibility: COMPUTE, buffer: { type: 'uniform' } };
  const entries = kernel === 'sample'
    ? [uniform, storage(1, true), storage(2, true), storage(3, false), storage(4, false), storage(5, false)]
    : [uniform, storage(1, true), storage(2, false), storage(3, false)];
  const layout = device.createBindGroupLayout({ entries });
  layouts.set(kernel, layout);
  return layout;
}
const layoutCache = new WeakMap<GPUDevice, Map<string, GPUBindGroupLayout>>();
const stageCache = new WeakMap<GPUDevice, Map<string, Promise<GPUComputePipeline[]>>>();

/** A kernel's stages compiled from its full source (withReductions) over the shared layout; once per device and source. */
export function compileStages(device: GPUDevice, code: string, kernel: 'sample' | 'argmax'): Promise<GPUComputePipeline[]> {
  let cache = stageCache.get(device);
  if (!cache) stageCache.set(device, (cache = new Map()));
  const key = `${kernel}\n${code}`;
  let stages = cache.get(key);
  if (!stages) {
    const layout = device.createPipelineLayout({ bindGroupLayouts: [kernelBindGroupLayout(device, kernel)] });
    const module = device.createShaderModule({ code });
    stages = Promise.all((kernel === 'sample' ? SAMPLER_STAGES : ARGMAX_STAGES)
      .map(([entryPoint]) => device.createComputePipelineAsync({ layout, compute: { module, entryPoint } })));
    const owner = cache;
    stages.catch(() => owner.delete(key));
    cache.set(key, stages);
  }
  return stages;
}

/** logit_bias entries (plus banned ids) the sampler buffer holds; more → the CPU sampler. */
export const GPU_SAMPLER_MAX_BIAS = 1024;
/** Tokens with bias ≥ 100 the kernel keeps (MAX_FORCED in sample.wgsl). */
const MAX_FORCED = 256;
const HEADER_WORDS = 16;

/** A row's sampling input (the decoder interface's DeviceSampler). */
export type GpuSamplerInput = DeviceSampler;

/** Whether the kernel implements these settings (else sample on the CPU). */
export function gpuSamplingFits(params: SamplingParams, banned = 0): boolean {
  if (params.mirostat !== null || params.typicalP < 1) return false;
  if (params.logitBias.length + banned > GPU_SAMPLER_MAX_BIAS) return false;
  return params.logitBias.filter(([, b]) => b >= LOGIT_BIAS_FORCE).length <= MAX_FORCED;
}

/** Words of a row's sampler buffer at most (capacity: the decoder's KV slots, bounding distinct seen tokens). */
export function samplerBufferWords(capacity: number, vocab: number): number {
  return HEADER_WORDS + 3 * (capacity + 1) + 2 * (GPU_SAMPLER_MAX_BIAS + 16) + Math.ceil(vocab / 32);
}

/** The sampler buffer's words for one row and step (layout: the header constants in sample.wgsl). */
export function samplerWords(s: GpuSamplerInput, vocab: number): Uint32Array<ArrayBuffer> {
  const p = s.params;
  const penalties: [number, number, number][] = [];
  const rep = p.repetitionPenalty !== 1 && s.seen;
  const counted = p.frequencyPenalty !== 0 || p.presencePenalty !== 0;
  if (rep) for (const id of s.seen!) penalties.push([id, counted ? s.counts.get(id) ?? 0 : 0, 1]);
  if (counted) for (const [id, count] of s.counts) if (!(rep && s.seen!.has(id))) penalties.push([id, count, 0]);
  const bias: [number, number][] = [...p.logitBias.map(([id, b]) => [id, b] as [number, number]), ...(s.banned ?? []).map((id) => [id, -1000] as [number, number])];
  const maskWords = s.allowed ? Math.min(s.allowed.length, Math.ceil(vocab / 32)) : 0;
  const words = new Uint32Array(HEADER_WORDS + 3 * penalties.length + 2 * bias.length + maskWords);
  const f = new Float32Array(words.buffer);
  const topK = p.topK !== null && p.topK > 0 && p.topK < vocab ? Math.floor(p.topK) : 0;
  const greedy = isGreedy(p, vocab);
  words[0] = (greedy ? 1 : 0) | (s.allowed ? 2 : 0) | (topK ? 4 : 0) | (p.topP < 1 ? 8 : 0) | (p.minP > 0 ? 16 : 0);
  words[1] = topK;
  f[2] = greedy ? 1 : 1 / p.temperature;
  f[3] = p.topP;
  f[4] = p.minP;
  f[5] = s.u;
  f[6] = p.repetitionPenalty;
  f[7] = p.frequencyPenalty;
  f[8] = p.presencePenalty;
  words[9] = penalties.length;
  words[10] = bias.length;
  words[11] = HEADER_WORDS;
  words[12] = HEADER_WORDS + 3 * penalties.length;
  words[13] = words[12] + 2 * bias.length;
  words[14] = maskWords;
  penalties.forEach(([id, count, seen], i) => words.set([id >>> 0, count, seen], HEADER_WORDS + 3 * i));
  bias.forEach(([id, b], i) => {
    words[words[12] + 2 * i] = id >>> 0;
    f[words[12] + 2 * i + 1] = b;
  });
  if (s.allowed) words.set(s.allowed.subarray(0, maskWords), words[13]);
  return words;
}

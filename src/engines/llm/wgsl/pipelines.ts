/**
 * The WGSL decoder's compute pipelines and device: the fixed kernel set (subgroup GEMVs where the device has small
 * subgroups; RMSNorm, attention, argmax and sampling with subgroup reductions where it has subgroups), the argmax and
 * sampling stages (the sampling ones compiled on first use: greedy decoding never needs them) plus one GGUF kernel per block type the model uses, compiled once per device and shader source (a model
 * loaded again on the same device compiles nothing), and the device requested with the adapter's largest limits.
 */
import { bundledGgufGemmShader, bundledGgufShader, ggufGemmSource, ggufModuleSource, ggufTypesOf, type GgufEntry } from './gguf-kernels';
import { compileStages } from './gpu-sampling';
import { gemmSource, gemvSource, withReductions, type WgslLlmShaderSources } from './shaders';
import type { GgufBlockType, HalfFormat, LlamaWeights } from './weights';

export type PipelineName = 'gemv_nk' | 'gemv_nk_thread' | 'gemv_kn' | 'gemv_q4' | 'gemv_q4_thread' | 'gemm_nk' | 'gemm_kn' | 'gemm_q4'
  | 'embed_f32' | 'embed_q4' | 'rmsnorm' | 'rope_kv' | 'attn_split' | 'attn_combine' | 'swiglu';
/**
 * Kernels over 16-bit float matrices (gemv_f16.wgsl, gemm_f16.wgsl with the widening library of the format;
 * embed.wgsl's embed_f16, bfloat16 by a flag), one set per format the model has: `gemv_bf16_nk` is gemv_f16.wgsl's
 * gemv_nk with widen_bf16.wgsl.
 */
export type F16PipelineName = `${'gemv' | 'gemm'}_${HalfFormat}_${'nk' | 'kn'}` | `gemv_${HalfFormat}_nk_thread` | `embed_${HalfFormat}`;
/** A pipeline of the fixed set, an f16 one, or a GGUF kernel for one block type. */
export type DispatchName = PipelineName | F16PipelineName | `${GgufEntry}:${GgufBlockType}`;

export interface DecoderPipelines {
  fixed: Record<PipelineName, GPUComputePipeline>;
  /** The kernels of each 16-bit format the model's matrices have. */
  f16: Partial<Record<F16PipelineName, GPUComputePipeline>>;
  /** GGUF kernels by `${entry}:${type}` (gguf-kernels.ts), for the block types this model uses. */
  gguf: Map<string, GPUComputePipeline>;
  /** argmax.wgsl's stages (gpu-sampling.ts, ARGMAX_STAGES). */
  argmax: GPUComputePipeline[];
  /** sample.wgsl's stages (SAMPLER_STAGES), compiled on the first call. */
  sample: () => Promise<GPUComputePipeline[]>;
}

/** Compiled pipelines per device and shader source. */
const pipelineCache = new WeakMap<GPUDevice, Map<string, Promise<GPUComputePipeline>>>();

function cached(gpu: GPUDevice, code: string, entryPoint: string): Promise<GPUComputePipeline> {
  let cache = pipelineCache.get(gpu);
  if (!cache) pipelineCache.set(gpu, (cache = new Map()));
  const key = `${entryPoint}\n${code}`;
  let p = cache.get(key);
  if (!p) {
    p = gpu.createComputePipelineAsync({ layout: 'auto', compute: { module: gpu.createShaderModule({ code }), entryPoint } });
    const owner = cache;
    p.catch(() => owner.delete(key));
    cache.set(key, p);
  }
  return p;
}

/** GGUF kernel sources (default: the bundled shaders/llm/gemv_gguf.wgsl and gemm_gguf.wgsl). */
export interface GgufShaderSources {
  gemv?: string;
  gemm?: string;
}

/**
 * Compiles (or finds) every pipeline `weights` needs; `subgroups` picks the GEMVs' subgroup variants,
 * `reductionSubgroups` the subgroup reduction library (reduce_subgroup.wgsl) for the kernels that reduce.
 */
export async function compilePipelines(
  gpu: GPUDevice, shaders: WgslLlmShaderSources, weights: LlamaWeights, subgroups: boolean, ggufShaders: GgufShaderSources = {}, reductionSubgroups = false,
): Promise<DecoderPipelines> {
  const reducing = (kernel: 'rmsnorm' | 'attention' | 'argmax' | 'sample') => withReductions(shaders[kernel], shaders, reductionSubgroups);
  const make = (module: keyof WgslLlmShaderSources, entryPoint: string) => {
    // Subgroup entry points are appended to their kernel's source, after `enable subgroups;`.
    const code = module === 'gemv' || module === 'gemv_subgroup' ? gemvSource(shaders, 'f32', module === 'gemv_subgroup')
      : module === 'gemv_q4_subgroup' ? `enable subgroups;\n${shaders.gemv_q4}\n${shaders.gemv_q4_subgroup}`
        : module === 'gemm' ? gemmSource(shaders, 'f32')
        : module === 'rmsnorm' || module === 'attention' ? reducing(module) : shaders[module];
    return cached(gpu, code, entryPoint);
  };
  const list: [PipelineName, Promise<GPUComputePipeline>][] = [
    ['gemv_nk', subgroups ? make('gemv_subgroup', 'gemv_nk_subgroup') : make('gemv', 'gemv_nk')], ['gemv_nk_thread', make('gemv', 'gemv_nk_thread')], ['gemv_kn', make('gemv', 'gemv_kn')],
    ['gemv_q4', subgroups ? make('gemv_q4_subgroup', 'main_subgroup') : make('gemv_q4', 'main')], ['gemv_q4_thread', make('gemv_q4', 'main_thread')],
    ['gemm_nk', make('gemm', 'gemm_nk')], ['gemm_kn', make('gemm', 'gemm_kn')], ['gemm_q4', make('gemm_q4', 'main')],
    ['embed_f32', make('embed', 'embed_f32')], ['embed_q4', make('embed', 'embed_q4')], ['rmsnorm', make('rmsnorm', 'main')],
    ['rope_kv', make('rope_kv', 'main')], ['attn_split', make('attention', 'split')], ['attn_combine', make('attention', 'combine')],
    ['swiglu', make('swiglu', 'main')],
  ];
  const f16List: [F16PipelineName, Promise<GPUComputePipeline>][] = [...halfFormatsOf(weights)].flatMap((f) => {
    const gemv = (entry: string, sg = false) => cached(gpu, gemvSource(shaders, f, sg), entry);
    const gemm = (entry: string) => cached(gpu, gemmSource(shaders, f), entry);
    return [
      [`gemv_${f}_nk`, subgroups ? gemv('gemv_nk_subgroup', true) : gemv('gemv_nk')], [`gemv_${f}_nk_thread`, gemv('gemv_nk_thread')], [`gemv_${f}_kn`, gemv('gemv_kn')],
      [`gemm_${f}_nk`, gemm('gemm_nk')], [`gemm_${f}_kn`, gemm('gemm_kn')], [`embed_${f}`, make('embed', 'embed_f16')],
    ] as [F16PipelineName, Promise<GPUComputePipeline>][];
  });
  const argmax = compileStages(gpu, reducing('argmax'), 'argmax');
  let sample: Promise<GPUComputePipeline[]> | null = null;
  const types = ggufTypesOf(weights);
  const ggufList: [string, Promise<GPUComputePipeline>][] = [];
  if (types.gemv.size || types.embed) {
    const source = ggufShaders.gemv ?? await bundledGgufShader();
    const ggufMake = (entry: GgufEntry, type: GgufBlockType, code = source) => {
      ggufList.push([`${entry}:${type}`, cached(gpu, ggufModuleSource(code, type), entry)]);
    };
    for (const type of types.gemv) { ggufMake('gemv', type); ggufMake('gemv_thread', type); }
    if (types.embed) ggufMake('embed', types.embed);
    if (types.gemm.size) {
      const gemm = ggufGemmSource(source, ggufShaders.gemm ?? await bundledGgufGemmShader());
      for (const type of types.gemm) ggufMake('gemm', type, gemm);
    }
  }
  const fixed = Object.fromEntries(await Promise.all(list.map(async ([n, p]) => [n, await p] as const))) as Record<PipelineName, GPUComputePipeline>;
  const f16 = Object.fromEntries(await Promise.all(f16List.map(async ([n, p]) => [n, await p] as const))) as DecoderPipelines['f16'];
  const gguf = new Map(await Promise.all(ggufList.map(async ([n, p]) => [n, await p] as const)));
  return { fixed, f16, gguf, argmax: await argmax, sample: () => (sample ??= compileStages(gpu, reducing('sample'), 'sample')) };
}

/** The 16-bit formats (float16, bfloat16) of the matrices (embedding, projections, head) stored as such. */
function halfFormatsOf(weights: LlamaWeights): Set<HalfFormat> {
  const all = [weights.embed, weights.lmHead, ...weights.layers.flatMap((l) => [l.q, l.k, l.v, l.o, l.gate, l.up, l.down])];
  return new Set(all.flatMap((w) => (w.kind === 'f16' ? [w.format ?? 'f16'] : [])));
}

/** The device has the `subgroups` feature (what the reduction library reduce_subgroup.wgsl needs). */
export function hasSubgroups(device: GPUDevice): boolean {
  return device.features.has('subgroups');
}

/** The device has subgroups whose size divides a 32-lane row group (gemv_subgroup.wgsl's assumption). */
export function hasSmallSubgroups(device: GPUDevice): boolean {
  if (!device.features.has('subgroups')) return false;
  const info = (device as GPUDevice & { adapterInfo?: { subgroupMinSize?: number; subgroupMaxSize?: number } }).adapterInfo;
  const min = info?.subgroupMinSize ?? 0;
  const max = info?.subgroupMaxSize ?? 0;
  return min >= 1 && max <= 32 && (max & (max - 1)) === 0 && (min & (min - 1)) === 0;
}

/** A device with the adapter's largest buffer limits (a 1B model's embedding alone is ~1 GB in float32), and subgroups. */
export async function requestDevice(): Promise<GPUDevice> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) throw new Error('WebGPU is not available');
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('no WebGPU adapter');
  return adapter.requestDevice({
    requiredFeatures: adapter.features.has('subgroups') ? ['subgroups' as GPUFeatureName] : [],
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
    },
  });
}

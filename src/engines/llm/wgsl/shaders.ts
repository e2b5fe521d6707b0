/**
 * The WGSL decoder's shader bundle: the names of its kernels (shaders/llm/*.wgsl) and their sources through Vite's
 * `?raw` imports (browser builds, vitest); elsewhere (Node benches) the caller passes the sources itself.
 */
import type { HalfFormat } from './weights';

export const WGSL_LLM_SHADER_NAMES = ['gemv', 'gemv_q4', 'gemv_subgroup', 'gemv_q4_subgroup', 'gemv_f32', 'gemv_f16', 'gemm', 'gemm_f32', 'gemm_q4', 'gemm_f16', 'embed', 'rmsnorm', 'rope_kv', 'attention', 'swiglu', 'argmax', 'sample', 'reduce_workgroup', 'reduce_subgroup', 'widen_f16', 'widen_bf16'] as const;
export type WgslLlmShaderSources = Record<(typeof WGSL_LLM_SHADER_NAMES)[number], string>;

/** The bundled shaders through Vite's `?raw` (browser builds, vitest). */
export async function bundledLlmShaders(): Promise<WgslLlmShaderSources> {
  const [gemv, gemvQ4, gemvSubgroup, gemvQ4Subgroup, gemvF32, gemvF16, gemm, gemmF32, gemmQ4, gemmF16, embed, rmsnorm, rope, attention, swiglu, argmax, sample, reduceWorkgroup, reduceSubgroup, widenF16, widenBf16] = await Promise.all([
    import('../../../../shaders/llm/gemv.wgsl?raw'),
    import('../../../../shaders/llm/gemv_q4.wgsl?raw'),
    import('../../../../shaders/llm/gemv_subgroup.wgsl?raw'),
    import('../../../../shaders/llm/gemv_q4_subgroup.wgsl?raw'),
    import('../../../../shaders/llm/gemv_f32.wgsl?raw'),
    import('../../../../shaders/llm/gemv_f16.wgsl?raw'),
    import('../../../../shaders/llm/gemm.wgsl?raw'),
    import('../../../../shaders/llm/gemm_f32.wgsl?raw'),
    import('../../../../shaders/llm/gemm_q4.wgsl?raw'),
    import('../../../../shaders/llm/gemm_f16.wgsl?raw'),
    import('../../../../shaders/llm/embed.wgsl?raw'),
    import('../../../../shaders/llm/rmsnorm.wgsl?raw'),
    import('../../../../shaders/llm/rope_kv.wgsl?raw'),
    import('../../../../shaders/llm/attention.wgsl?raw'),
    import('../../../../shaders/llm/swiglu.wgsl?raw'),
    import('../../../../shaders/llm/argmax.wgsl?raw'),
    import('../../../../shaders/llm/sample.wgsl?raw'),
    import('../../../../shaders/llm/reduce_workgroup.wgsl?raw'),
    import('../../../../shaders/llm/reduce_subgroup.wgsl?raw'),
    import('../../../../shaders/llm/widen_f16.wgsl?raw'),
    import('../../../../shaders/llm/widen_bf16.wgsl?raw'),
  ]);
  return {
    gemv: gemv.default, gemv_q4: gemvQ4.default, gemv_subgroup: gemvSubgroup.default, gemv_q4_subgroup: gemvQ4Subgroup.default,
    gemv_f32: gemvF32.default, gemv_f16: gemvF16.default, gemm: gemm.default, gemm_f32: gemmF32.default, gemm_q4: gemmQ4.default, gemm_f16: gemmF16.default, embed: embed.default, rmsnorm: rmsnorm.default,
    rope_kv: rope.default, attention: attention.default, swiglu: swiglu.default, argmax: argmax.default, sample: sample.default,
    reduce_workgroup: reduceWorkgroup.default, reduce_subgroup: reduceSubgroup.default, widen_f16: widenF16.default, widen_bf16: widenBf16.default,
  };
}

/** The kernels whose reductions come from a reduction library (the wg_* functions) appended to their source. */
export const REDUCING_KERNELS = ['rmsnorm', 'attention', 'argmax', 'sample'] as const;
export type ReducingKernel = (typeof REDUCING_KERNELS)[number];

/**
 * A reducing kernel's full source: with `subgroups`, `enable subgroups;` + the kernel + reduce_subgroup.wgsl (the
 * device must have the `subgroups` feature), else the kernel + reduce_workgroup.wgsl (any device).
 */
export function withReductions(kernel: string, libraries: Pick<WgslLlmShaderSources, 'reduce_workgroup' | 'reduce_subgroup'>, subgroups: boolean): string {
  return subgroups ? `enable subgroups;\n${kernel}\n${libraries.reduce_subgroup}` : `${kernel}\n${libraries.reduce_workgroup}`;
}

/**
 * A 16-bit-float kernel's full source (gemv.wgsl + gemv_f16.wgsl, gemm.wgsl + gemm_f16.wgsl): the kernel + the library
 * defining its `widen2` for the weight's format (widen_f16.wgsl: IEEE half; widen_bf16.wgsl: bfloat16), so one kernel
 * source serves both and the choice costs nothing per element.
 */
export function withWidening(kernel: string, libraries: Pick<WgslLlmShaderSources, 'widen_f16' | 'widen_bf16'>, format: HalfFormat): string {
  return `${kernel}\n${format === 'bf16' ? libraries.widen_bf16 : libraries.widen_f16}`;
}

/**
 * The prefill GEMM's full source for a weight format: gemm.wgsl's tiling + the reader that defines its weights binding
 * and `weight(i)` (gemm_f32.wgsl, or gemm_f16.wgsl + the format's widening library), so one tiling serves every format.
 */
export function gemmSource(
  shaders: Pick<WgslLlmShaderSources, 'gemm' | 'gemm_f32' | 'gemm_f16' | 'widen_f16' | 'widen_bf16'>, format: 'f32' | HalfFormat,
): string {
  return format === 'f32' ? `${shaders.gemm}\n${shaders.gemm_f32}` : withWidening(`${shaders.gemm}\n${shaders.gemm_f16}`, shaders, format);
}

/**
 * The batch-1 GEMV's full source for a weight format: gemv.wgsl's row kernels (with `subgroups`, `enable subgroups;`
 * first and gemv_subgroup.wgsl's gemv_nk_subgroup after them) + the reader that binds the weights and defines
 * `row_dot` and gemv_kn (gemv_f32.wgsl, or gemv_f16.wgsl + the format's widening library), so one set of row kernels
 * serves every format.
 */
export function gemvSource(
  shaders: Pick<WgslLlmShaderSources, 'gemv' | 'gemv_subgroup' | 'gemv_f32' | 'gemv_f16' | 'widen_f16' | 'widen_bf16'>,
  format: 'f32' | HalfFormat, subgroups: boolean,
): string {
  const rows = subgroups ? `enable subgroups;\n${shaders.gemv}\n${shaders.gemv_subgroup}` : shaders.gemv;
  return format === 'f32' ? `${rows}\n${shaders.gemv_f32}` : withWidening(`${rows}\n${shaders.gemv_f16}`, shaders, format);
}

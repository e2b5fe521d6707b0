/**
 * The WGSL decoder's shader bundle: the names of its kernels (shaders/llm/*.wgsl) and their sources through Vite's
 * `?raw` imports (browser builds, vitest); elsewhere (Node benches) the caller passes the sources itself.
 */

export const WGSL_LLM_SHADER_NAMES = ['gemv', 'gemv_q4', 'gemv_subgroup', 'gemv_q4_subgroup', 'gemv_f16', 'gemv_f16_subgroup', 'gemm', 'gemm_q4', 'gemm_f16', 'embed', 'rmsnorm', 'rope_kv', 'attention', 'swiglu', 'argmax', 'sample'] as const;
export type WgslLlmShaderSources = Record<(typeof WGSL_LLM_SHADER_NAMES)[number], string>;

/** The bundled shaders through Vite's `?raw` (browser builds, vitest). */
export async function bundledLlmShaders(): Promise<WgslLlmShaderSources> {
  const [gemv, gemvQ4, gemvSubgroup, gemvQ4Subgroup, gemvF16, gemvF16Subgroup, gemm, gemmQ4, gemmF16, embed, rmsnorm, rope, attention, swiglu, argmax, sample] = await Promise.all([
    import('../../../../shaders/llm/gemv.wgsl?raw'),
    import('../../../../shaders/llm/gemv_q4.wgsl?raw'),
    import('../../../../shaders/llm/gemv_subgroup.wgsl?raw'),
    import('../../../../shaders/llm/gemv_q4_subgroup.wgsl?raw'),
    import('../../../../shaders/llm/gemv_f16.wgsl?raw'),
    import('../../../../shaders/llm/gemv_f16_subgroup.wgsl?raw'),
    import('../../../../shaders/llm/gemm.wgsl?raw'),
    import('../../../../shaders/llm/gemm_q4.wgsl?raw'),
    import('../../../../shaders/llm/gemm_f16.wgsl?raw'),
    import('../../../../shaders/llm/embed.wgsl?raw'),
    import('../../../../shaders/llm/rmsnorm.wgsl?raw'),
    import('../../../../shaders/llm/rope_kv.wgsl?raw'),
    import('../../../../shaders/llm/attention.wgsl?raw'),
    import('../../../../shaders/llm/swiglu.wgsl?raw'),
    import('../../../../shaders/llm/argmax.wgsl?raw'),
    import('../../../../shaders/llm/sample.wgsl?raw'),
  ]);
  return {
    gemv: gemv.default, gemv_q4: gemvQ4.default, gemv_subgroup: gemvSubgroup.default, gemv_q4_subgroup: gemvQ4Subgroup.default,
    gemv_f16: gemvF16.default, gemv_f16_subgroup: gemvF16Subgroup.default, gemm: gemm.default, gemm_q4: gemmQ4.default, gemm_f16: gemmF16.default, embed: embed.default, rmsnorm: rmsnorm.default,
    rope_kv: rope.default, attention: attention.default, swiglu: swiglu.default, argmax: argmax.default, sample: sample.default,
  };
}

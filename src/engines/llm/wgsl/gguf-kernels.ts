/**
 * The WGSL decoder's GGUF kernels (shaders/llm/gemv_gguf.wgsl, and gemm_gguf.wgsl appended to it for prefill): one
 * shader module per GGML block type (the source's `_TYPE(` calls bound to that type's functions), compiled only for
 * the types a model uses, and the uniform words of a GEMV, GEMM or embedding dispatch over a GGUF tensor.
 */
import { ggufRowBytes } from './gguf-reference';
import type { GgufBlockType, LlamaWeights } from './weights';

export type GgufEntry = 'gemv' | 'gemv_thread' | 'gemm' | 'embed';

/** The bundled shader through Vite's `?raw` (browser builds, vitest). */
export async function bundledGgufShader(): Promise<string> {
  return (await import('../../../../shaders/llm/gemv_gguf.wgsl?raw')).default;
}

/** The bundled prefill GEMM (appended to gemv_gguf.wgsl's source: see ggufGemmSource). */
export async function bundledGgufGemmShader(): Promise<string> {
  return (await import('../../../../shaders/llm/gemm_gguf.wgsl?raw')).default;
}

/** The source of the GEMM entry point: gemm_gguf.wgsl after gemv_gguf.wgsl (whose Params and block readers it uses). */
export const ggufGemmSource = (gemv: string, gemm: string) => `${gemv}\n${gemm}`;

/** The shader specialised for one block type. */
export const ggufModuleSource = (source: string, type: GgufBlockType) => source.replaceAll('_TYPE(', `_${type.toLowerCase()}(`);

/**
 * The GGUF block types among the model's matrices (GEMV entry points), among its layers' matrices (the prefill GEMM:
 * the head runs on the last token only, as a GEMV), and the embedding's (it needs the embed entry point).
 */
export function ggufTypesOf(weights: LlamaWeights): { gemv: Set<GgufBlockType>; gemm: Set<GgufBlockType>; embed: GgufBlockType | null } {
  const gemv = new Set<GgufBlockType>();
  const gemm = new Set<GgufBlockType>();
  for (const w of weights.layers.flatMap((l) => [l.q, l.k, l.v, l.o, l.gate, l.up, l.down])) {
    if (w.kind === 'gguf') { gemv.add(w.type); gemm.add(w.type); }
  }
  if (weights.lmHead.kind === 'gguf') gemv.add(weights.lmHead.type);
  return { gemv, gemm, embed: weights.embed.kind === 'gguf' ? weights.embed.type : null };
}

/** 32-element units per row (gemv_gguf.wgsl's Params.units). */
export const ggufUnits = (k: number) => Math.ceil(k / 32);

/** Uniform words of a GEMV (or, with k = hidden and n = vocab, an embedding) over a GGUF [n, k] tensor. */
export function ggufParams(type: GgufBlockType, k: number, n: number, flags: number, stride: number): number[] {
  return [k, n, flags, stride, ggufUnits(k), ggufRowBytes(type, k), 0, 0];
}

/** Uniform words of a prefill GEMM over a GGUF [n, k] tensor, x and out holding `rows` token rows. */
export function ggufGemmParams(type: GgufBlockType, k: number, n: number, flags: number, rows: number): number[] {
  return [k, n, flags, 0, ggufUnits(k), ggufRowBytes(type, k), rows, 0];
}

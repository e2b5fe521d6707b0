/**
 * The 16-bit weight kernels' cases against their CPU references, written once for both storage formats: gemv_f16's
 * three entry points, its subgroup variant and the prefill GEMM (gemm.wgsl + gemm_f16.wgsl), each compiled with the
 * format's widening library as pipelines.ts compiles them. Registered by wgsl-llm-f16.test.ts (IEEE half) and
 * wgsl-llm-safetensors.test.ts (bfloat16), each with its own random weights and device.
 */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { getDevice, runKernel } from './dawn';
import { hasSmallSubgroups } from '../../src/engines/llm/wgsl/pipelines';
import { gemmReference, gemvReference, swigluReference } from '../../src/engines/llm/wgsl/reference';
import { withWidening } from '../../src/engines/llm/wgsl/shaders';
import type { HalfFormat, LinearWeight } from '../../src/engines/llm/wgsl/weights';

export const shader = (name: string) => readFileSync(new URL(`../../shaders/llm/${name}.wgsl`, import.meta.url), 'utf8');
/** A 16-bit kernel with the format's widening library appended (as pipelines.ts compiles it). */
export const halfKernel = (source: string, format: HalfFormat) =>
  withWidening(source, { widen_f16: shader('widen_f16'), widen_bf16: shader('widen_bf16') }, format);

export const f32 = (buf: ArrayBuffer, n: number) => new Float32Array(buf, 0, n);
/** Worst relative error (|got − want| / (1 + |want|)) at most `tol`. */
export function close(got: Float32Array, want: Float32Array, tol: number): void {
  expect(got.length).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i])));
  expect(worst).toBeLessThanOrEqual(tol);
}

type HalfWeight = Extract<LinearWeight, { kind: 'f16' }>;

export interface HalfKernelCases {
  format: HalfFormat;
  /** Random weights of the format. */
  weight: (layout: 'nk' | 'kn', n: number, k: number) => HalfWeight;
  randn: (n: number) => Float32Array;
  device: () => GPUDevice;
  /** Name of the device for a subgroups-enabled twin (getDevice's label). */
  label: string;
  /** [n, k] shapes of the GEMV case: odd and even k and n. */
  gemvShapes: readonly (readonly [number, number])[];
}

export function halfKernelCases({ format, weight, randn, device, label, gemvShapes }: HalfKernelCases): void {
  const tag = format === 'bf16' ? ' (bf16)' : '';

  it(`gemv_f16${tag}: gemv_nk, gemv_nk_thread (odd and even k), gemv_kn (odd and even n); bias, residual, a 2-D dispatch`, async () => {
    for (const [n, k] of gemvShapes) {
      for (const [layout, entry] of [['nk', 'gemv_nk'], ['nk', 'gemv_nk_thread'], ['kn', 'gemv_kn']] as const) {
        const w = weight(layout, n, k);
        const x = randn(k);
        const bias = randn(n);
        const residual = randn(n);
        const perGroup = entry === 'gemv_nk' ? 4 : 64;
        const invocations = entry === 'gemv_kn' && n % 2 === 0 ? n / 2 : n;
        const groups = Math.ceil(invocations / perGroup);
        const stride = Math.min(groups, 2);
        const got = await runKernel(device(), halfKernel(`${shader('gemv')}\n${shader('gemv_f16')}`, format), entry, [k, n, 3, stride], { 1: x, 2: w.bytes, 3: bias, 4: residual },
          [stride, Math.ceil(groups / stride)], [4]);
        close(f32(got.get(4)!, n), gemvReference(w, x, bias, residual), 1e-5);
      }
    }
  });

  it(`gemv_f16 subgroup variant${tag} (gemv_nk_subgroup) on a device with subgroups`, async () => {
    const sg = await getDevice(label, ['subgroups']);
    expect(hasSmallSubgroups(sg)).toBe(true);
    try {
      for (const [n, k] of [[37, 299], [21, 300]] as const) {
        const w = weight('nk', n, k);
        const x = randn(k);
        const bias = randn(n);
        const residual = randn(n);
        const groups = Math.ceil(n / 4);
        const code = halfKernel(`enable subgroups;\n${shader('gemv')}\n${shader('gemv_subgroup')}\n${shader('gemv_f16')}`, format);
        const got = await runKernel(sg, code, 'gemv_nk_subgroup', [k, n, 3, groups], { 1: x, 2: w.bytes, 3: bias, 4: residual }, [groups], [4]);
        close(f32(got.get(4)!, n), gemvReference(w, x, bias, residual), 1e-5);
      }
    } finally {
      sg.destroy();
    }
  });

  it(`gemm.wgsl + gemm_f16.wgsl${tag}: gemm_nk and gemm_kn (prefill, 21 tokens), odd n and k, bias + residual, SwiGLU fused into x`, async () => {
    const rows = 24;
    const tokens = 21;
    const code = halfKernel(`${shader('gemm')}\n${shader('gemm_f16')}`, format);
    for (const [n, k] of [[67, 45], [66, 46]] as const) {
      for (const layout of ['nk', 'kn'] as const) {
        const w = weight(layout, n, k);
        const x = randn(rows * k);
        const bias = randn(n);
        const residual = randn(rows * n);
        const up = randn(rows * k);
        const entry = layout === 'nk' ? 'gemm_nk' : 'gemm_kn';
        const groups: [number, number] = [Math.ceil(n / 64), Math.ceil(tokens / 16)];
        const got = await runKernel(device(), code, entry, [k, n, 3, rows], { 1: x, 2: w.bytes, 3: bias, 4: residual, 5: up }, groups, [4]);
        close(f32(got.get(4)!, tokens * n), gemmReference(w, x, tokens, bias, residual), 1e-5);
        const fused = await runKernel(device(), code, entry, [k, n, 8, rows], { 1: x, 2: w.bytes, 3: bias, 4: residual, 5: up }, groups, [4]);
        close(f32(fused.get(4)!, tokens * n), gemmReference(w, swigluReference(x, up), tokens), 1e-5);
      }
    }
  });
}

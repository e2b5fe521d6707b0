/**
 * The LoRA merge W += scale · up @ down, written in place into a weight's bytes in the layout its ONNX graph stores
 * (row-major [rows, cols], or transposed [cols, rows]; float32 or float16). `mergeOnCpu` is the reference the WGSL
 * kernel (shaders/lora/merge.wgsl, driven by gpu-merge.ts) is tested against, and the path on devices without WebGPU.
 */
import { setFloat16 } from '@petamoriken/float16';
import { halfTable } from '../../../util/float16';
import type { OnnxWeightType } from './onnx-weights';

/** One weight to update: its bytes (a view into the model or its external data) and the low-rank factors. */
export interface MergeJob {
  bytes: Uint8Array;
  type: OnnxWeightType;
  rows: number;
  cols: number;
  rank: number;
  transposed: boolean;
  scale: number;
  /** [rows, rank] and [rank, cols], row-major. */
  up: Float32Array;
  down: Float32Array;
}

export interface WeightMerger {
  readonly device: 'webgpu' | 'cpu';
  merge(jobs: MergeJob[]): Promise<void>;
}

/** The delta for stored element e, accumulated in float32 in rank order (as the kernel does). */
export function mergeDelta(job: MergeJob, e: number): number {
  const o = job.transposed ? e % job.rows : Math.floor(e / job.cols);
  const k = job.transposed ? Math.floor(e / job.rows) : e % job.cols;
  let acc = 0;
  for (let r = 0; r < job.rank; r++) acc = Math.fround(acc + Math.fround(job.up[o * job.rank + r] * job.down[r * job.cols + k]));
  return Math.fround(job.scale * acc);
}

export function mergeOnCpu(job: MergeJob): void {
  const count = job.rows * job.cols;
  const view = new DataView(job.bytes.buffer, job.bytes.byteOffset, job.bytes.byteLength);
  if (job.type === 'float32') {
    for (let e = 0; e < count; e++) view.setFloat32(4 * e, view.getFloat32(4 * e, true) + mergeDelta(job, e), true);
  } else {
    const half = halfTable();
    for (let e = 0; e < count; e++) setFloat16(view, 2 * e, Math.fround(half[view.getUint16(2 * e, true)] + mergeDelta(job, e)), true);
  }
}

export const cpuMerger: WeightMerger = {
  device: 'cpu',
  async merge(jobs) {
    for (const job of jobs) mergeOnCpu(job);
  },
};

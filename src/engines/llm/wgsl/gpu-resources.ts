/**
 * The WGSL decoder's GPU resources: every buffer it allocates (destroyed together on release), weight uploads (each
 * linear weight and vector uploaded once, as the file stores it), the uniform slots every dispatch reads (reserved
 * while recording, written once), and bind groups / recorded dispatches over the compiled pipelines.
 */
import type { DecoderPipelines, DispatchName, F16PipelineName, PipelineName } from './pipelines';
import { f32Bytes, type GgufBlockType, type LinearWeight } from './weights';

export const Usage = { MAP_READ: 0x0001, COPY_SRC: 0x0004, COPY_DST: 0x0008, UNIFORM: 0x0040, STORAGE: 0x0080 } as const;
export const MAP_MODE_READ = 0x0001;
/** Most workgroups along one dispatch dimension; larger counts wrap into y. */
export const MAX_GROUPS = 65535;
/** Bytes of one uniform slot (the uniform-offset alignment). */
const PARAM_SLOT = 256;

/** One recorded dispatch. */
export interface Dispatch {
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  x: number;
  y: number;
  z?: number;
}

/** A recorded prefill dispatch: its workgroup counts depend on the pass's token count. */
export interface PrefillDispatch {
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  groups: (tokens: number) => [number, number, number];
}

/** A linear weight on the GPU. */
export type GpuLinear =
  | { kind: 'f32'; layout: 'nk' | 'kn'; n: number; k: number; w: GPUBuffer }
  /** float16 [n, k] or [k, n], two halves per word (gemv_f16.wgsl, gemm_f16.wgsl). */
  | { kind: 'f16'; layout: 'nk' | 'kn'; n: number; k: number; w: GPUBuffer }
  | { kind: 'q4'; n: number; k: number; blockSize: number; blocks: number; zpStride: number; q: GPUBuffer; scales: GPUBuffer; f16Scales: boolean; zp: GPUBuffer | null }
  | { kind: 'gguf'; type: GgufBlockType; n: number; k: number; w: GPUBuffer };

/** A uniform word: u32, or f32 given as { f }. */
export type ParamWord = number | { f: number };

export class GpuResources {
  private readonly buffers: GPUBuffer[] = [];
  private readonly params: number[] = [];
  private paramBuffer: GPUBuffer | null = null;
  private readonly linears = new Map<LinearWeight, GpuLinear>();
  private readonly vectors = new Map<Float32Array, GPUBuffer>();

  constructor(readonly device: GPUDevice, private readonly pipelines: DecoderPipelines) {}

  buffer(size: number, usage: number): GPUBuffer {
    const limit = this.device.limits.maxStorageBufferBindingSize;
    if ((usage & Usage.STORAGE) && size > limit) {
      throw new Error(`a ${size}-byte weight exceeds this adapter's ${limit}-byte storage binding limit`);
    }
    const b = this.device.createBuffer({ size: Math.ceil(size / 4) * 4, usage });
    this.buffers.push(b);
    return b;
  }

  /** Destroys a buffer of ours before release (a readback buffer outgrown). */
  free(buffer: GPUBuffer): void {
    buffer.destroy();
    const i = this.buffers.indexOf(buffer);
    if (i >= 0) this.buffers.splice(i, 1);
  }

  /** Destroys every buffer. */
  destroy(): void {
    for (const b of this.buffers) b.destroy();
    this.buffers.length = 0;
  }

  upload(bytes: Uint8Array): GPUBuffer {
    const size = Math.max(4, Math.ceil(bytes.byteLength / 4) * 4);
    const b = this.buffer(size, Usage.STORAGE | Usage.COPY_DST);
    const whole = bytes.byteLength & ~3;
    if (whole) this.device.queue.writeBuffer(b, 0, bytes as Uint8Array<ArrayBuffer>, 0, whole);
    if (whole < bytes.byteLength) {
      const tail = new Uint8Array(4);
      tail.set(bytes.subarray(whole));
      this.device.queue.writeBuffer(b, whole, tail);
    }
    return b;
  }

  vector(v: Float32Array): GPUBuffer {
    let b = this.vectors.get(v);
    if (!b) this.vectors.set(v, (b = this.upload(f32Bytes(v))));
    return b;
  }

  linear(w: LinearWeight): GpuLinear {
    let g = this.linears.get(w);
    if (g) return g;
    if (w.kind === 'f32') g = { kind: 'f32', layout: w.layout, n: w.n, k: w.k, w: this.upload(w.bytes) };
    else if (w.kind === 'f16') g = { kind: 'f16', layout: w.layout, n: w.n, k: w.k, w: this.upload(w.bytes) };
    else if (w.kind === 'gguf') g = { kind: 'gguf', type: w.type, n: w.n, k: w.k, w: this.upload(w.bytes) };
    else {
      const blocks = Math.ceil(w.k / w.blockSize);
      g = {
        kind: 'q4', n: w.n, k: w.k, blockSize: w.blockSize, blocks, zpStride: Math.ceil(blocks / 2),
        q: this.upload(w.q), scales: this.upload(w.scales), f16Scales: w.scaleType === 'f16', zp: w.zeroPoints ? this.upload(w.zeroPoints) : null,
      };
    }
    this.linears.set(w, g);
    return g;
  }

  /** Drops every reference to the file's weights (they are on the GPU now). */
  forgetUploads(): void {
    this.linears.clear();
    this.vectors.clear();
  }

  /** Reserves a uniform slot with these 32-bit words. */
  param(words: ParamWord[]): number {
    if (this.paramBuffer) throw new Error('GpuResources.param: the uniforms are already written');
    const slot = this.params.length / (PARAM_SLOT / 4);
    const data = new Array<number>(PARAM_SLOT / 4).fill(0);
    const view = new DataView(new ArrayBuffer(4));
    words.forEach((w, i) => {
      if (typeof w === 'number') data[i] = w >>> 0;
      else {
        view.setFloat32(0, w.f, true);
        data[i] = view.getUint32(0, true);
      }
    });
    this.params.push(...data);
    return slot;
  }

  /** Uploads every reserved uniform slot: bind groups can be made from here on. */
  writeParams(): void {
    this.paramBuffer = this.buffer(this.params.length * 4, Usage.UNIFORM | Usage.COPY_DST);
    this.device.queue.writeBuffer(this.paramBuffer, 0, new Uint32Array(this.params));
  }

  /** A bind group of `name`'s pipeline: the uniform slot at binding 0, `buffers` from binding 1 (null: unbound). */
  bind(name: DispatchName, slot: number, buffers: (GPUBuffer | null)[]): { pipeline: GPUComputePipeline; bindGroup: GPUBindGroup } {
    if (!this.paramBuffer) throw new Error('GpuResources.bind: writeParams() first');
    const pipeline = name.includes(':') ? this.pipelines.gguf.get(name)
      : this.pipelines.fixed[name as PipelineName] ?? this.pipelines.f16[name as F16PipelineName];
    if (!pipeline) throw new Error(`GpuResources.bind: no pipeline ${name} was compiled`);
    const entries: GPUBindGroupEntry[] = [
      { binding: 0, resource: { buffer: this.paramBuffer, offset: slot * PARAM_SLOT, size: PARAM_SLOT } },
    ];
    buffers.forEach((buffer, i) => { if (buffer) entries.push({ binding: i + 1, resource: { buffer } }); });
    return { pipeline, bindGroup: this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }) };
  }

  /** A dispatch of `groups` workgroups (wrapped into y past MAX_GROUPS). */
  dispatch(name: DispatchName, slot: number, buffers: (GPUBuffer | null)[], groups: number, z = 1): Dispatch {
    const x = Math.min(groups, MAX_GROUPS);
    const y = Math.ceil(groups / x);
    return { ...this.bind(name, slot, buffers), x, y, z };
  }

  /** A prefill dispatch, its workgroup counts a function of the pass's token count. */
  prefillDispatch(name: DispatchName, slot: number, buffers: (GPUBuffer | null)[], groups: (tokens: number) => [number, number, number]): PrefillDispatch {
    return { ...this.bind(name, slot, buffers), groups };
  }
}

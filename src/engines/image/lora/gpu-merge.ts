/**
 * The LoRA merge on WebGPU: shaders/lora/merge.wgsl applied to each weight in place. Weights are uploaded, merged
 * and read back in batches (a few hundred MB in flight at most), because onnxruntime-web takes the model as bytes:
 * the merged bytes are what the session is created from. A weight larger than the device's storage binding limit is
 * merged on the CPU instead (counted in `cpuFallbacks`).
 *
 * Shader source: in the browser (Vite) a `?raw` import; elsewhere (Node tests) pass it to `GpuLoraMerger.create`.
 */
import { mergeOnCpu, type MergeJob, type WeightMerger } from './merge';

const Usage = { MAP_READ: 0x0001, COPY_SRC: 0x0004, COPY_DST: 0x0008, UNIFORM: 0x0040, STORAGE: 0x0080 } as const;
const MAP_MODE_READ = 0x0001;
const WORKGROUP = 256;
const MAX_GROUPS_X = 65535;
/** Bytes of weights in flight before the batch is read back. */
const BATCH_BYTES = 256 * 1024 * 1024;

async function bundledShader(): Promise<string> {
  return (await import('../../../../shaders/lora/merge.wgsl?raw')).default;
}

export class GpuLoraMerger implements WeightMerger {
  readonly device = 'webgpu' as const;
  cpuFallbacks = 0;

  private constructor(private readonly gpu: GPUDevice, private readonly pipeline: GPUComputePipeline) {}

  static async create(gpu: GPUDevice, source?: string): Promise<GpuLoraMerger> {
    const module = gpu.createShaderModule({ code: source ?? (await bundledShader()) });
    const pipeline = await gpu.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    return new GpuLoraMerger(gpu, pipeline);
  }

  async merge(jobs: MergeJob[]): Promise<void> {
    let batch: MergeJob[] = [];
    let bytes = 0;
    for (const job of jobs) {
      if (!this.fits(job)) {
        mergeOnCpu(job);
        this.cpuFallbacks++;
        continue;
      }
      batch.push(job);
      bytes += job.bytes.byteLength;
      if (bytes >= BATCH_BYTES) {
        await this.run(batch);
        batch = [];
        bytes = 0;
      }
    }
    if (batch.length) await this.run(batch);
  }

  private fits(job: MergeJob): boolean {
    const limit = this.gpu.limits.maxStorageBufferBindingSize;
    return padded(job.bytes.byteLength) <= limit && 4 * job.up.length <= limit && 4 * job.down.length <= limit;
  }

  private async run(jobs: MergeJob[]): Promise<void> {
    const gpu = this.gpu;
    const created: GPUBuffer[] = [];
    const make = (size: number, usage: number) => {
      const b = gpu.createBuffer({ size: Math.max(4, padded(size)), usage });
      created.push(b);
      return b;
    };
    const upload = (data: Float32Array) => {
      const b = make(data.byteLength, Usage.STORAGE | Usage.COPY_DST);
      gpu.queue.writeBuffer(b, 0, data.buffer, data.byteOffset, data.byteLength);
      return b;
    };
    const readbacks: { job: MergeJob; buffer: GPUBuffer }[] = [];
    try {
      const encoder = gpu.createCommandEncoder();
      for (const job of jobs) {
        const size = padded(job.bytes.byteLength);
        const weight = make(size, Usage.STORAGE | Usage.COPY_SRC | Usage.COPY_DST);
        const staging = new Uint8Array(size);
        staging.set(job.bytes);
        gpu.queue.writeBuffer(weight, 0, staging);
        const words = size / 4;
        const groups = Math.ceil(words / WORKGROUP);
        const groupsX = Math.min(groups, MAX_GROUPS_X);
        const params = new ArrayBuffer(32);
        const u32 = new Uint32Array(params);
        u32.set([job.rows, job.cols, job.rank, job.transposed ? 1 : 0, job.rows * job.cols, job.type === 'float16' ? 1 : 0]);
        new Float32Array(params)[6] = job.scale;
        u32[7] = groupsX * WORKGROUP;
        const uniform = make(32, Usage.UNIFORM | Usage.COPY_DST);
        gpu.queue.writeBuffer(uniform, 0, params);
        const bind = gpu.createBindGroup({
          layout: this.pipeline.getBindGroupLayout(0),
          entries: [
            { binding: 0, resource: { buffer: uniform } },
            { binding: 1, resource: { buffer: upload(job.up) } },
            { binding: 2, resource: { buffer: upload(job.down) } },
            { binding: 3, resource: { buffer: weight } },
          ],
        });
        const pass = encoder.beginComputePass();
        pass.setPipeline(this.pipeline);
        pass.setBindGroup(0, bind);
        pass.dispatchWorkgroups(groupsX, Math.ceil(groups / groupsX));
        pass.end();
        const readback = make(size, Usage.MAP_READ | Usage.COPY_DST);
        encoder.copyBufferToBuffer(weight, 0, readback, 0, size);
        readbacks.push({ job, buffer: readback });
      }
      gpu.queue.submit([encoder.finish()]);
      for (const { job, buffer } of readbacks) {
        await buffer.mapAsync(MAP_MODE_READ);
        job.bytes.set(new Uint8Array(buffer.getMappedRange(), 0, job.bytes.byteLength));
        buffer.unmap();
      }
    } finally {
      for (const b of created) b.destroy();
    }
  }
}

const padded = (bytes: number) => Math.ceil(bytes / 4) * 4;

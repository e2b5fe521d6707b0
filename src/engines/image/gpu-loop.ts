// The SDXL denoising loop with the latents resident on the GPU (WebGPU device only). Per step:
//   scale_input.wgsl   x [n] → UNet `sample` [2, n] = x · c_in (both CFG rows), a GPU buffer fed to ORT with
//                      Tensor.fromGpuBuffer;
//   UNet (ORT WebGPU EP, `out_sample` kept on the GPU when the session was created with
//                      preferredOutputLocation { out_sample: 'gpu-buffer' }; otherwise its data is uploaded);
//   guidance_step.wgsl CFG + denoised = x − σ·eps + the DPM-Solver++(2M) update of x in place, denoised → old.
// Only the final latents are read back. The step coefficients are computed on the CPU in float64 exactly as
// scheduler.ts does (`dpmpp2mCoefficients`) and passed as f32 uniforms; the GPU arithmetic is f32, so results match
// the Float32Array reference (pipeline.ts + scheduler.ts) to a few ulps per step, not bit for bit.
//
// The device must be the one onnxruntime-web uses (`await ort.env.webgpu.device` once a WebGPU session exists:
// a Promise<GPUDevice> in onnxruntime-web 1.30), so that ORT can read and write these buffers.
//
// Shader sources: in the browser (Vite) they are loaded with `?raw` imports; anywhere else (Node tests) pass them to
// `GpuDenoiser.create(device, n, sources)`, read from shaders/sdxl/<name>.wgsl.
import type * as OrtModule from 'onnxruntime-web';
import { SerialQueue } from '../../core/queue';

/** The WGSL files in shaders/sdxl/, without extension. */
export const SDXL_GPU_SHADER_NAMES = ['scale_input', 'guidance_step'] as const;
export type SdxlGpuShaderName = (typeof SDXL_GPU_SHADER_NAMES)[number];
export type SdxlGpuShaderSources = Record<SdxlGpuShaderName, string>;

/** Numeric WebGPU flags (spec values), so this file does not depend on the GPU* globals being installed. */
const Usage = { MAP_READ: 0x0001, COPY_SRC: 0x0004, COPY_DST: 0x0008, UNIFORM: 0x0040, STORAGE: 0x0080 } as const;
const MAP_MODE_READ = 0x0001;
const WG = 256;
const FIRST_ORDER = 1;
const FINAL = 2;

/** One DPM-Solver++(2M) step from sigmas[i] to sigmas[i+1], float64, as `dpmpp2mStep` computes it. */
export interface DpmStep {
  sigma: number;
  ratio: number;
  coeff: number;
  a: number;
  b: number;
  /** First-order update (the first step of a window: no previous denoised). */
  firstOrder: boolean;
  /** sigmas[i+1] = 0: x = denoised. */
  final: boolean;
}

/** The coefficients of `dpmpp2mStep(x, denoised, hasOld ? old : null, sigmas, i)`. */
export function dpmpp2mCoefficients(sigmas: ArrayLike<number>, i: number, hasOld: boolean): DpmStep {
  const sigma = sigmas[i];
  const next = sigmas[i + 1];
  if (next === 0) return { sigma, ratio: 0, coeff: 1, a: 1, b: 0, firstOrder: false, final: true };
  const t = -Math.log(sigma);
  const tNext = -Math.log(next);
  const h = tNext - t;
  const ratio = next / sigma;
  const coeff = -Math.expm1(-h);
  if (!hasOld || i === 0) return { sigma, ratio, coeff, a: 1, b: 0, firstOrder: true, final: false };
  const hLast = t + Math.log(sigmas[i - 1]);
  const r = hLast / h;
  return { sigma, ratio, coeff, a: 1 + 1 / (2 * r), b: 1 / (2 * r), firstOrder: false, final: false };
}

/** Loads the bundled shaders through Vite's `?raw` (browser builds, vitest). */
async function loadBundledShaders(): Promise<SdxlGpuShaderSources> {
  const [scaleInput, guidanceStep] = await Promise.all([
    import('../../../shaders/sdxl/scale_input.wgsl?raw'),
    import('../../../shaders/sdxl/guidance_step.wgsl?raw'),
  ]);
  return { scale_input: scaleInput.default, guidance_step: guidanceStep.default };
}

/** What the loop needs from the pipeline: the UNet (or ControlNet + UNet) run for one step. */
export interface GpuLoopRequest {
  ort: typeof OrtModule;
  /** Initial latents x [n] (noise · σ_first, or the noised init latents). */
  x: Float32Array;
  /** The sigmas of the window, s_first … s_last (float64). */
  sigmas: ArrayLike<number>;
  cfgScale: number;
  /** Dims of the UNet `sample` input, [2, 4, h, w]. */
  sampleDims: readonly number[];
  /**
   * Runs the UNet on `sample` (a GPU tensor over this loop's buffer; do not dispose it) at window step i and returns
   * its outputs; `out_sample` [2, n] (uncond; cond) is read, every returned tensor is disposed by the loop.
   */
  runUnet: (sample: OrtModule.Tensor, i: number) => Promise<Record<string, OrtModule.Tensor>>;
  onStep?: (step: number, total: number) => void;
}

export class GpuDenoiser {
  /** Latents x [n]. */
  readonly latents: GPUBuffer;
  /** Previous denoised estimate [n]. */
  readonly old: GPUBuffer;
  /** UNet `sample` input [2, n]. */
  readonly sample: GPUBuffer;
  private epsUpload: GPUBuffer | null = null;
  private readonly scaleUniform: GPUBuffer;
  private readonly stepUniform: GPUBuffer;
  private readonly scaleBind: GPUBindGroup;
  private readonly stepBinds = new Map<GPUBuffer, GPUBindGroup>();
  private destroyed = false;
  private readonly calls = new SerialQueue();

  private constructor(
    readonly device: GPUDevice,
    /** Elements of one sample's latents (4·h·w). */
    readonly n: number,
    private readonly scalePipeline: GPUComputePipeline,
    private readonly stepPipeline: GPUComputePipeline,
  ) {
    const storage = (bytes: number) => device.createBuffer({ size: bytes, usage: Usage.STORAGE | Usage.COPY_SRC | Usage.COPY_DST });
    this.latents = storage(4 * n);
    this.old = storage(4 * n);
    this.sample = storage(8 * n);
    this.scaleUniform = device.createBuffer({ size: 16, usage: Usage.UNIFORM | Usage.COPY_DST });
    this.stepUniform = device.createBuffer({ size: 32, usage: Usage.UNIFORM | Usage.COPY_DST });
    this.scaleBind = device.createBindGroup({
      layout: scalePipeline.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: this.scaleUniform } },
        { binding: 1, resource: { buffer: this.latents } },
        { binding: 2, resource: { buffer: this.sample } },
      ],
    });
  }

  /** Compiles the two kernels and allocates the buffers for latents of `n` elements (one sample, 4·h·w). */
  static async create(device: GPUDevice, n: number, sources?: SdxlGpuShaderSources): Promise<GpuDenoiser> {
    if (!Number.isInteger(n) || n <= 0) throw new RangeError(`GpuDenoiser: n must be a positive integer (got ${n})`);
    const src = sources ?? (await loadBundledShaders());
    const missing = SDXL_GPU_SHADER_NAMES.filter((k) => !src[k]);
    if (missing.length) throw new Error(`GpuDenoiser: missing shader sources: ${missing.join(', ')}`);
    const make = (code: string) => device.createComputePipelineAsync({
      layout: 'auto', compute: { module: device.createShaderModule({ code }), entryPoint: 'main' },
    });
    const [scale, step] = await Promise.all([make(src.scale_input), make(src.guidance_step)]);
    return new GpuDenoiser(device, n, scale, step);
  }

  private check(): void {
    if (this.destroyed) throw new Error('GpuDenoiser: destroyed');
  }

  /** Workgroup grid covering n elements (2D past the 65535 limit; the kernels linearise it). */
  private grid(): [number, number] {
    const groups = Math.ceil(this.n / WG);
    const max = this.device.limits.maxComputeWorkgroupsPerDimension;
    return groups <= max ? [groups, 1] : [max, Math.ceil(groups / max)];
  }

  writeLatents(x: Float32Array): void {
    this.check();
    if (x.length !== this.n) throw new RangeError(`GpuDenoiser: expected ${this.n} latents, got ${x.length}`);
    this.device.queue.writeBuffer(this.latents, 0, x as Float32Array<ArrayBuffer>);
  }

  /** sample [2, n] = latents · cIn (cIn rounded to f32). Submitted at once. */
  scaleInput(cIn: number): void {
    this.check();
    const u = new ArrayBuffer(16);
    new Uint32Array(u, 0, 1)[0] = this.n;
    new Float32Array(u, 4, 1)[0] = cIn;
    this.device.queue.writeBuffer(this.scaleUniform, 0, u);
    this.dispatch(this.scalePipeline, this.scaleBind);
  }

  /** Guidance + denoised + DPM++(2M) update of `latents` (and `old`) from the UNet output eps [2, n] on the GPU. */
  guidanceStep(eps: GPUBuffer, cfgScale: number, step: DpmStep): void {
    this.check();
    if (eps.size < 8 * this.n) throw new RangeError(`GpuDenoiser: eps buffer holds ${eps.size} bytes, needs ${8 * this.n}`);
    const u = new ArrayBuffer(32);
    const ints = new Uint32Array(u);
    const floats = new Float32Array(u);
    ints[0] = this.n;
    ints[1] = (step.firstOrder ? FIRST_ORDER : 0) | (step.final ? FINAL : 0);
    floats[2] = step.sigma;
    floats[3] = cfgScale;
    floats[4] = step.ratio;
    floats[5] = step.coeff;
    floats[6] = step.a;
    floats[7] = step.b;
    this.device.queue.writeBuffer(this.stepUniform, 0, u);
    let bind = this.stepBinds.get(eps);
    if (!bind) {
      if (this.stepBinds.size > 8) this.stepBinds.clear(); // ORT hands out pooled buffers; a few recur
      bind = this.device.createBindGroup({
        layout: this.stepPipeline.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: { buffer: this.stepUniform } },
          { binding: 1, resource: { buffer: eps, offset: 0, size: 8 * this.n } },
          { binding: 2, resource: { buffer: this.latents } },
          { binding: 3, resource: { buffer: this.old } },
        ],
      });
      this.stepBinds.set(eps, bind);
    }
    this.dispatch(this.stepPipeline, bind);
  }

  /** Same as `guidanceStep`, with eps given in CPU memory (uploaded first). */
  guidanceStepFromCpu(eps: Float32Array, cfgScale: number, step: DpmStep): void {
    this.check();
    if (eps.length < 2 * this.n) throw new RangeError(`GpuDenoiser: eps holds ${eps.length} values, needs ${2 * this.n}`);
    this.epsUpload ??= this.device.createBuffer({ size: 8 * this.n, usage: Usage.STORAGE | Usage.COPY_DST });
    this.device.queue.writeBuffer(this.epsUpload, 0, eps as Float32Array<ArrayBuffer>, 0, 2 * this.n);
    this.guidanceStep(this.epsUpload, cfgScale, step);
  }

  private dispatch(pipeline: GPUComputePipeline, bind: GPUBindGroup): void {
    const [gx, gy] = this.grid();
    const enc = this.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bind);
    pass.dispatchWorkgroups(gx, gy);
    pass.end();
    this.device.queue.submit([enc.finish()]);
  }

  /** Copies a buffer of this denoiser (default: the latents) back to the CPU. */
  async read(buffer: GPUBuffer = this.latents): Promise<Float32Array> {
    this.check();
    const staging = this.device.createBuffer({ size: buffer.size, usage: Usage.MAP_READ | Usage.COPY_DST });
    try {
      const enc = this.device.createCommandEncoder();
      enc.copyBufferToBuffer(buffer, 0, staging, 0, buffer.size);
      this.device.queue.submit([enc.finish()]);
      await staging.mapAsync(MAP_MODE_READ);
      return new Float32Array(staging.getMappedRange().slice(0));
    } finally {
      staging.destroy();
    }
  }

  /**
   * The whole K_DPMPP_2M loop over `req.sigmas` (len − 1 steps, the first one first-order), latents on the GPU; returns
   * the final latents. Calls are serialised (the buffers are shared).
   */
  denoise(req: GpuLoopRequest): Promise<Float32Array> {
    return this.calls.run(() => this.denoiseNow(req));
  }

  private async denoiseNow(req: GpuLoopRequest): Promise<Float32Array> {
    const { ort, sigmas, cfgScale } = req;
    this.writeLatents(req.x);
    const sample = ort.Tensor.fromGpuBuffer(this.sample as never, { dataType: 'float32', dims: req.sampleDims });
    const total = sigmas.length - 1;
    for (let i = 0; i < total; i++) {
      const sigma = sigmas[i];
      this.scaleInput(1 / Math.sqrt(sigma * sigma + 1));
      const out = await req.runUnet(sample, i);
      try {
        const eps = out.out_sample;
        if (!eps) throw new Error('GpuDenoiser: the UNet produced no "out_sample" output');
        const step = dpmpp2mCoefficients(sigmas, i, i > 0);
        if (eps.location === 'gpu-buffer') this.guidanceStep(eps.gpuBuffer as unknown as GPUBuffer, cfgScale, step);
        else this.guidanceStepFromCpu((await eps.getData()) as Float32Array, cfgScale, step);
      } finally {
        // Safe while our kernel is still queued: ORT's later writes to a recycled buffer are ordered after it.
        for (const t of Object.values(out)) t.dispose();
      }
      req.onStep?.(i + 1, total);
    }
    return this.read();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const b of [this.latents, this.old, this.sample, this.scaleUniform, this.stepUniform, this.epsUpload]) b?.destroy();
    this.stepBinds.clear();
  }
}

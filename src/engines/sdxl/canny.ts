// Canny edge detection on WebGPU: the preprocessor that turns an input image into the control image of the SDXL
// canny ControlNet. Runs the kernels in shaders/canny/*.wgsl; src/engines/sdxl/canny-cpu.ts is the CPU
// reference of exactly the same algorithm, and tests/unit/canny.test.ts checks every stage against it.
//
// Algorithm (OpenCV's `GaussianBlur` + `Canny(..., L2gradient=true)` on the gray image; all borders clamp-to-edge):
//   1. gray     = (4899 R + 9617 G + 1868 B + 8192) >> 14            (BT.601, OpenCV fixed point; integers 0..255)
//   2. blur     = separable 5-tap Gaussian, sigma 1.4 by default, weights quantised to /256 (28 61 78 61 28),
//                 horizontal pass kept exact, vertical pass rounded to an integer 0..255 (OpenCV's 8-bit GaussianBlur)
//   3. Sobel 3x3 (unnormalised) -> m2 = gx² + gy² (exact), magnitude = sqrt(m2), direction in 4 bins by OpenCV's
//      integer tan(22.5°) test
//   4. non-maximum suppression on m2 along the direction (OpenCV's tie-breaking)
//   5. strong if m2 > floor(high²), weak if m2 > floor(low²)  — thresholds in OpenCV's units
//   6. hysteresis: weak pixels 8-connected to strong ones become strong, as connected-component labelling with a
//      lock-free union-find (tile-local in workgroup memory, then across tile borders): four dispatches whatever the
//      image, no read-back (shaders/canny/hysteresis.wgsl)
//   7. white-on-black RGBA8, or float32 [3, H, W] in {0, 1} (ControlNet `controlnet_cond`) kept on the GPU.
// Because every stage up to m2 is integer arithmetic, GPU and CPU results are bit-identical (the float magnitude is
// only a by-product; decisions use m2), and hysteresis computes exactly the reference's components.
//
// Shader sources: in the browser (Vite) they are loaded with `?raw` imports; anywhere else (Node tests, tools) pass
// them to `CannyDetector.create(device, sources)`, e.g. read from shaders/canny/<name>.wgsl.
import { SerialQueue } from '../../core/queue';

/** The WGSL files in shaders/canny/, without extension. */
export const CANNY_SHADER_NAMES = ['params', 'grayscale', 'gaussian', 'sobel', 'nms', 'threshold', 'hysteresis', 'output'] as const;
/** The kernels: every shader but `params` (the shared uniform struct, prepended to each). */
const CANNY_KERNELS = CANNY_SHADER_NAMES.filter((n) => n !== 'params') as Exclude<(typeof CANNY_SHADER_NAMES)[number], 'params'>[];
type CannyKernelName = (typeof CANNY_KERNELS)[number];
export type CannyShaderName = (typeof CANNY_SHADER_NAMES)[number];
export type CannyShaderSources = Record<CannyShaderName, string>;

export interface CannyOptions {
  /** Lower hysteresis threshold, OpenCV units (Sobel magnitude of 0..255 intensities). Default 100. */
  low?: number;
  /** Upper hysteresis threshold. Default 200. */
  high?: number;
  /** Gaussian sigma of the 5×5 pre-blur; <= 0 disables the blur (plain cv2.Canny on the gray image). Default 1.4. */
  sigma?: number;
}

/** Derived parameters, exactly as the kernels receive them. */
export interface CannyParams {
  /** Symmetric Gaussian kernel in Q8: [centre, distance 1, distance 2], k0 + 2·k1 + 2·k2 = 256. */
  kernel: [number, number, number];
  /** floor(low²) and floor(high²), after OpenCV's swap (low > high) and clamp (<= 32767; <= 0 means 0). */
  lowSq: number;
  highSq: number;
}

/** The numeric WebGPU flags (spec values), so this file does not depend on the GPU* globals being installed. */
export const Usage = { MAP_READ: 0x0001, COPY_SRC: 0x0004, COPY_DST: 0x0008, UNIFORM: 0x0040, STORAGE: 0x0080 } as const;
const MAP_MODE_READ = 0x0001;
const SHADER_STAGE_COMPUTE = 0x4;
const WG = 16;
/** Pixels per side of a hysteresis tile (`tile_local`: one workgroup of 16×16 invocations, 4 pixels each). */
const HYSTERESIS_TILE = 32;
/** The hysteresis kernels, in order: each is an entry point of hysteresis.wgsl, dispatched once. */
const HYSTERESIS_ENTRIES = ['tile_local', 'border_merge', 'compress', 'promote'] as const;
/** Dispatches per hysteresis run: one per entry point. */
export const HYSTERESIS_DISPATCHES = HYSTERESIS_ENTRIES.length;

/** Kernel and squared thresholds for `options` (defaults low 100, high 200, sigma 1.4). */
export function cannyParams(options: CannyOptions = {}): CannyParams {
  const { low = 100, high = 200, sigma = 1.4 } = options;
  if (!Number.isFinite(low) || !Number.isFinite(high)) throw new RangeError(`canny: thresholds must be finite (low ${low}, high ${high})`);
  if (!Number.isFinite(sigma)) throw new RangeError(`canny: sigma must be finite (got ${sigma})`);
  const lo = Math.min(low, high);
  const hi = Math.max(low, high);
  const square = (t: number) => (t <= 0 ? 0 : Math.floor(Math.min(t, 32767) * Math.min(t, 32767)));
  let kernel: [number, number, number] = [256, 0, 0];
  if (sigma > 0) {
    const s2 = 2 * sigma * sigma;
    const g1 = Math.exp(-1 / s2);
    const g2 = Math.exp(-4 / s2);
    const total = 1 + 2 * g1 + 2 * g2;
    const k1 = Math.round((g1 / total) * 256);
    const k2 = Math.round((g2 / total) * 256);
    kernel = [256 - 2 * (k1 + k2), k1, k2];
  }
  return { kernel, lowSq: square(lo), highSq: square(hi) };
}

/** Loads the bundled shaders through Vite's `?raw` (browser builds, vitest). */
async function loadBundledShaders(): Promise<CannyShaderSources> {
  const [params, grayscale, gaussian, sobel, nms, threshold, hysteresis, output] = await Promise.all([
    import('../../../shaders/canny/params.wgsl?raw'),
    import('../../../shaders/canny/grayscale.wgsl?raw'),
    import('../../../shaders/canny/gaussian.wgsl?raw'),
    import('../../../shaders/canny/sobel.wgsl?raw'),
    import('../../../shaders/canny/nms.wgsl?raw'),
    import('../../../shaders/canny/threshold.wgsl?raw'),
    import('../../../shaders/canny/hysteresis.wgsl?raw'),
    import('../../../shaders/canny/output.wgsl?raw'),
  ]);
  return {
    params: params.default,
    grayscale: grayscale.default,
    gaussian: gaussian.default,
    sobel: sobel.default,
    nms: nms.default,
    threshold: threshold.default,
    hysteresis: hysteresis.default,
    output: output.default,
  };
}

export interface Pipelines {
  grayscale: GPUComputePipeline;
  blurH: GPUComputePipeline;
  blurV: GPUComputePipeline;
  sobel: GPUComputePipeline;
  nms: GPUComputePipeline;
  threshold: GPUComputePipeline;
  /** The HYSTERESIS_ENTRIES kernels, in order, on one explicit layout (params, labels, parent). */
  hysteresis: GPUComputePipeline[];
  hysteresisLayout: GPUBindGroupLayout;
  toRgba: GPUComputePipeline;
  toChw: GPUComputePipeline;
}

/** Buffers and bind groups for one image size (reused while the size stays the same). */
export interface SizedResources {
  width: number;
  height: number;
  params: GPUBuffer;
  rgba: GPUBuffer;
  gray: GPUBuffer;
  tmp: GPUBuffer;
  blur: GPUBuffer;
  magnitude: GPUBuffer;
  magnitudeSq: GPUBuffer;
  direction: GPUBuffer;
  nms: GPUBuffer;
  labels: GPUBuffer;
  rgbaOut: GPUBuffer;
  /** Hysteresis union-find forest: one u32 per pixel (bit 31: the component holds a strong pixel). */
  parent: GPUBuffer;
  groups: {
    grayscale: GPUBindGroup;
    blurH: GPUBindGroup;
    blurV: GPUBindGroup;
    sobel: GPUBindGroup;
    nms: GPUBindGroup;
    threshold: GPUBindGroup;
    hysteresis: GPUBindGroup;
    toRgba: GPUBindGroup;
  };
}

export class CannyDetector {
  private resources: SizedResources | null = null;
  private readonly calls = new SerialQueue();
  private destroyed = false;

  protected constructor(
    readonly device: GPUDevice,
    protected readonly pipelines: Pipelines,
  ) {}

  /**
   * Compiles the kernels on `device`. `shaders` maps each name of CANNY_SHADER_NAMES to its WGSL source; leave it
   * out under Vite (browser, vitest) to use the bundled shaders/canny/*.wgsl.
   */
  static async create(device: GPUDevice, shaders?: Partial<Record<string, string>>): Promise<CannyDetector> {
    let sources: CannyShaderSources;
    if (shaders) {
      const missing = CANNY_SHADER_NAMES.filter((n) => typeof shaders[n] !== 'string');
      if (missing.length) throw new Error(`canny: missing shader sources: ${missing.join(', ')}`);
      sources = Object.fromEntries(CANNY_SHADER_NAMES.map((n) => [n, shaders[n]!])) as CannyShaderSources;
    } else {
      sources = await loadBundledShaders();
    }
    const modules = {} as Record<CannyKernelName, GPUShaderModule>;
    for (const name of CANNY_KERNELS) {
      modules[name] = device.createShaderModule({ label: `canny/${name}.wgsl`, code: `${sources.params}\n${sources[name]}` });
    }
    // The hysteresis kernels share one bind group; each uses part of it, so the layout is explicit.
    const hysteresisLayout = device.createBindGroupLayout({
      label: 'canny/hysteresis',
      entries: [
        { binding: 0, visibility: SHADER_STAGE_COMPUTE, buffer: { type: 'uniform' } },
        { binding: 1, visibility: SHADER_STAGE_COMPUTE, buffer: { type: 'storage' } },
        { binding: 2, visibility: SHADER_STAGE_COMPUTE, buffer: { type: 'storage' } },
      ],
    });
    const hysteresisPipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [hysteresisLayout] });
    const preludeLines = sources.params.split('\n').length;
    const make = async (name: CannyKernelName, entryPoint: string): Promise<GPUComputePipeline> => {
      try {
        return await device.createComputePipelineAsync({
          label: `canny/${name}:${entryPoint}`,
          layout: name === 'hysteresis' ? hysteresisPipelineLayout : 'auto',
          compute: { module: modules[name], entryPoint },
        });
      } catch (err) {
        const info = await modules[name].getCompilationInfo().catch(() => null);
        const messages = (info?.messages ?? [])
          .filter((m) => m.type === 'error')
          .map((m) => `  ${name}.wgsl:${m.lineNum - preludeLines}:${m.linePos} ${m.message}`);
        throw new Error(
          `canny: cannot create pipeline ${name}.wgsl:${entryPoint}: ${(err as Error).message ?? err}` +
            (messages.length ? `\n${messages.join('\n')}` : ''),
        );
      }
    };
    const [grayscale, blurH, blurV, sobel, nms, threshold, toRgba, toChw, ...hysteresis] = await Promise.all([
      make('grayscale', 'main'),
      make('gaussian', 'blur_h'),
      make('gaussian', 'blur_v'),
      make('sobel', 'main'),
      make('nms', 'main'),
      make('threshold', 'main'),
      make('output', 'to_rgba'),
      make('output', 'to_chw'),
      ...HYSTERESIS_ENTRIES.map((entry) => make('hysteresis', entry)),
    ]);
    return new this(device, {
      grayscale, blurH, blurV, sobel, nms, threshold, hysteresis, hysteresisLayout, toRgba, toChw,
    });
  }

  /** Edges of an RGBA8 image as RGBA8: white (255,255,255,255) on opaque black, like the ControlNet preprocessors. */
  detect(
    rgba: Uint8Array | Uint8ClampedArray,
    width: number,
    height: number,
    options: CannyOptions = {},
  ): Promise<Uint8Array> {
    return this.exclusive(async () => {
      const r = this.prepare(width, height, options);
      this.upload(r.rgba, this.checkRgba(rgba, width, height));
      await this.runPipeline(r, true);
      const encoder = this.device.createCommandEncoder({ label: 'canny/readback' });
      this.encode(encoder, r, this.pipelines.toRgba, r.groups.toRgba);
      const [out] = await this.readBack(encoder, [r.rgbaOut]);
      return new Uint8Array(out!);
    });
  }

  /**
   * Edges as a new GPUBuffer holding float32 [3, H, W] (= [1, 3, H, W]) in {0, 1}: the ControlNet `controlnet_cond`
   * layout, for onnxruntime-web's `Tensor.fromGpuBuffer` on the same device, with no readback at all.
   * Usage STORAGE | COPY_SRC | COPY_DST. The caller owns it and must destroy it.
   */
  detectToControlBuffer(
    rgba: Uint8Array | Uint8ClampedArray,
    width: number,
    height: number,
    options: CannyOptions = {},
  ): Promise<GPUBuffer> {
    return this.exclusive(async () => {
      const r = this.prepare(width, height, options);
      this.upload(r.rgba, this.checkRgba(rgba, width, height));
      await this.runPipeline(r, true);
      const out = this.device.createBuffer({
        label: 'canny/controlnet_cond',
        size: 3 * width * height * 4,
        usage: Usage.STORAGE | Usage.COPY_SRC | Usage.COPY_DST,
      });
      const encoder = this.device.createCommandEncoder({ label: 'canny/chw' });
      this.encode(encoder, r, this.pipelines.toChw, this.chwGroup(r, out));
      this.device.queue.submit([encoder.finish()]);
      return out;
    });
  }

  /** Frees the GPU buffers. The device is the caller's and stays alive. */
  destroy(): void {
    this.destroyed = true;
    this.freeResources();
  }

  // ---------------------------------------------------------------------------------------------------------------

  /** queue.writeBuffer of a whole typed array (views of SharedArrayBuffers are allowed by the spec too). */
  protected upload(buffer: GPUBuffer, data: ArrayBufferView): void {
    this.device.queue.writeBuffer(buffer, 0, data as ArrayBufferView<ArrayBuffer>);
  }

  /** Serialises calls: they share the per-size buffers. */
  protected exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.calls.run(fn);
  }

  protected checkRgba(rgba: Uint8Array | Uint8ClampedArray, width: number, height: number): Uint8Array {
    if (!(rgba instanceof Uint8Array || rgba instanceof Uint8ClampedArray)) {
      throw new TypeError('canny: rgba must be a Uint8Array or Uint8ClampedArray');
    }
    if (rgba.length !== width * height * 4) {
      throw new RangeError(`canny: expected ${width}×${height}×4 = ${width * height * 4} RGBA bytes, got ${rgba.length}`);
    }
    return new Uint8Array(rgba.buffer, rgba.byteOffset, rgba.byteLength);
  }

  /** Validates the size, (re)allocates the buffers when it changed, and writes the uniform parameters. */
  protected prepare(width: number, height: number, options: CannyOptions): SizedResources {
    if (this.destroyed) throw new Error('canny: detector was destroyed');
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
      throw new RangeError(`canny: width and height must be positive integers (got ${width}×${height})`);
    }
    const limits = this.device.limits;
    const chwBytes = 3 * width * height * 4;
    if (chwBytes > limits.maxStorageBufferBindingSize || chwBytes > limits.maxBufferSize) {
      throw new RangeError(
        `canny: ${width}×${height} needs a ${chwBytes}-byte storage buffer; this device allows ` +
          `${Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize)}`,
      );
    }
    const maxGroups = limits.maxComputeWorkgroupsPerDimension;
    if (Math.ceil(width / WG) > maxGroups || Math.ceil(height / WG) > maxGroups) {
      throw new RangeError(`canny: ${width}×${height} exceeds ${maxGroups} workgroups of ${WG} per dimension`);
    }
    const { kernel, lowSq, highSq } = cannyParams(options);
    let r = this.resources;
    if (!r || r.width !== width || r.height !== height) {
      this.freeResources();
      r = this.resources = this.allocate(width, height);
    }
    this.upload(r.params, new Uint32Array([width, height, lowSq, highSq, kernel[0], kernel[1], kernel[2], 0]));
    return r;
  }

  private allocate(width: number, height: number): SizedResources {
    const d = this.device;
    const bytes = width * height * 4;
    const storage = (label: string, extra = 0) =>
      d.createBuffer({ label: `canny/${label}`, size: bytes, usage: Usage.STORAGE | Usage.COPY_SRC | Usage.COPY_DST | extra });
    const params = d.createBuffer({ label: 'canny/params', size: 32, usage: Usage.UNIFORM | Usage.COPY_DST });
    const rgba = storage('rgba');
    const gray = storage('gray');
    const tmp = storage('tmp');
    const blur = storage('blur');
    const magnitude = storage('magnitude');
    const magnitudeSq = storage('magnitudeSq');
    const direction = storage('direction');
    const nms = storage('nms');
    const labels = storage('labels');
    const rgbaOut = storage('rgbaOut');
    const parent = storage('parent');
    const group = (pipeline: GPUComputePipeline, entries: Record<number, GPUBuffer>, layout = pipeline.getBindGroupLayout(0)) =>
      d.createBindGroup({
        layout,
        entries: Object.entries(entries).map(([binding, buffer]) => ({ binding: Number(binding), resource: { buffer } })),
      });
    const p = this.pipelines;
    return {
      width,
      height,
      params,
      rgba,
      gray,
      tmp,
      blur,
      magnitude,
      magnitudeSq,
      direction,
      nms,
      labels,
      rgbaOut,
      parent,
      groups: {
        grayscale: group(p.grayscale, { 0: params, 1: rgba, 2: gray }),
        blurH: group(p.blurH, { 0: params, 1: gray, 2: tmp }),
        blurV: group(p.blurV, { 0: params, 2: tmp, 3: blur }),
        sobel: group(p.sobel, { 0: params, 1: blur, 2: magnitude, 3: magnitudeSq, 4: direction }),
        nms: group(p.nms, { 0: params, 1: magnitudeSq, 2: direction, 3: nms }),
        threshold: group(p.threshold, { 0: params, 1: nms, 2: labels }),
        hysteresis: group(p.hysteresis[0]!, { 0: params, 1: labels, 2: parent }, p.hysteresisLayout),
        toRgba: group(p.toRgba, { 0: params, 1: labels, 2: rgbaOut }),
      },
    };
  }

  protected chwGroup(r: SizedResources, out: GPUBuffer): GPUBindGroup {
    return this.device.createBindGroup({
      layout: this.pipelines.toChw.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: r.params } },
        { binding: 1, resource: { buffer: r.labels } },
        { binding: 3, resource: { buffer: out } },
      ],
    });
  }

  private freeResources(): void {
    const r = this.resources;
    this.resources = null;
    if (!r) return;
    for (const b of [r.params, r.rgba, r.gray, r.tmp, r.blur, r.magnitude, r.magnitudeSq, r.direction, r.nms]) b.destroy();
    for (const b of [r.labels, r.rgbaOut, r.parent]) b.destroy();
  }

  /** One compute pass running `pipeline` over the image. */
  protected encode(encoder: GPUCommandEncoder, r: SizedResources, pipeline: GPUComputePipeline, group: GPUBindGroup): void {
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(Math.ceil(r.width / WG), Math.ceil(r.height / WG));
    pass.end();
  }

  /** grayscale → blur → Sobel → NMS → threshold, then (if `hysteresis`) hysteresis; submitted, nothing read back. */
  protected async runPipeline(r: SizedResources, hysteresis: boolean): Promise<number> {
    const encoder = this.device.createCommandEncoder({ label: 'canny/pipeline' });
    const pass = encoder.beginComputePass();
    const groupsX = Math.ceil(r.width / WG);
    const groupsY = Math.ceil(r.height / WG);
    const p = this.pipelines;
    const g = r.groups;
    for (const [pipeline, group] of [
      [p.grayscale, g.grayscale],
      [p.blurH, g.blurH],
      [p.blurV, g.blurV],
      [p.sobel, g.sobel],
      [p.nms, g.nms],
      [p.threshold, g.threshold],
    ] as const) {
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(groupsX, groupsY);
    }
    pass.end();
    if (!hysteresis) {
      this.device.queue.submit([encoder.finish()]);
      return 0;
    }
    return this.runHysteresis(r, encoder);
  }

  /**
   * Hysteresis on `r.labels` after the commands already in `encoder`, and submits: the four kernels of
   * hysteresis.wgsl (tile-local union-find, unions across tile borders, compression + strong roots, promotion), one
   * dispatch each, whatever the image. Returns the number of dispatches.
   */
  protected runHysteresis(r: SizedResources, encoder: GPUCommandEncoder): number {
    const pass = encoder.beginComputePass({ label: 'canny/hysteresis' });
    pass.setBindGroup(0, r.groups.hysteresis);
    this.pipelines.hysteresis.forEach((pipeline, k) => {
      pass.setPipeline(pipeline);
      // tile_local: one workgroup per 32×32 tile; the others: one invocation per pixel
      const tile = k === 0 ? HYSTERESIS_TILE : WG;
      pass.dispatchWorkgroups(Math.ceil(r.width / tile), Math.ceil(r.height / tile));
    });
    pass.end();
    this.device.queue.submit([encoder.finish()]);
    return this.pipelines.hysteresis.length;
  }

  /** Copies `buffers` (whole) to staging buffers after the commands in `encoder`, submits, maps, returns copies. */
  protected async readBack(encoder: GPUCommandEncoder, buffers: GPUBuffer[]): Promise<ArrayBuffer[]> {
    const staging = buffers.map((b) =>
      this.device.createBuffer({ label: 'canny/staging', size: b.size, usage: Usage.MAP_READ | Usage.COPY_DST }),
    );
    try {
      buffers.forEach((b, i) => encoder.copyBufferToBuffer(b, 0, staging[i]!, 0, b.size));
      this.device.queue.submit([encoder.finish()]);
      await Promise.all(staging.map((s) => s.mapAsync(MAP_MODE_READ)));
      return staging.map((s) => s.getMappedRange().slice(0));
    } finally {
      for (const s of staging) s.destroy();
    }
  }
}

/** CannyDetector: runs the Canny pipeline on a GPUDevice (buffers sized per image, one run at a time), to RGBA8 edges
 * or to a ControlNet `controlnet_cond` buffer kept on the GPU. Its members are protected so that the tests' stage
 * read-backs (tests/unit/canny-stages.ts) can extend it. */
import { SerialQueue } from '../../../core/queue';
import { type CannyOptions, cannyParams, HYSTERESIS_TILE, MAP_MODE_READ, Usage, WG } from './params';
import { createCannyPipelines, type Pipelines } from './pipelines';

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
    return new this(device, await createCannyPipelines(device, shaders));
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

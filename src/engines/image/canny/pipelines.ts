/** The Canny kernels' WGSL sources (bundled through Vite's `?raw`, or given) compiled into compute pipelines. */
import { CANNY_KERNELS, CANNY_SHADER_NAMES, type CannyKernelName, type CannyShaderSources, HYSTERESIS_ENTRIES, SHADER_STAGE_COMPUTE } from './params';

/** Loads the bundled shaders through Vite's `?raw` (browser builds, vitest). */
async function loadBundledShaders(): Promise<CannyShaderSources> {
  const [params, grayscale, gaussian, sobel, nms, threshold, hysteresis, output] = await Promise.all([
    import('../../../../shaders/canny/params.wgsl?raw'),
    import('../../../../shaders/canny/grayscale.wgsl?raw'),
    import('../../../../shaders/canny/gaussian.wgsl?raw'),
    import('../../../../shaders/canny/sobel.wgsl?raw'),
    import('../../../../shaders/canny/nms.wgsl?raw'),
    import('../../../../shaders/canny/threshold.wgsl?raw'),
    import('../../../../shaders/canny/hysteresis.wgsl?raw'),
    import('../../../../shaders/canny/output.wgsl?raw'),
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

/**
 * Compiles the kernels of CannyDetector on `device`. `shaders` maps each name of CANNY_SHADER_NAMES to its WGSL source; leave it
 * out under Vite (browser, vitest) to use the bundled shaders/canny/*.wgsl.
 */
export async function createCannyPipelines(device: GPUDevice, shaders?: Partial<Record<string, string>>): Promise<Pipelines> {
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
  return { grayscale, blurH, blurV, sobel, nms, threshold, hysteresis, hysteresisLayout, toRgba, toChw };
}

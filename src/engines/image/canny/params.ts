/** The Canny detector's options, the parameters its kernels receive (cannyParams), and the WebGPU constants its
 * files share. */

/** The WGSL files in shaders/canny/, without extension. */
export const CANNY_SHADER_NAMES = ['params', 'grayscale', 'gaussian', 'sobel', 'nms', 'threshold', 'hysteresis', 'output'] as const;
/** The kernels: every shader but `params` (the shared uniform struct, prepended to each). */
export const CANNY_KERNELS = CANNY_SHADER_NAMES.filter((n) => n !== 'params') as Exclude<(typeof CANNY_SHADER_NAMES)[number], 'params'>[];
export type CannyKernelName = (typeof CANNY_KERNELS)[number];
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
export const MAP_MODE_READ = 0x0001;
export const SHADER_STAGE_COMPUTE = 0x4;
export const WG = 16;
/** Pixels per side of a hysteresis tile (`tile_local`: one workgroup of 16×16 invocations, 4 pixels each). */
export const HYSTERESIS_TILE = 32;
/** The hysteresis kernels, in order: each is an entry point of hysteresis.wgsl, dispatched once. */
export const HYSTERESIS_ENTRIES = ['tile_local', 'border_merge', 'compress', 'promote'] as const;
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

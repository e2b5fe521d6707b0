// The Canny edge detector on the CPU: what the SDXL ControlNet preprocessor runs where there is no WebGPU (the
// wasm engine worker, `hearth serve`), and the reference the WebGPU detector (src/engines/image/canny/ and
// shaders/canny/*.wgsl) is tested against. Straightforward loops, written independently of the GPU code,
// implementing exactly the same algorithm: same fixed-point grayscale, same 8-bit fixed-point Gaussian kernel and
// rounding, same clamp-to-edge borders, same Sobel, same integer direction quantisation and NMS tie-breaking, same
// thresholds, same 8-connected hysteresis (here a flood fill instead of the GPU's iteration). The unit tests compare
// every stage against it.
//
// The algorithm is OpenCV's `GaussianBlur(cvtColor(img, RGB2GRAY), (5,5), sigma, BORDER_REPLICATE)` followed by
// `Canny(blurred, low, high, apertureSize=3, L2gradient=true)`; everything up to the magnitude is integer
// arithmetic, so CPU and GPU agree bit for bit.

/** OpenCV's fixed-point RGB→gray coefficients (Q14): 0.299, 0.587, 0.114. */
const R2Y = 4899;
const G2Y = 9617;
const B2Y = 1868;
/** round(tan(22.5°) · 2^15), OpenCV's Canny constant. */
const TG22 = 13573;

/** Every intermediate of the reference pipeline. */
export interface CannyReferenceStages {
  width: number;
  height: number;
  /** The symmetric Gaussian kernel, Q8: [centre, distance 1, distance 2]; k0 + 2·k1 + 2·k2 = 256. */
  kernel: [number, number, number];
  /** floor(low²), floor(high²) after clamping/swapping as OpenCV does. */
  lowSq: number;
  highSq: number;
  /** Luminance, integers 0..255. */
  gray: Float32Array;
  /** Blurred luminance, integers 0..255. */
  blur: Float32Array;
  /** sqrt(gx² + gy²), rounded to float32. */
  magnitude: Float32Array;
  /** gx² + gy² (exact). */
  magnitudeSq: Uint32Array;
  /** 0 = 0°, 1 = 45°, 2 = 90°, 3 = 135° (counter-clockwise, y up). */
  direction: Uint8Array;
  /** magnitudeSq where the pixel survives non-maximum suppression, else 0. */
  nms: Uint32Array;
  /** 2 = strong, 1 = weak, 0 = none. */
  threshold: Uint8Array;
  /** After hysteresis: 2 = edge, 1 = weak pixel not connected to any strong one, 0 = none. */
  hysteresis: Uint8Array;
  /** RGBA8, white edges on opaque black. */
  edges: Uint8Array;
  /** float32 [3, H, W], 1 on edges, 0 elsewhere. */
  chw: Float32Array;
}

export interface CannyReferenceOptions {
  low?: number;
  high?: number;
  sigma?: number;
}

/** The 5-tap Gaussian for `sigma` quantised to 8 fractional bits, sum exactly 256. sigma <= 0: no blur. */
export function gaussianKernelQ8Ref(sigma: number): [number, number, number] {
  if (!(sigma > 0)) return [256, 0, 0];
  const g = [0, 1, 2].map((d) => Math.exp(-(d * d) / (2 * sigma * sigma)));
  const sum = g[0]! + 2 * g[1]! + 2 * g[2]!;
  const k1 = Math.round((256 * g[1]!) / sum);
  const k2 = Math.round((256 * g[2]!) / sum);
  return [256 - 2 * k1 - 2 * k2, k1, k2];
}

/** OpenCV's L2gradient threshold handling: swap if low > high, clamp to 32767, square, floor; <= 0 means 0. */
export function squaredThresholdsRef(low: number, high: number): { lowSq: number; highSq: number } {
  let lo = low;
  let hi = high;
  if (lo > hi) [lo, hi] = [hi, lo];
  const sq = (t: number) => (t > 0 ? Math.floor(Math.min(t, 32767) ** 2) : 0);
  return { lowSq: sq(lo), highSq: sq(hi) };
}

export function grayscaleRef(rgba: ArrayLike<number>, width: number, height: number): Float32Array {
  const out = new Float32Array(width * height);
  for (let i = 0; i < width * height; i++) {
    const r = rgba[4 * i]!;
    const g = rgba[4 * i + 1]!;
    const b = rgba[4 * i + 2]!;
    out[i] = (r * R2Y + g * G2Y + b * B2Y + 8192) >> 14;
  }
  return out;
}

const clampIndex = (v: number, n: number) => (v < 0 ? 0 : v >= n ? n - 1 : v);

export function gaussianRef(
  gray: Float32Array,
  width: number,
  height: number,
  kernel: [number, number, number],
): Float32Array {
  const k = [kernel[2], kernel[1], kernel[0], kernel[1], kernel[2]];
  const tmp = new Float64Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let acc = 0;
      for (let d = -2; d <= 2; d++) acc += k[d + 2]! * Math.trunc(gray[y * width + clampIndex(x + d, width)]!);
      tmp[y * width + x] = acc;
    }
  }
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let acc = 0;
      for (let d = -2; d <= 2; d++) acc += k[d + 2]! * tmp[clampIndex(y + d, height) * width + x]!;
      out[y * width + x] = Math.floor((acc + 32768) / 65536);
    }
  }
  return out;
}

export function sobelRef(
  src: Float32Array,
  width: number,
  height: number,
): { magnitude: Float32Array; magnitudeSq: Uint32Array; direction: Uint8Array } {
  const n = width * height;
  const magnitude = new Float32Array(n);
  const magnitudeSq = new Uint32Array(n);
  const direction = new Uint8Array(n);
  const p = (x: number, y: number) => Math.trunc(src[clampIndex(y, height) * width + clampIndex(x, width)]!);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const gx =
        p(x + 1, y - 1) + 2 * p(x + 1, y) + p(x + 1, y + 1) - (p(x - 1, y - 1) + 2 * p(x - 1, y) + p(x - 1, y + 1));
      const gy =
        p(x - 1, y + 1) + 2 * p(x, y + 1) + p(x + 1, y + 1) - (p(x - 1, y - 1) + 2 * p(x, y - 1) + p(x + 1, y - 1));
      const m2 = gx * gx + gy * gy;
      const i = y * width + x;
      magnitudeSq[i] = m2;
      magnitude[i] = Math.sqrt(m2);
      const ax = Math.abs(gx);
      const ay = Math.abs(gy) * 32768;
      const tg22x = ax * TG22;
      if (ay < tg22x) direction[i] = 0;
      else if (ay > tg22x + ax * 65536) direction[i] = 2;
      else direction[i] = gx < 0 !== gy < 0 ? 1 : 3;
    }
  }
  return { magnitude, magnitudeSq, direction };
}

export function nmsRef(magnitudeSq: Uint32Array, direction: Uint8Array, width: number, height: number): Uint32Array {
  const out = new Uint32Array(width * height);
  const m = (x: number, y: number) => (x < 0 || y < 0 || x >= width || y >= height ? 0 : magnitudeSq[y * width + x]!);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const c = magnitudeSq[i]!;
      let keep: boolean;
      switch (direction[i]) {
        case 0:
          keep = c > m(x - 1, y) && c >= m(x + 1, y);
          break;
        case 2:
          keep = c > m(x, y - 1) && c >= m(x, y + 1);
          break;
        case 1:
          keep = c > m(x + 1, y - 1) && c > m(x - 1, y + 1);
          break;
        default:
          keep = c > m(x - 1, y - 1) && c > m(x + 1, y + 1);
      }
      out[i] = keep ? c : 0;
    }
  }
  return out;
}

export function thresholdRef(nms: Uint32Array, lowSq: number, highSq: number): Uint8Array {
  const out = new Uint8Array(nms.length);
  for (let i = 0; i < nms.length; i++) out[i] = nms[i]! > highSq ? 2 : nms[i]! > lowSq ? 1 : 0;
  return out;
}

/** Flood fill from every strong pixel through 8-connected weak pixels. */
export function hysteresisRef(labels: Uint8Array, width: number, height: number): Uint8Array {
  const out = Uint8Array.from(labels);
  const stack: number[] = [];
  for (let i = 0; i < out.length; i++) if (out[i] === 2) stack.push(i);
  while (stack.length > 0) {
    const i = stack.pop()!;
    const x = i % width;
    const y = (i - x) / width;
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        const nx = x + dx;
        const ny = y + dy;
        if (nx < 0 || ny < 0 || nx >= width || ny >= height) continue;
        const j = ny * width + nx;
        if (out[j] === 1) {
          out[j] = 2;
          stack.push(j);
        }
      }
    }
  }
  return out;
}

export function edgesToRgbaRef(labels: Uint8Array): Uint8Array {
  const out = new Uint8Array(labels.length * 4);
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i] === 2 ? 255 : 0;
    out[4 * i] = v;
    out[4 * i + 1] = v;
    out[4 * i + 2] = v;
    out[4 * i + 3] = 255;
  }
  return out;
}

export function edgesToChwRef(labels: Uint8Array): Float32Array {
  const n = labels.length;
  const out = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    const v = labels[i] === 2 ? 1 : 0;
    out[i] = v;
    out[n + i] = v;
    out[2 * n + i] = v;
  }
  return out;
}

/** The whole reference pipeline, every stage kept. Defaults match CannyDetector: low 100, high 200, sigma 1.4. */
export function cannyReference(
  rgba: ArrayLike<number>,
  width: number,
  height: number,
  options: CannyReferenceOptions = {},
): CannyReferenceStages {
  const { low = 100, high = 200, sigma = 1.4 } = options;
  if (rgba.length !== width * height * 4) throw new Error(`expected ${width * height * 4} RGBA bytes, got ${rgba.length}`);
  const kernel = gaussianKernelQ8Ref(sigma);
  const { lowSq, highSq } = squaredThresholdsRef(low, high);
  const gray = grayscaleRef(rgba, width, height);
  const blur = gaussianRef(gray, width, height, kernel);
  const { magnitude, magnitudeSq, direction } = sobelRef(blur, width, height);
  const nms = nmsRef(magnitudeSq, direction, width, height);
  const threshold = thresholdRef(nms, lowSq, highSq);
  const hysteresis = hysteresisRef(threshold, width, height);
  return {
    width,
    height,
    kernel,
    lowSq,
    highSq,
    gray,
    blur,
    magnitude,
    magnitudeSq,
    direction,
    nms,
    threshold,
    hysteresis,
    edges: edgesToRgbaRef(hysteresis),
    chw: edgesToChwRef(hysteresis),
  };
}

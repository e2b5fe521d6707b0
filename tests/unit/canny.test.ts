// Unit tests for the WebGPU Canny edge detector of the SDXL ControlNet preprocessor (src/engines/image/canny/,
// shaders/canny/*.wgsl): every kernel, run alone and in the chained pipeline, is compared with the CPU reference
// (src/engines/image/canny-cpu.ts) on synthetic images. The GPU is Dawn (npm `webgpu`) in Node, on Chromium's
// SwiftShader Vulkan driver. Without an adapter the GPU tests FAIL with an explanation, unless HEARTH_NO_GPU_TESTS=1.
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from './random';
import { CannyStageDetector } from './canny-stages';
import { getGpu, mapReadCount, skipGpu } from './dawn';
import {
  CANNY_SHADER_NAMES,
  CannyDetector,
  cannyParams,
  HYSTERESIS_DISPATCHES,
  type CannyOptions,
  type CannyShaderSources,
} from '../../src/engines/image/canny';
import {
  cannyReference,
  gaussianKernelQ8Ref,
  grayscaleRef,
  hysteresisRef,
  squaredThresholdsRef,
  type CannyReferenceStages,
} from '../../src/engines/image/canny-cpu';

// --- WebGPU in Node: must be configured before Dawn starts (it is imported lazily in getDevice) ---------------------

const SKIP_GPU = skipGpu;

async function getDevice(): Promise<{ device: GPUDevice; description: string }> {
  const adapter = (await (await getGpu('canny GPU tests')).requestAdapter())!;
  const device = await adapter.requestDevice();
  const info = adapter.info;
  return { device, description: `${info.vendor || '?'} / ${info.architecture || '?'} / ${info.device || info.description || '?'}` };
}

/** Counts mapAsync(READ) calls from now on. */
function countMapReads(): () => number {
  const start = mapReadCount();
  return () => mapReadCount() - start;
}

function loadShaders(): CannyShaderSources {
  const dir = new URL('../../shaders/canny/', import.meta.url);
  return Object.fromEntries(
    CANNY_SHADER_NAMES.map((n) => [n, readFileSync(new URL(`${n}.wgsl`, dir), 'utf8')]),
  ) as CannyShaderSources;
}

// --- synthetic images -----------------------------------------------------------------------------------------------

interface Img {
  name: string;
  width: number;
  height: number;
  rgba: Uint8Array;
}


function image(name: string, width: number, height: number, color: (x: number, y: number) => [number, number, number]): Img {
  const rgba = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b] = color(x, y);
      const i = 4 * (y * width + x);
      rgba[i] = r;
      rgba[i + 1] = g;
      rgba[i + 2] = b;
      rgba[i + 3] = 255;
    }
  }
  return { name: `${name} ${width}×${height}`, width, height, rgba };
}

const patterns: Record<string, (w: number, h: number) => Img> = {
  rectangles: (w, h) =>
    image('rectangles', w, h, (x, y) => {
      if (x >= w * 0.2 && x < w * 0.6 && y >= h * 0.25 && y < h * 0.7) return [220, 180, 90];
      if (x >= w * 0.5 && x < w * 0.9 && y >= h * 0.5 && y < h * 0.95) return [20, 90, 200];
      return [30, 40, 50];
    }),
  circles: (w, h) =>
    image('circles', w, h, (x, y) => {
      const inC = (cx: number, cy: number, r: number) => (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
      if (inC(w * 0.3, h * 0.4, Math.min(w, h) * 0.25)) return [250, 250, 250];
      if (inC(w * 0.7, h * 0.6, Math.min(w, h) * 0.3)) return [200, 40, 40];
      if (inC(w * 0.5, h * 0.2, Math.min(w, h) * 0.1)) return [90, 160, 90];
      return [10, 10, 10];
    }),
  gradient: (w, h) =>
    image('gradient', w, h, (x, y) => [
      Math.round((x * 255) / Math.max(1, w - 1)),
      Math.round((y * 255) / Math.max(1, h - 1)),
      (x * 7 + y * 3) % 256, // a steep sawtooth in blue: strong edges at its wraps
    ]),
  noise: (w, h) => {
    const rnd = mulberry32(w * 1000 + h);
    return image('noise', w, h, () => [Math.floor(rnd() * 256), Math.floor(rnd() * 256), Math.floor(rnd() * 256)]);
  },
  diagonal: (w, h) =>
    image('diagonal', w, h, (x, y) => {
      const d = Math.abs(x * (h - 1) - y * (w - 1)) / Math.hypot(w - 1, h - 1 || 1);
      const a = Math.abs(x * (h - 1) + y * (w - 1) - (w - 1) * (h - 1)) / Math.hypot(w - 1, h - 1 || 1);
      if (d < 1.5) return [255, 255, 255];
      if (a < 0.8) return [160, 160, 160];
      return [0, 0, 0];
    }),
};

/**
 * A long serpentine band (its outline is weak after thresholding, low 40 / high 200) whose first few pixels are
 * bright (strong outline): hysteresis has to carry "strong" along the whole outline, across many 16×16 tiles.
 */
function snake(width: number, height: number): Img {
  return image('snake', width, height, (x, y) => {
    const k = Math.floor((y - 3) / 8);
    const r = y - 3 - 8 * k;
    const inBand = y >= 3 && r < 3 && x >= 4 && x <= width - 5 && 8 * k + 5 < height;
    const inLink =
      y >= 3 && (k % 2 === 0 ? x >= width - 7 && x <= width - 5 : x >= 4 && x <= 6) && 8 * k + 13 < height;
    if (!inBand && !inLink) return [40, 40, 40];
    return k === 0 && r < 3 && x <= 12 ? [255, 255, 255] : [120, 120, 120];
  });
}

const SIZES: [number, number][] = [
  [1, 1],
  [2, 3],
  [37, 23],
  [64, 64],
  [256, 192],
];

interface Case {
  img: Img;
  options: CannyOptions;
}
const CASES: Case[] = [
  ...SIZES.flatMap(([w, h]) => Object.values(patterns).map((p) => ({ img: p(w, h), options: {} }))),
  ...[patterns.noise!(64, 64), patterns.circles!(37, 23), patterns.gradient!(64, 64)].flatMap((img) =>
    [
      { low: 20, high: 60 },
      { low: 200, high: 100 }, // swapped, as OpenCV allows
      { low: 50, high: 50 },
      { low: 0, high: 0 },
      { low: 40, high: 120, sigma: 0 }, // no blur
      { low: 40, high: 120, sigma: 2 },
      { low: 100.5, high: 200.25 },
    ].map((options) => ({ img, options })),
  ),
  { img: snake(256, 192), options: { low: 40, high: 200 } },
  { img: snake(64, 64), options: { low: 40, high: 200 } },
];

const caseName = (c: Case) => `${c.img.name} ${JSON.stringify(c.options)}`;

// --- comparisons ----------------------------------------------------------------------------------------------------

const FLOAT_TOL = 1e-4;

/** Largest |got - want| / max(1, |want|): relative where values are large (magnitudes up to ~1443), else absolute. */
function floatDiff(got: Float32Array, want: Float32Array): { worst: number; at: number } {
  expect(got.length).toBe(want.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i]! - want[i]!) / Math.max(1, Math.abs(want[i]!));
    if (!(d <= worst)) {
      worst = Number.isNaN(d) ? Infinity : d;
      at = i;
    }
  }
  return { worst, at };
}

function expectClose(label: string, got: Float32Array, want: Float32Array, width: number): number {
  const { worst, at } = floatDiff(got, want);
  const where = at < 0 ? '' : ` at (${at % width}, ${Math.floor(at / width)}): got ${got[at]} want ${want[at]}`;
  expect(worst, `${label}: max diff ${worst}${where}`).toBeLessThanOrEqual(FLOAT_TOL);
  return worst;
}

function expectExact(label: string, got: ArrayLike<number>, want: ArrayLike<number>, width: number, channels = 1): void {
  expect(got.length, `${label}: length`).toBe(want.length);
  const bad: string[] = [];
  let count = 0;
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) {
      count++;
      if (bad.length < 5) {
        const p = Math.floor(i / channels);
        bad.push(`(${p % width}, ${Math.floor(p / width)})[${i % channels}] got ${got[i]} want ${want[i]}`);
      }
    }
  }
  expect(count, `${label}: ${count} of ${want.length} values differ: ${bad.join('; ')}`).toBe(0);
}

const count = (a: ArrayLike<number>, v: number) => {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === v) n++;
  return n;
};

// --- CPU-only checks of the reference itself (always run) -----------------------------------------------------------

describe('canny CPU reference', () => {
  it('uses OpenCV fixed-point BT.601 grayscale', () => {
    const px = [255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 255, 255, 255, 255, 0, 0, 0, 255, 128, 128, 128, 255];
    expect(Array.from(grayscaleRef(px, 6, 1))).toEqual([76, 150, 29, 255, 0, 128]);
  });

  it('quantises the sigma-1.4 Gaussian to 28 61 78 61 28 (/256), and sigma <= 0 to no blur', () => {
    expect(gaussianKernelQ8Ref(1.4)).toEqual([78, 61, 28]);
    expect(gaussianKernelQ8Ref(0)).toEqual([256, 0, 0]);
    for (const s of [0.3, 0.8, 1, 1.4, 2, 5]) {
      const [k0, k1, k2] = gaussianKernelQ8Ref(s);
      expect(k0 + 2 * k1 + 2 * k2).toBe(256);
      expect(k0).toBeGreaterThanOrEqual(k1);
      expect(k1).toBeGreaterThanOrEqual(k2);
    }
  });

  it('derives the same parameters as the GPU detector', () => {
    for (const sigma of [-1, 0, 0.3, 0.8, 1, 1.4, 2, 5]) {
      for (const [low, high] of [[100, 200], [200, 100], [0, 0], [-5, 10], [100.5, 200.25], [1e6, 2e6]] as const) {
        const gpu = cannyParams({ low, high, sigma });
        expect(gpu.kernel).toEqual(gaussianKernelQ8Ref(sigma));
        expect({ lowSq: gpu.lowSq, highSq: gpu.highSq }).toEqual(squaredThresholdsRef(low, high));
      }
    }
    expect(cannyParams()).toEqual({ kernel: [78, 61, 28], lowSq: 10000, highSq: 40000 });
  });

  it('finds a one-pixel-wide edge along a vertical step', () => {
    const img = image('step', 32, 16, (x) => (x < 16 ? [0, 0, 0] : [255, 255, 255]));
    const ref = cannyReference(img.rgba, 32, 16);
    for (let y = 0; y < 16; y++) {
      const row = Array.from({ length: 32 }, (_, x) => ref.hysteresis[y * 32 + x]);
      expect(row.filter((v) => v === 2).length, `row ${y}`).toBe(1);
      expect([15, 16]).toContain(row.indexOf(2));
    }
    expect(count(ref.direction.filter((_, i) => ref.nms[i]! > 0), 0)).toBe(16); // horizontal gradient
  });

  it('finds nothing in a flat image', () => {
    const ref = cannyReference(image('flat', 20, 10, () => [90, 120, 30]).rgba, 20, 10, { low: 0, high: 0 });
    expect(count(ref.hysteresis, 0)).toBe(200);
  });

  it('promotes weak pixels 8-connected to strong ones, and only those', () => {
    // 6×4: a strong pixel, a diagonal weak chain touching it, and an isolated weak pair.
    const labels = Uint8Array.from([
      2, 0, 0, 0, 0, 1, //
      0, 1, 0, 0, 0, 1, //
      0, 0, 1, 1, 0, 0, //
      0, 0, 0, 0, 0, 0,
    ]);
    expect(Array.from(hysteresisRef(labels, 6, 4))).toEqual([
      2, 0, 0, 0, 0, 1, //
      0, 2, 0, 0, 0, 1, //
      0, 0, 2, 2, 0, 0, //
      0, 0, 0, 0, 0, 0,
    ]);
  });

  it('exercises hysteresis on the snake image', () => {
    const img = snake(256, 192);
    const ref = cannyReference(img.rgba, img.width, img.height, { low: 40, high: 200 });
    const promoted = count(ref.hysteresis, 2) - count(ref.threshold, 2);
    expect(promoted).toBeGreaterThan(1000);
  });
});

// --- GPU vs CPU -----------------------------------------------------------------------------------------------------

describe.skipIf(SKIP_GPU)('canny on WebGPU (Dawn in Node) vs the CPU reference', () => {
  let device: GPUDevice;
  let detector: CannyStageDetector;
  const gpuErrors: string[] = [];
  const stats = { cases: 0, worstGray: 0, worstBlur: 0, worstMagnitude: 0, maxPasses: 0, gpuMs: 0 };

  beforeAll(async () => {
    const got = await getDevice();
    device = got.device;
    device.addEventListener('uncapturederror', (e) => gpuErrors.push((e as GPUUncapturedErrorEvent).error.message));
    const t0 = performance.now();
    detector = await CannyStageDetector.create(device, loadShaders());
    console.log(`canny: adapter ${got.description}; pipelines compiled in ${(performance.now() - t0).toFixed(0)} ms`);
  }, 120_000);

  afterEach(() => {
    expect(gpuErrors, 'WebGPU validation errors').toEqual([]);
  });

  afterAll(() => {
    detector?.destroy();
    device?.destroy();
    if (stats.cases) {
      console.log(
        `canny: ${stats.cases} cases; max diff gray ${stats.worstGray}, blur ${stats.worstBlur}, ` +
          `magnitude ${stats.worstMagnitude.toExponential(2)} (relative); max hysteresis dispatches ${stats.maxPasses}; ` +
          `GPU time ${stats.gpuMs.toFixed(0)} ms`,
      );
    }
  });

  const refs = new Map<Case, CannyReferenceStages>();
  const refOf = (c: Case) => {
    let r = refs.get(c);
    if (!r) refs.set(c, (r = cannyReference(c.img.rgba, c.img.width, c.img.height, c.options)));
    return r;
  };

  it.each(CASES.map((c) => [caseName(c), c] as const))('pipeline stages match: %s', async (_name, c) => {
    const { width: w, height: h, rgba } = c.img;
    const ref = refOf(c);
    const t0 = performance.now();
    const gpu = await detector.debugStages(rgba, w, h, c.options);
    stats.gpuMs += performance.now() - t0;
    stats.cases++;
    expect([gpu.kernel, gpu.lowSq, gpu.highSq]).toEqual([ref.kernel, ref.lowSq, ref.highSq]);
    stats.worstGray = Math.max(stats.worstGray, expectClose('gray', gpu.gray, ref.gray, w));
    stats.worstBlur = Math.max(stats.worstBlur, expectClose('blur', gpu.blur, ref.blur, w));
    stats.worstMagnitude = Math.max(stats.worstMagnitude, expectClose('magnitude', gpu.magnitude, ref.magnitude, w));
    expectExact('magnitudeSq', gpu.magnitudeSq, ref.magnitudeSq, w);
    expectExact('direction', gpu.direction, ref.direction, w);
    expectExact('nms', gpu.nms, ref.nms, w);
    expectExact('threshold', gpu.threshold, ref.threshold, w);
    expectExact('hysteresis', gpu.hysteresis, ref.hysteresis, w);
    expectExact('edges', gpu.edges, ref.edges, w, 4);
    expectExact('chw', gpu.chw, ref.chw, w);
    stats.maxPasses = Math.max(stats.maxPasses, gpu.hysteresisPasses);
  });

  it.each(CASES.filter((_, i) => i % 3 === 0).map((c) => [caseName(c), c] as const))(
    'each kernel alone, fed the reference input, matches: %s',
    async (_name, c) => {
      const { width: w, height: h, rgba } = c.img;
      const ref = refOf(c);
      const o = c.options;
      expectClose('grayscale', (await detector.runStage('grayscale', w, h, { rgba }, o)).gray, ref.gray, w);
      expectClose('gaussian', (await detector.runStage('gaussian', w, h, { gray: ref.gray }, o)).blur, ref.blur, w);
      const sobel = await detector.runStage('sobel', w, h, { blur: ref.blur }, o);
      expectClose('sobel magnitude', sobel.magnitude, ref.magnitude, w);
      expectExact('sobel magnitudeSq', sobel.magnitudeSq, ref.magnitudeSq, w);
      expectExact('sobel direction', sobel.direction, ref.direction, w);
      const nms = await detector.runStage('nms', w, h, { magnitudeSq: ref.magnitudeSq, direction: ref.direction }, o);
      expectExact('nms', nms.nms, ref.nms, w);
      expectExact('threshold', (await detector.runStage('threshold', w, h, { nms: ref.nms }, o)).threshold, ref.threshold, w);
      const hyst = await detector.runStage('hysteresis', w, h, { threshold: ref.threshold }, o);
      expectExact('hysteresis', hyst.hysteresis, ref.hysteresis, w);
      const out = await detector.runStage('output', w, h, { hysteresis: ref.hysteresis }, o);
      expectExact('output rgba', out.edges, ref.edges, w, 4);
      expectExact('output chw', out.chw, ref.chw, w);
    },
  );

  it('hysteresis carries "strong" along the snake in a fixed 4 dispatches, with no read-back', async () => {
    const img = snake(256, 192);
    const ref = cannyReference(img.rgba, img.width, img.height, { low: 40, high: 200 });
    const reads = countMapReads();
    const t0 = performance.now();
    const got = await detector.runStage('hysteresis', img.width, img.height, { threshold: ref.threshold });
    const ms = performance.now() - t0;
    expectExact('hysteresis', got.hysteresis, ref.hysteresis, img.width);
    expect(got.hysteresisPasses).toBe(HYSTERESIS_DISPATCHES);
    expect(HYSTERESIS_DISPATCHES).toBe(4);
    expect(reads()).toBe(1); // the result only
    console.log(`canny: snake 256×192 hysteresis alone (upload, 4 dispatches, read-back) ${ms.toFixed(0)} ms`);
  });

  /** Label maps (0 none, 1 weak, 2 strong) built to stress the union-find, each checked against hysteresisRef. */
  const LABEL_MAPS: { name: string; width: number; height: number; labels: Uint8Array }[] = (() => {
    const maps: { name: string; width: number; height: number; labels: Uint8Array }[] = [];
    const make = (name: string, width: number, height: number, f: (x: number, y: number) => number) => {
      const labels = new Uint8Array(width * height);
      for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) labels[y * width + x] = f(x, y);
      maps.push({ name: `${name} ${width}×${height}`, width, height, labels });
    };
    // random weak/strong/none at densities around the 8-connected percolation threshold (~0.41): huge, ragged
    // components crossing every tile border and corner
    for (const [w, h, density, strong, seed] of [
      [256, 192, 0.45, 0.0005, 1], [97, 61, 0.41, 0.01, 2], [130, 130, 0.6, 0.0001, 3], [300, 1, 0.9, 0.01, 4],
      [1, 300, 0.9, 0.01, 5], [33, 65, 0.35, 0.05, 6], [64, 64, 1, 0, 7],
    ] as const) {
      const rnd = mulberry32(seed);
      make(`random p=${density} strong=${strong}`, w, h, () => (rnd() < density ? (rnd() < strong ? 2 : 1) : 0));
    }
    // all weak but one strong pixel, at the last index (the root of the whole image is at the other end)
    make('weak plane, strong last pixel', 200, 150, (x, y) => (x === 199 && y === 149 ? 2 : 1));
    make('weak plane, no strong', 70, 40, () => 1);
    // 1-pixel diagonals and anti-diagonals: every link across a tile corner is NW or NE (no 4-neighbour path)
    make('diagonals', 160, 160, (x, y) => ((x - y) % 16 === 0 ? (x === 159 && y === 159 ? 2 : 1) : 0));
    make('anti-diagonals', 160, 160, (x, y) => ((x + y) % 16 === 15 ? (x === 0 && y === 15 ? 2 : 1) : 0));
    // a square spiral, 1 pixel wide with 1-pixel gaps: one 8-connected path of ~15000 pixels through every tile,
    // many times, strong only at its inner end
    {
      const [w, h] = [192, 160];
      const grid = new Uint8Array(w * h);
      const free = (x: number, y: number) => x >= 0 && y >= 0 && x < w && y < h && grid[y * w + x] === 0;
      const dirs = [[1, 0], [0, 1], [-1, 0], [0, -1]] as const;
      let [x, y, d] = [0, 0, 0];
      grid[0] = 1;
      for (let turns = 0; turns < 2;) {
        const [dx, dy] = dirs[d]!;
        if (free(x + 2 * dx, y + 2 * dy)) {
          x += dx;
          y += dy;
          grid[y * w + x] = 1;
          turns = 0;
        } else {
          d = (d + 1) % 4;
          turns++;
        }
      }
      grid[y * w + x] = 2;
      make('spiral', w, h, (px, py) => grid[py * w + px]!);
    }
    // a comb: long teeth joined by the bottom row; strong at the tip of the first tooth only
    make('comb', 128, 128, (x, y) => (y === 127 || x % 4 === 0 ? (x === 0 && y === 0 ? 2 : 1) : 0));
    return maps;
  })();

  it.each(LABEL_MAPS.map((m) => [m.name, m] as const))('hysteresis alone equals the reference flood: %s', async (_n, m) => {
    const want = hysteresisRef(m.labels, m.width, m.height);
    const got = await detector.runStage('hysteresis', m.width, m.height, { threshold: m.labels });
    expectExact(m.name, got.hysteresis, want, m.width);
    // the maps mean something: weak pixels get promoted (but where there is no strong pixel), and in the random
    // ones below full density some weak pixels stay weak
    if (m.name !== 'weak plane, no strong 70×40' && !m.name.startsWith('random p=1 ')) {
      expect(count(want, 2) - count(m.labels, 2), `${m.name}: promoted`).toBeGreaterThan(0);
    }
    if (m.name.startsWith('random') && !m.name.startsWith('random p=1 ')) expect(count(want, 1), `${m.name}: left weak`).toBeGreaterThan(0);
  });

  it('hysteresis gives the same labels every run (no dependence on invocation order)', async () => {
    const m = LABEL_MAPS[0]!;
    const want = hysteresisRef(m.labels, m.width, m.height);
    for (let k = 0; k < 5; k++) {
      const got = await detector.runStage('hysteresis', m.width, m.height, { threshold: m.labels });
      expectExact(`${m.name} run ${k}`, got.hysteresis, want, m.width);
    }
  });

  it('detect() returns the reference RGBA edges, for Uint8ClampedArray input and across size changes', async () => {
    for (const c of [CASES[15]!, CASES[5]!, CASES[16]!, CASES[15]!]) {
      const { width: w, height: h, rgba } = c.img;
      const ref = refOf(c);
      expect(count(ref.hysteresis, 2), `${caseName(c)} has edges`).toBeGreaterThan(0);
      expectExact(caseName(c), await detector.detect(rgba, w, h, c.options), ref.edges, w, 4);
      const clamped = new Uint8ClampedArray(rgba);
      expectExact(`${caseName(c)} clamped`, await detector.detect(clamped, w, h, c.options), ref.edges, w, 4);
    }
  });

  it('serialises concurrent calls', async () => {
    const cs = [CASES[16]!, CASES[12]!, CASES[19]!];
    const outs = await Promise.all(cs.map((c) => detector.detect(c.img.rgba, c.img.width, c.img.height, c.options)));
    cs.forEach((c, i) => expectExact(caseName(c), outs[i]!, refOf(c).edges, c.img.width, 4));
  });

  it('detectToControlBuffer() leaves float32 [3,H,W] on the GPU', async () => {
    const c = CASES[19]!; // circles 256×192
    const { width: w, height: h, rgba } = c.img;
    const buffer = await detector.detectToControlBuffer(rgba, w, h, c.options);
    try {
      expect(buffer.size).toBe(3 * w * h * 4);
      expect(buffer.usage & GPUBufferUsage.STORAGE).toBeTruthy();
      const staging = device.createBuffer({ size: buffer.size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      const enc = device.createCommandEncoder();
      enc.copyBufferToBuffer(buffer, 0, staging, 0, buffer.size);
      device.queue.submit([enc.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      const got = new Float32Array(staging.getMappedRange().slice(0));
      staging.destroy();
      expectExact('controlnet_cond', got, refOf(c).chw, w);
      expect(count(got, 1)).toBe(3 * count(refOf(c).hysteresis, 2));
    } finally {
      buffer.destroy();
    }
  });

  it('loads the bundled shaders through Vite ?raw when none are given', async () => {
    const d = await CannyDetector.create(device);
    try {
      const c = CASES[16]!;
      expectExact('bundled', await d.detect(c.img.rgba, c.img.width, c.img.height), refOf(c).edges, c.img.width, 4);
    } finally {
      d.destroy();
    }
  }, 60_000);

  it('rejects bad input clearly', async () => {
    await expect(detector.detect(new Uint8Array(12), 2, 2)).rejects.toThrow(/expected 2×2×4 = 16 RGBA bytes/);
    await expect(detector.detect(new Uint8Array(0), 0, 0)).rejects.toThrow(/positive integers/);
    await expect(CannyDetector.create(device, { grayscale: '' })).rejects.toThrow(/missing shader sources: params, gaussian/);
    const d = await CannyDetector.create(device, loadShaders());
    d.destroy();
    await expect(d.detect(new Uint8Array(4), 1, 1)).rejects.toThrow(/destroyed/);
  }, 60_000);
});

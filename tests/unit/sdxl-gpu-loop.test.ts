// Unit tests for the GPU-resident SDXL denoising loop (src/engines/sdxl/gpu-loop.ts, shaders/sdxl/*.wgsl):
//  - the two kernels (scale_input, guidance_step) against the exact Float32Array math of pipeline.ts + scheduler.ts
//    (guided eps and denoised rounded to f32, dpmpp2mStep with float64 coefficients) on random data, for first-order,
//    second-order, window-start and final steps, and over a chained 10-step loop;
//  - a whole tiny-SDXL text-to-image run (64×64, 10 steps, cfg 7, seed 42) with onnxruntime-web's WebGPU EP in Node
//    (Dawn): UNet input and output stay GPU buffers (Tensor.fromGpuBuffer, preferredOutputLocation 'gpu-buffer'),
//    and the final latents equal tests/fixtures/sdxl/reference.json `seeded.txt2img.samples_1.latents`.
// The GPU is Dawn (npm `webgpu`) on Chromium's SwiftShader Vulkan driver. Without an adapter the GPU tests FAIL with
// an explanation, unless HEARTH_NO_GPU_TESTS=1.
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type * as OrtModule from 'onnxruntime-web';
import {
  SDXL_GPU_SHADER_NAMES,
  GpuDenoiser,
  dpmpp2mCoefficients,
  type SdxlGpuShaderSources,
} from '../../src/engines/sdxl/gpu-loop';
import { dpmpp2mStep, KarrasSchedule } from '../../src/engines/sdxl/scheduler';
import { ClipTokenizer, encodePrompt } from '../../src/engines/sdxl/clip';
import { gaussianNoise } from '../../src/engines/sdxl/noise';

const root = fileURLToPath(new URL('../../', import.meta.url));
const readJson = (rel: string): any => JSON.parse(readFileSync(root + rel, 'utf8'));

// --- WebGPU in Node (as tests/unit/canny.test.ts) -------------------------------------------------------------------

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
const SKIP_GPU = process.env.HEARTH_NO_GPU_TESTS === '1';

/** Dawn dlopen()s "libvulkan.so.1"; without a system loader, preload Chromium's (see canny.test.ts). */
function preloadVulkanLoader(): string {
  if (process.platform !== 'linux') return 'platform default';
  const dirs = [
    ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
    '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib',
  ];
  const system = dirs.map((d) => join(d, 'libvulkan.so.1')).find((p) => existsSync(p));
  if (system) return system;
  const icd = (process.env.VK_ICD_FILENAMES ?? '').split(':')[0];
  const bundled = icd ? join(dirname(icd), 'libvulkan.so.1') : '';
  if (!bundled || !existsSync(bundled)) return 'none found';
  try {
    process.dlopen({ exports: {} }, bundled, os.constants.dlopen.RTLD_NOW | os.constants.dlopen.RTLD_GLOBAL | 0x1000);
  } catch {
    // expected: "Module did not self-register" — the library stays loaded (RTLD_NODELETE)
  }
  return `${bundled} (preloaded)`;
}

let gpuHandle: GPU | null = null; // one Dawn instance for the whole file, kept alive
async function getGpu(): Promise<GPU> {
  if (gpuHandle) return gpuHandle;
  const loader = preloadVulkanLoader();
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  // Dawn for Node rejects views on SharedArrayBuffer (ORT's wasm memory may be shared): copy them first
  // (the same patch as /work/shared/gpu/shim.mjs).
  const proto = (globalThis as any).GPUQueue.prototype;
  const writeBuffer = proto.writeBuffer;
  proto.writeBuffer = function (buf: GPUBuffer, off: number, data: any, dataOff = 0, size?: number) {
    if (data && typeof SharedArrayBuffer !== 'undefined' && data.buffer instanceof SharedArrayBuffer) {
      const bpe = data.BYTES_PER_ELEMENT || 1;
      const start = dataOff * bpe;
      const len = (size ?? data.length - dataOff) * bpe;
      const copy = new Uint8Array(len);
      copy.set(new Uint8Array(data.buffer, data.byteOffset + start, len));
      return writeBuffer.call(this, buf, off, copy, 0, len);
    }
    return writeBuffer.call(this, buf, off, data, dataOff, size);
  };
  gpuHandle = create([]);
  const adapter = await gpuHandle.requestAdapter();
  if (!adapter) {
    throw new Error(
      'sdxl-gpu-loop tests: Dawn (npm "webgpu") found no WebGPU adapter in Node.\n' +
        `  VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES ?? '(unset)'}; Vulkan loader: ${loader}\n` +
        '  Install Chromium (SwiftShader ICD + libvulkan.so.1) or a Vulkan driver, or set HEARTH_NO_GPU_TESTS=1.',
    );
  }
  return gpuHandle;
}

function loadShaders(): SdxlGpuShaderSources {
  const dir = new URL('../../shaders/sdxl/', import.meta.url);
  return Object.fromEntries(
    SDXL_GPU_SHADER_NAMES.map((n) => [n, readFileSync(new URL(`${n}.wgsl`, dir), 'utf8')]),
  ) as SdxlGpuShaderSources;
}

// --- CPU reference: exactly the loop body of pipeline.ts ------------------------------------------------------------

function scaleRef(x: Float32Array, sigma: number): Float32Array {
  const n = x.length;
  const cIn = 1 / Math.sqrt(sigma * sigma + 1);
  const scaled = new Float32Array(2 * n);
  for (let k = 0; k < n; k++) scaled[k] = scaled[k + n] = x[k]! * cIn;
  return scaled;
}

/** One step of pipeline.ts: returns the new x and denoised; `old` null = first step of the window. */
function stepRef(x0: Float32Array, eps: Float32Array, old: Float32Array | null, sigmas: ArrayLike<number>, i: number, cfg: number) {
  const n = x0.length;
  const x = x0.slice();
  const sigma = sigmas[i]!;
  const denoised = new Float32Array(n);
  for (let k = 0; k < n; k++) {
    const guided = Math.fround(eps[k]! + cfg * (eps[k + n]! - eps[k]!));
    denoised[k] = x[k]! - sigma * guided;
  }
  dpmpp2mStep(x, denoised, old, sigmas, i);
  return { x, denoised };
}

/** Error bounds: 1e-6 of the magnitudes of the terms each value is computed from (f32 ops round to ~6e-8 each). */
function scales(x: Float32Array, eps: Float32Array, old: Float32Array | null, sigmas: ArrayLike<number>, i: number, cfg: number) {
  const n = x.length;
  const c = dpmpp2mCoefficients(sigmas, i, old !== null);
  const sd = new Float64Array(n);
  const sx = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const eu = Math.abs(eps[k]!);
    const ec = Math.abs(eps[k + n]!);
    sd[k] = Math.abs(x[k]!) + c.sigma * (eu + cfg * (eu + ec));
    sx[k] = c.final ? sd[k]! : Math.abs(c.ratio * x[k]!) + Math.abs(c.coeff) * (Math.abs(c.a) * sd[k]! + Math.abs(c.b * (old?.[k] ?? 0)));
  }
  return { sd, sx };
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function normal(n: number, seed: number, scale = 1): Float32Array {
  const r = mulberry32(seed);
  const out = new Float32Array(n);
  for (let k = 0; k < n; k++) out[k] = Math.sqrt(-2 * Math.log(Math.max(r(), 1e-12))) * Math.cos(2 * Math.PI * r()) * scale;
  return out;
}

const worst = { scale: 0, denoised: 0, x: 0, global: 0 };
/** Elementwise |got − want| ≤ 1e-6 · scale, and max |got − want| ≤ 1e-6 · max |want|. Returns the worst ratio. */
function expectWithin(what: string, got: Float32Array, want: Float32Array, scale: ArrayLike<number> | null): number {
  expect(got.length, what).toBe(want.length);
  let worstRatio = 0;
  let at = -1;
  let maxDiff = 0;
  let maxRef = 0;
  for (let k = 0; k < want.length; k++) {
    const d = Math.abs(got[k]! - want[k]!);
    if (!(d <= Infinity)) throw new Error(`${what}: NaN at ${k}`);
    const s = scale ? scale[k]! : Math.abs(want[k]!);
    const ratio = d === 0 ? 0 : d / Math.max(s, 1e-30);
    if (ratio > worstRatio) [worstRatio, at] = [ratio, k];
    maxDiff = Math.max(maxDiff, d);
    maxRef = Math.max(maxRef, Math.abs(want[k]!));
  }
  expect(worstRatio, `${what}: worst at ${at}: got ${got[at]} want ${want[at]}`).toBeLessThanOrEqual(1e-6);
  expect(maxDiff, `${what}: max |diff| vs max |ref| ${maxRef}`).toBeLessThanOrEqual(1e-6 * maxRef);
  worst.global = Math.max(worst.global, maxDiff / maxRef);
  return worstRatio;
}

const schedule = new KarrasSchedule(readJson('public/models/hearth-tiny-sdxl/scheduler/scheduler_config.json'));

describe('dpmpp2mCoefficients', () => {
  it('reproduces dpmpp2mStep (float64) for first-order, second-order and final steps', () => {
    const sigmas = schedule.sigmas(10);
    const n = 64;
    const x = normal(n, 1, 10);
    const d = normal(n, 2, 10);
    const old = normal(n, 3, 10);
    for (const [i, hasOld] of [[0, false], [3, false], [3, true], [8, true], [9, true]] as [number, boolean][]) {
      const want = x.slice();
      dpmpp2mStep(want, d, hasOld ? old : null, sigmas, i);
      const c = dpmpp2mCoefficients(sigmas, i, hasOld);
      expect(c.final).toBe(i === 9);
      expect(c.firstOrder).toBe(!c.final && (!hasOld || i === 0));
      const got = new Float32Array(n);
      for (let k = 0; k < n; k++) {
        got[k] = c.final ? d[k]! : c.firstOrder ? c.ratio * x[k]! + c.coeff * d[k]! : c.ratio * x[k]! + c.coeff * (c.a * d[k]! - c.b * old[k]!);
      }
      expect(got).toEqual(want);
    }
  });
});

describe.skipIf(SKIP_GPU)('SDXL GPU loop kernels (Dawn in Node) vs the Float32Array reference', () => {
  let device: GPUDevice;
  const gpuErrors: string[] = [];
  const sources = loadShaders();
  let gpuMs = 0;

  beforeAll(async () => {
    const gpu = await getGpu();
    const adapter = (await gpu.requestAdapter())!;
    device = await adapter.requestDevice();
    device.addEventListener('uncapturederror', (e) => gpuErrors.push((e as GPUUncapturedErrorEvent).error.message));
    console.log(`sdxl-gpu-loop: adapter ${adapter.info.vendor || '?'} / ${adapter.info.architecture || '?'} / ${adapter.info.description || '?'}`);
  }, 120_000);

  afterEach(() => {
    expect(gpuErrors, 'WebGPU validation errors').toEqual([]);
  });

  afterAll(() => {
    device?.destroy();
    console.log(
      `sdxl-gpu-loop kernels: worst error / term scale: denoised ${worst.denoised.toExponential(2)}, ` +
        `x ${worst.x.toExponential(2)}, scale_input ${worst.scale.toExponential(2)}; worst max|diff|/max|ref| ` +
        `${worst.global.toExponential(2)}; GPU time ${gpuMs.toFixed(0)} ms`,
    );
  });

  const sigmas10 = schedule.sigmas(10);
  const CASES = [
    // [name, h, w, sigmas, i, hasOld]
    ['first step (first order)', 8, 8, sigmas10, 0, false],
    ['second order, high sigma', 8, 8, sigmas10, 1, true],
    ['second order, mid', 13, 7, sigmas10, 4, true],
    ['second order, low sigma', 8, 8, sigmas10, 8, true],
    ['final step (x = denoised)', 8, 8, sigmas10, 9, true],
    ['window start inside the schedule (first order at i > 0)', 8, 8, sigmas10, 6, false],
    ['1024×1024 latents (65536), second order', 128, 128, schedule.sigmas(30), 12, true],
    ['odd size 1×3 (n = 12), final', 1, 3, schedule.sigmas(4), 3, true],
  ] as const;

  it.each(CASES)('guidance_step: %s', async (_name, h, w, sigmas, i, hasOld) => {
    const n = 4 * h * w;
    const cfg = 7;
    const sigma = sigmas[i]!;
    const x = normal(n, 11 + i, Math.max(1, sigma));
    const eps = normal(2 * n, 23 + i);
    const old = hasOld ? normal(n, 37 + i, Math.max(1, sigma)) : null;
    const ref = stepRef(x, eps, old, sigmas, i, cfg);
    const d = await GpuDenoiser.create(device, n, sources);
    try {
      const t0 = performance.now();
      d.writeLatents(x);
      if (old) device.queue.writeBuffer(d.old, 0, old as Float32Array<ArrayBuffer>);
      d.guidanceStepFromCpu(eps, cfg, dpmpp2mCoefficients(sigmas, i, hasOld));
      const gotX = await d.read(d.latents);
      const gotD = await d.read(d.old);
      gpuMs += performance.now() - t0;
      const { sd, sx } = scales(x, eps, old, sigmas, i, cfg);
      worst.denoised = Math.max(worst.denoised, expectWithin('denoised', gotD, ref.denoised, sd));
      worst.x = Math.max(worst.x, expectWithin('x', gotX, ref.x, sx));
    } finally {
      d.destroy();
    }
  });

  it.each(CASES.filter((_, k) => k % 2 === 0))('scale_input: %s', async (_name, h, w, sigmas, i) => {
    const n = 4 * h * w;
    const x = normal(n, 5 + i, Math.max(1, sigmas[i]!));
    const d = await GpuDenoiser.create(device, n, sources);
    try {
      d.writeLatents(x);
      d.scaleInput(1 / Math.sqrt(sigmas[i]! ** 2 + 1));
      const got = await d.read(d.sample);
      worst.scale = Math.max(worst.scale, expectWithin('sample', got, scaleRef(x, sigmas[i]!), null));
    } finally {
      d.destroy();
    }
  });

  it('a whole 10-step loop chained on the GPU (eps given per step) follows the reference', async () => {
    const n = 4 * 8 * 8;
    const cfg = 7;
    const sigmas = sigmas10;
    const d = await GpuDenoiser.create(device, n, sources);
    try {
      let x = normal(n, 99).map((v) => v * sigmas[0]!);
      let old: Float32Array | null = null;
      d.writeLatents(x);
      for (let i = 0; i < 10; i++) {
        // the UNet input of this step, from the GPU state (as the loop feeds ORT)
        d.scaleInput(1 / Math.sqrt(sigmas[i]! ** 2 + 1));
        const sample = await d.read(d.sample);
        const sampleRef = scaleRef(x, sigmas[i]!);
        expect(maxAbsDiff(sample, sampleRef) / maxAbs(sampleRef), `sample ${i}`).toBeLessThan(1e-6 * (i + 1));
        const eps = normal(2 * n, 1000 + i);
        const ref = stepRef(x, eps, old, sigmas, i, cfg);
        d.guidanceStepFromCpu(eps, cfg, dpmpp2mCoefficients(sigmas, i, i > 0));
        const got = await d.read();
        // errors accumulate over steps: compare with the chain's own magnitude
        const rel = maxAbsDiff(got, ref.x) / maxAbs(ref.x);
        expect(rel, `step ${i}`).toBeLessThan(1e-6 * (i + 1));
        [x, old] = [ref.x, ref.denoised];
      }
    } finally {
      d.destroy();
    }
  });

  it('rejects bad input clearly', async () => {
    await expect(GpuDenoiser.create(device, 0, sources)).rejects.toThrow(/positive integer/);
    await expect(GpuDenoiser.create(device, 4, { scale_input: '', guidance_step: sources.guidance_step })).rejects.toThrow(/missing shader sources: scale_input/);
    const d = await GpuDenoiser.create(device, 4, sources);
    expect(() => d.writeLatents(new Float32Array(3))).toThrow(/expected 4 latents/);
    const small = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE });
    expect(() => d.guidanceStep(small, 7, dpmpp2mCoefficients(sigmas10, 0, false))).toThrow(/needs 32/);
    small.destroy();
    d.destroy();
    expect(() => d.scaleInput(1)).toThrow(/destroyed/);
  });
});

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let k = 0; k < a.length; k++) m = Math.max(m, Math.abs(a[k]! - b[k]!));
  return m;
}
function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

// --- the whole loop with onnxruntime-web's WebGPU EP ----------------------------------------------------------------

describe.skipIf(SKIP_GPU)('tiny SDXL text-to-image with the GPU loop (onnxruntime-web WebGPU EP on Dawn)', () => {
  const ref = readJson('tests/fixtures/sdxl/reference.json');
  const dir = `${root}${ref.model_dir as string}/`;
  let ort: typeof OrtModule;
  const sessions: Record<string, OrtModule.InferenceSession> = {};
  let device: GPUDevice;

  beforeAll(async () => {
    const gpu = await getGpu();
    if (!(globalThis as any).navigator?.gpu) {
      Object.defineProperty(globalThis, 'navigator', { value: { gpu, hardwareConcurrency: 1, userAgent: 'node' }, configurable: true });
    }
    // The WebGPU build of onnxruntime-web (what `onnxruntime-web/webgpu` resolves to in browsers), by path.
    ort = await import(/* @vite-ignore */ pathToFileURL(`${root}node_modules/onnxruntime-web/dist/ort.webgpu.min.mjs`).href);
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.wasmPaths = pathToFileURL(`${root}node_modules/onnxruntime-web/dist/`).href;
    const t0 = performance.now();
    // Text encoders on the wasm EP of the same build; the UNet on WebGPU with its output left on the GPU.
    for (const part of ['text_encoder', 'text_encoder_2']) {
      sessions[part] = await ort.InferenceSession.create(readFileSync(`${dir}${part}/model.onnx`), { executionProviders: ['wasm'] });
    }
    sessions.unet = await ort.InferenceSession.create(readFileSync(`${dir}unet/model.onnx`), {
      executionProviders: ['webgpu'], graphOptimizationLevel: 'all', preferredOutputLocation: { out_sample: 'gpu-buffer' },
    });
    device = (await ort.env.webgpu.device) as unknown as GPUDevice;
    console.log(`sdxl-gpu-loop: ORT ${ort.env.versions.web} sessions in ${(performance.now() - t0).toFixed(0)} ms`);
  }, 300_000);

  afterAll(async () => {
    for (const s of Object.values(sessions)) await s.release().catch(() => undefined);
  });

  it('ort.env.webgpu.device is the GPUDevice the WebGPU EP runs on', () => {
    expect(device).toBeInstanceOf((globalThis as any).GPUDevice);
  });

  it('10 steps at 64×64 (seed 42) equal the seeded torch latents; only the final latents are read back', async () => {
    const s = ref.seeded;
    const [H, W, steps, cfg] = [s.height as number, s.width as number, s.steps as number, s.cfg_scale as number];
    const h = H / 8;
    const w = W / 8;
    const n = 4 * h * w;
    const tok = (d: string) => new ClipTokenizer(readJson(`${ref.model_dir}/${d}/tokenizer.json`), readJson(`${ref.model_dir}/${d}/tokenizer_config.json`));
    const tokenizers = { one: tok('tokenizer'), two: tok('tokenizer_2') };
    const encoders = { one: sessions.text_encoder!, two: sessions.text_encoder_2! };
    const cond = await encodePrompt(ort, encoders, tokenizers, s.prompt);
    const uncond = await encodePrompt(ort, encoders, tokenizers, s.negative_prompt);
    const cat = (a: Float32Array, b: Float32Array) => { const o = new Float32Array(a.length + b.length); o.set(a); o.set(b, a.length); return o; };
    const hidden = cat(uncond.hidden, cond.hidden);
    const pooled = cat(uncond.pooled, cond.pooled);
    const timeIds = Float32Array.from([H, W, 0, 0, H, W, H, W, 0, 0, H, W]);
    const sigmas = schedule.sigmas(steps);
    const x0 = gaussianNoise(s.seed, n).map((v) => v * sigmas[0]!);

    const denoiser = await GpuDenoiser.create(device, n, loadShaders());
    const locations: string[] = [];
    const readsBefore = countMapReads(device);
    try {
      const run = async () => denoiser.denoise({
        ort, x: x0, sigmas, cfgScale: cfg, sampleDims: [2, 4, h, w],
        runUnet: async (sample, i) => {
          expect(sample.location).toBe('gpu-buffer');
          const out = await sessions.unet!.run({
            sample,
            timestep: new ort.Tensor('float32', Float32Array.from([schedule.sigmaToT(sigmas[i]!)]), []),
            encoder_hidden_states: new ort.Tensor('float32', hidden, [2, 77, hidden.length / 2 / 77]),
            text_embeds: new ort.Tensor('float32', pooled, [2, pooled.length / 2]),
            time_ids: new ort.Tensor('float32', timeIds, [2, 6]),
          });
          locations.push(out.out_sample!.location);
          return out;
        },
      });
      let t0 = performance.now();
      const got = await run(); // compiles the UNet's shaders too (slow on SwiftShader): one run keeps the suite fast
      const firstMs = performance.now() - t0;
      expect(locations.every((l) => l === 'gpu-buffer'), locations.join()).toBe(true);
      expect(locations).toHaveLength(steps);
      const loopReads = countMapReads(device) - readsBefore;
      // The same loop on the CPU (pipeline.ts's Float32Array math) around the same WebGPU UNet, eps read back.
      t0 = performance.now();
      const x = x0.slice();
      let old: Float32Array | null = null;
      for (let i = 0; i < steps; i++) {
        const scaled = scaleRef(x, sigmas[i]!);
        const sample = new ort.Tensor('float32', scaled, [2, 4, h, w]);
        const out = await sessions.unet!.run({
          sample,
          timestep: new ort.Tensor('float32', Float32Array.from([schedule.sigmaToT(sigmas[i]!)]), []),
          encoder_hidden_states: new ort.Tensor('float32', hidden, [2, 77, hidden.length / 2 / 77]),
          text_embeds: new ort.Tensor('float32', pooled, [2, pooled.length / 2]),
          time_ids: new ort.Tensor('float32', timeIds, [2, 6]),
        });
        const eps = (await out.out_sample!.getData()) as Float32Array;
        out.out_sample!.dispose();
        const r = stepRef(x, eps, old, sigmas, i, cfg);
        x.set(r.x);
        old = r.denoised;
      }
      const cpuMs = performance.now() - t0;
      const want = f32(s.txt2img.samples_1.latents);
      const dCpu = maxAbsDiff(x, want);
      const dLoops = maxAbsDiff(got, x);
      console.log(
        `sdxl-gpu-loop: CPU loop around the same WebGPU UNet: ${cpuMs.toFixed(0)} ms, vs torch max |diff| ` +
          `${dCpu.toExponential(2)}; GPU loop vs CPU loop max |diff| ${dLoops.toExponential(2)} (relative ${(dLoops / maxAbs(x)).toExponential(2)})`,
      );
      expect(dLoops).toBeLessThan(1e-5 * Math.max(1, maxAbs(x)));
      const d = maxAbsDiff(got, want);
      console.log(
        `sdxl-gpu-loop: WebGPU loop latents max |diff| ${d.toExponential(2)} on magnitude ${maxAbs(want).toFixed(1)} ` +
          `(relative ${(d / maxAbs(want)).toExponential(2)}); 10 steps ${firstMs.toFixed(0)} ms (incl. compiling); ` +
          `mapAsync(READ) calls: ${loopReads}`,
      );
      // The README's tolerance for re-running the reference in onnxruntime-web (fixture-sdxl.test.ts uses the same).
      expect(d).toBeLessThan(1e-4 * Math.max(1, maxAbs(want)));
      expect(loopReads).toBe(1); // one read-back (the final latents), ORT's reads included
    } finally {
      denoiser.destroy();
    }
  }, 600_000);
});

function f32(t: { b64: string }): Float32Array {
  return new Float32Array(new Uint8Array(Buffer.from(t.b64, 'base64')).buffer); // a fresh, aligned copy
}

/** Counts mapAsync(READ) calls, ORT's included (a spy installed once on GPUBuffer.prototype). */
let mapReads = 0;
function countMapReads(_device: GPUDevice): number {
  const proto = (globalThis as any).GPUBuffer.prototype;
  if (!proto.__hearthCounted) {
    const map = proto.mapAsync;
    proto.mapAsync = function (...args: unknown[]) {
      if (((args[0] as number) & 1) !== 0) mapReads++; // GPUMapMode.READ
      return map.apply(this, args);
    };
    proto.__hearthCounted = true;
  }
  return mapReads;
}

// The LoRA merge bench (run by bench/run.mjs, Node only: no browser), W += scale · up @ down in place, on WebGPU
// through Dawn (npm `webgpu`, set up by tests/unit/dawn.ts: Chromium's SwiftShader Vulkan driver here, a real driver
// on a GPU machine):
//   1. per weight, for shapes of the real SDXL UNet and text encoders, float32 and float16 storage, in the layout the
//      ONNX export stores them (MatMul weights transposed, Conv weights [out, in·kh·kw]): mergeOnCpu (merge.ts, the
//      JS reference and the path without WebGPU) vs GpuLoraMerger.merge (gpu-merge.ts + shaders/lora/merge.wgsl,
//      upload and read-back included), interleaved in rounds (the order rotates) after warm-up; inside the GPU merge,
//      the kernel's own time (timestamp queries written around each compute pass, when the adapter has
//      `timestamp-query`) and a copy-only run of the same bytes (the merger's uploads and read-back, no dispatch).
//      The first pass of every job also checks that GPU and CPU give the same weights (max |Δ| printed). A larger
//      rank runs once, on a few shapes.
//   2. the whole-model merge, mergeLora (apply.ts), of each tiny fixture adapter (public/hub/hearth/tiny-sdxl-lora)
//      into the tiny SDXL's graphs (public/models/hearth-tiny-sdxl), CPU vs GPU merger: the total, the merger's part,
//      the rest (reading the safetensors, indexing the ONNX graphs, resolving modules to weights, building the jobs),
//      and those steps timed on their own.
// Medians; ratios, not thresholds. On SwiftShader (a CPU pretending to be a GPU) the GPU ÷ CPU ratios are no speed
// claims; on a real GPU adapter (see /work/shared/gpu/README.md) they are.
import { readFileSync } from 'node:fs';
import { ROOT } from './build.mjs';
import { diff, fmt, p50, p90, quantile, sum, table } from './stats.mjs';
import { SDXL_MODEL_ID } from './workload.mjs';

export const LORA_DEFAULTS = {
  rounds: 3, warmup: 1, rank: 32,
  /** The four attention shapes: the big ones (GEGLU, ff out, 3×3 conv) take minutes on SwiftShader (--lora-shapes=all). */
  shapes: 'attn640,attn1280,xattn640,xattn1280',
  bigRank: 128, bigRankShapes: 'attn1280',
  modelRounds: 10, modelWarmup: 2,
};

/** Weights of SDXL base (UNet, CLIP-L, CLIP-G) as their ONNX exports store them: rows = out features, cols = in features × kernel. */
export const LORA_SHAPES = {
  attn640: { rows: 640, cols: 640, transposed: true, label: 'attn1.to_q/k/v/out 640×640 (UNet down_blocks.1, up_blocks.1)' },
  attn1280: { rows: 1280, cols: 1280, transposed: true, label: 'attn1.to_q/k/v/out 1280×1280 (UNet; = CLIP-G q_proj)' },
  xattn640: { rows: 640, cols: 2048, transposed: true, label: 'attn2.to_k/v 2048→640 (cross-attention)' },
  xattn1280: { rows: 1280, cols: 2048, transposed: true, label: 'attn2.to_k/v 2048→1280 (cross-attention)' },
  geglu: { rows: 10240, cols: 1280, transposed: true, label: 'ff.net.0.proj 1280→10240 (GEGLU)' },
  ffout: { rows: 1280, cols: 5120, transposed: true, label: 'ff.net.2 5120→1280' },
  conv3x3: { rows: 1280, cols: 1280 * 9, transposed: false, label: 'resnets conv 1280×1280×3×3' },
};
const TYPES = ['float32', 'float16'];
const VARIANTS = ['cpu', 'gpu', 'copy'];
const ADAPTER_DIR = 'hub/hearth/tiny-sdxl-lora/resolve/main';
/** The fixture adapters made for the tiny SDXL (scripts/fixtures_sdxl_lora.py); sdxl_base_lora.safetensors there has
 * the real SDXL base's shapes and is refused by the tiny model (a mismatch fixture). */
const ADAPTERS = ['pytorch_lora_weights.safetensors', 'kohya_lora.safetensors'];
/** The graphs each LoRA part merges into (apply.ts: GRAPHS_OF), for timing mergeLora's steps on their own. */
const GRAPHS_OF = { unet: ['unet', 'unet_controlnet'], text_encoder: ['text_encoder'], text_encoder_2: ['text_encoder_2'] };

/** Loads the bundled LoRA modules and the Dawn setup (see build.mjs: buildNodeApi). */
export async function loadLoraModules(dir) {
  const names = ['lora-merge', 'lora-gpu-merge', 'lora-apply', 'lora-safetensors', 'lora-adapter-keys', 'lora-onnx-weights', 'lora-targets', 'dawn', 'sdxl-files'];
  const [merge, gpuMerge, apply, safetensors, adapterKeys, onnxWeights, targets, dawn, files] = await Promise.all(names.map((m) => import(`${dir}/${m}.mjs`)));
  return {
    mergeOnCpu: merge.mergeOnCpu, cpuMerger: merge.cpuMerger, GpuLoraMerger: gpuMerge.GpuLoraMerger, mergeLora: apply.mergeLora,
    readSafetensors: safetensors.readSafetensors, loraModules: adapterKeys.loraModules, indexOnnxWeights: onnxWeights.indexOnnxWeights,
    resolveTargets: targets.resolveTargets, getGpu: dawn.getGpu,
    /** The SDXL parts ImageService loads (sdxl/files.ts) and hands to mergeLora. */
    IMAGE_PARTS: files.IMAGE_PARTS,
  };
}

// --- inputs -------------------------------------------------------------------------------------------------------

function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return ((s >>> 8) / 0x1000000) * 2 - 1;
  };
}
const randoms = (n, seed, scale) => {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = r() * scale;
  return out;
};

/** Random weights, |w| in [2^-6, 1): float32 values, or float16 bit patterns drawn directly (no conversion). */
function randomWeights(type, n, seed) {
  if (type === 'float32') return new Uint8Array(randoms(n, seed, 1).buffer);
  const r = rng(seed);
  const h = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const u = (r() + 1) * 0x8000;
    h[i] = (u & 0x8000) | ((9 + (u % 6)) << 10) | ((u * 1021) & 0x3ff);
  }
  return new Uint8Array(h.buffer);
}

let halfTable;
function halfToFloat(h) {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 31;
  const m = h & 1023;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
/** The weight's values as float32 (float16 decoded through a table). */
function values(type, bytes) {
  if (type === 'float32') return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  halfTable ??= Float32Array.from({ length: 65536 }, (_, h) => halfToFloat(h));
  const h = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) out[i] = halfTable[h[i]];
  return out;
}
const aligned = (bytes) => (bytes.byteOffset % 4 === 0 ? bytes : bytes.slice());

/** max |a − b| over two weights' values, and max |a − original| (the size of the merged delta, for scale). */
function compare(type, original, a, b) {
  const [o, x, y] = [original, a, b].map((v) => values(type, aligned(v)));
  let maxAbsDiff = 0;
  let maxDelta = 0;
  let nonFinite = 0;
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i]) || !Number.isFinite(y[i])) nonFinite++;
    maxAbsDiff = Math.max(maxAbsDiff, Math.abs(x[i] - y[i]));
    maxDelta = Math.max(maxDelta, Math.abs(x[i] - o[i]));
  }
  return { maxAbsDiff, maxDelta, nonFinite };
}

// --- WebGPU -------------------------------------------------------------------------------------------------------

/**
 * The device the GPU merger runs on, with a timestamp written at the beginning and end of every compute pass it
 * encodes (the resolve and its copy are appended to the same command buffer, so the merge's own work is unchanged;
 * the timestamps are read after the merge has returned, outside any timing). Without `timestamp-query`, the plain device.
 */
function instrument(device) {
  if (!device.features.has('timestamp-query')) return { device, kernelMs: async () => null };
  const CAP = 1024;
  const querySet = device.createQuerySet({ type: 'timestamp', count: 2 * CAP });
  const resolve = device.createBuffer({ size: 16 * CAP, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  let pending = [];
  const wrap = (encoder) => {
    let passes = 0;
    return new Proxy(encoder, {
      get(target, key) {
        if (key === 'beginComputePass') {
          return (desc = {}) => {
            if (passes >= CAP) throw new Error(`bench/lora.mjs: more than ${CAP} compute passes in one command buffer`);
            const i = passes++;
            return target.beginComputePass({ ...desc, timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
          };
        }
        if (key === 'finish') {
          return (desc) => {
            if (passes) {
              const readback = device.createBuffer({ size: 16 * passes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
              target.resolveQuerySet(querySet, 0, 2 * passes, resolve, 0);
              target.copyBufferToBuffer(resolve, 0, readback, 0, 16 * passes);
              pending.push(readback);
            }
            return desc === undefined ? target.finish() : target.finish(desc);
          };
        }
        const v = Reflect.get(target, key);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
  };
  const proxy = new Proxy(device, {
    get(target, key) {
      if (key === 'createCommandEncoder') return (desc) => wrap(desc === undefined ? target.createCommandEncoder() : target.createCommandEncoder(desc));
      const v = Reflect.get(target, key);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  /** Σ (end − begin) of the passes encoded since the last call, in ms. */
  async function kernelMs() {
    const buffers = pending;
    pending = [];
    let ns = 0n;
    for (const b of buffers) {
      await b.mapAsync(GPUMapMode.READ);
      const t = new BigUint64Array(b.getMappedRange());
      for (let i = 0; i < t.length; i += 2) ns += t[i + 1] > t[i] ? t[i + 1] - t[i] : 0n;
      b.unmap();
      b.destroy();
    }
    return buffers.length ? Number(ns) / 1e6 : null;
  }
  return { device: proxy, kernelMs };
}

/**
 * What GpuLoraMerger does for one weight (gpu-merge.ts: run) less the compute: the same buffers, the weight's padded
 * staging copy, up and down uploaded, the weight copied to a mappable buffer, mapped and copied back into the bytes.
 */
async function copyOnly(device, job) {
  const created = [];
  const make = (size, usage) => {
    const b = device.createBuffer({ size: Math.max(4, Math.ceil(size / 4) * 4), usage });
    created.push(b);
    return b;
  };
  try {
    const size = Math.ceil(job.bytes.byteLength / 4) * 4;
    const weight = make(size, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST);
    const staging = new Uint8Array(size);
    staging.set(job.bytes);
    device.queue.writeBuffer(weight, 0, staging);
    for (const f of [job.up, job.down]) device.queue.writeBuffer(make(f.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST), 0, f.buffer, f.byteOffset, f.byteLength);
    const readback = make(size, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    const encoder = device.createCommandEncoder();
    encoder.copyBufferToBuffer(weight, 0, readback, 0, size);
    device.queue.submit([encoder.finish()]);
    await readback.mapAsync(GPUMapMode.READ);
    job.bytes.set(new Uint8Array(readback.getMappedRange(), 0, job.bytes.byteLength));
    readback.unmap();
  } finally {
    for (const b of created) b.destroy();
  }
}

async function openGpu(mods) {
  const gpu = await mods.getGpu('bench/lora.mjs');
  const adapter = await gpu.requestAdapter();
  const info = adapter.info ?? {};
  const adapterInfo = {
    vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description,
    features: [...adapter.features].sort(), maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
    maxBufferSize: adapter.limits.maxBufferSize,
  };
  // A software adapter (the GPUAdapterInfo fields are getters: read above, not with Object.values).
  adapterInfo.swiftshader = /swiftshader|subzero|llvmpipe|lavapipe/i.test([info.vendor, info.architecture, info.device, info.description].join(' '));
  const timestamps = adapter.features.has('timestamp-query');
  const device = await adapter.requestDevice({
    requiredFeatures: timestamps ? ['timestamp-query'] : [],
    // The merger refuses weights over maxStorageBufferBindingSize (CPU fallback): ask for the adapter's limits.
    requiredLimits: { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize, maxBufferSize: adapter.limits.maxBufferSize },
  });
  return { device, adapterInfo, timestamps };
}

// --- 1. per weight --------------------------------------------------------------------------------------------------

function makeJob(shapeKey, type, rank, seed) {
  const { rows, cols, transposed, label } = LORA_SHAPES[shapeKey];
  const original = randomWeights(type, rows * cols, seed);
  // A typical adapter's factors: alpha = rank (scale 1), |up @ down| a few percent of |W|.
  const job = {
    bytes: original.slice(), type, rows, cols, rank, transposed, scale: 1,
    up: randoms(rows * rank, seed + 1, 0.05), down: randoms(rank * cols, seed + 2, 0.05),
  };
  return { key: `${shapeKey}/${type}/r${rank}`, shape: shapeKey, label, type, rank, rows, cols, transposed, elements: rows * cols, job, original };
}

/** One pass over the jobs; fills `into[key][variant]` with ms (and `.kernel` with timestamp ms); checks on demand. */
async function weightPass({ mods, merger, gpu, items, pass, into, checks }) {
  for (const [j, item] of items.entries()) {
    const { job, original } = item;
    const rec = (into[item.key] ??= { cpu: [], gpu: [], copy: [], kernel: [] });
    const out = {};
    for (let v = 0; v < VARIANTS.length; v++) {
      const variant = VARIANTS[(pass + j + v) % VARIANTS.length];
      job.bytes.set(original);
      const t0 = performance.now();
      if (variant === 'cpu') mods.mergeOnCpu(job);
      else if (variant === 'gpu') await merger.merge([job]);
      else await copyOnly(gpu.device, job);
      const ms = performance.now() - t0;
      rec[variant].push(ms);
      if (variant === 'gpu') rec.kernel.push(await gpu.kernelMs());
      if (checks) out[variant] = job.bytes.slice();
    }
    if (checks) {
      checks[item.key] = {
        ...compare(item.type, original, out.gpu, out.cpu),
        copyRoundTripExact: Buffer.compare(out.copy, original) === 0,
        cpuFallbacks: merger.cpuFallbacks,
      };
    }
  }
}

// --- 2. whole model -------------------------------------------------------------------------------------------------

function loadGraphs(mods, entry) {
  const graphs = {};
  for (const part of mods.IMAGE_PARTS) {
    const file = entry.files.find((f) => f.role === part);
    if (file) graphs[part] = new Uint8Array(readFileSync(`${ROOT}public/${file.url}`));
  }
  return graphs;
}
const copyGraphs = (graphs) => Object.fromEntries(Object.entries(graphs).map(([k, v]) => [k, { model: v.slice() }]));

/** mergeLora's steps before the merge, timed on their own (apply.ts: mergeLora, less the job building and merge). */
function steps(mods, graphs, adapter) {
  const t0 = performance.now();
  const modules = mods.loraModules(mods.readSafetensors(adapter));
  const t1 = performance.now();
  let indexMs = 0;
  let resolveMs = 0;
  let indexed = 0;
  for (const [part, names] of Object.entries(GRAPHS_OF)) {
    const mine = modules.filter((m) => m.part === part);
    if (!mine.length) continue;
    for (const name of names) {
      if (!graphs[name]) continue;
      const a = performance.now();
      const index = mods.indexOnnxWeights(graphs[name]);
      const b = performance.now();
      mods.resolveTargets(index, mine);
      resolveMs += performance.now() - b;
      indexMs += b - a;
      indexed++;
    }
  }
  return { parseMs: t1 - t0, indexMs, resolveMs, indexed };
}

/** The merged weights of two runs compared (every target of the adapter, in every graph). */
function compareMerged(mods, original, a, b, adapter) {
  const modules = mods.loraModules(mods.readSafetensors(adapter));
  let maxAbsDiff = 0;
  let maxDelta = 0;
  let weights = 0;
  let elements = 0;
  for (const [part, names] of Object.entries(GRAPHS_OF)) {
    const mine = modules.filter((m) => m.part === part);
    for (const name of names) {
      if (!mine.length || !original[name]) continue;
      for (const t of mods.resolveTargets(mods.indexOnnxWeights(original[name]), mine).targets) {
        const { file, offset, length, type } = t.initializer;
        if (file !== null) throw new Error('bench/lora.mjs: external data in the tiny SDXL?');
        const c = compare(type, original[name].subarray(offset, offset + length), a[name].model.subarray(offset, offset + length), b[name].model.subarray(offset, offset + length));
        maxAbsDiff = Math.max(maxAbsDiff, c.maxAbsDiff);
        maxDelta = Math.max(maxDelta, c.maxDelta);
        weights++;
        elements += t.rows * t.cols;
      }
    }
  }
  return { maxAbsDiff, maxDelta, weights, elements };
}

async function runModel({ mods, merger, gpu, opts, log }) {
  const entry = new mods.ModelRegistry().resolve(SDXL_MODEL_ID, 'image');
  const graphs = loadGraphs(mods, entry);
  const adapters = ADAPTERS.map((name) => ({ name, bytes: new Uint8Array(readFileSync(`${ROOT}public/${ADAPTER_DIR}/${name}`)) }));
  const mergers = { cpu: mods.cpuMerger, gpu: merger };
  const samples = {};
  const info = {};
  log(`lora whole model: ${adapters.length} adapters into ${SDXL_MODEL_ID}, CPU vs GPU merger, ${opts.modelWarmup} warm-up + ${opts.modelRounds} rounds`);
  for (let r = 0; r < opts.modelWarmup + opts.modelRounds; r++) {
    for (const [a, adapter] of adapters.entries()) {
      const rec = (samples[adapter.name] ??= { cpu: [], gpu: [], steps: [] });
      const merged = {};
      for (let v = 0; v < 3; v++) {
        const variant = ['cpu', 'gpu', 'steps'][(r + a + v) % 3];
        if (variant === 'steps') {
          const s = steps(mods, graphs, adapter.bytes);
          if (r >= opts.modelWarmup) rec.steps.push(s);
          continue;
        }
        const copies = copyGraphs(graphs);
        const inner = mergers[variant];
        let mergeMs = 0;
        let jobs = 0;
        const timed = {
          device: inner.device,
          async merge(list) {
            jobs += list.length;
            const t = performance.now();
            await inner.merge(list);
            mergeMs += performance.now() - t;
          },
        };
        const t0 = performance.now();
        const report = await mods.mergeLora(copies, adapter.bytes, timed, entry.id);
        const totalMs = performance.now() - t0;
        const kernelMs = variant === 'gpu' ? await gpu.kernelMs() : null;
        if (r >= opts.modelWarmup) rec[variant].push({ totalMs, mergeMs, kernelMs });
        if (r === 0) {
          merged[variant] = copies;
          info[adapter.name] = { modules: report.modules, weights: report.weights, jobs, bytes: adapter.bytes.byteLength };
        }
      }
      if (r === 0) info[adapter.name].check = compareMerged(mods, graphs, merged.gpu, merged.cpu, adapter.bytes);
    }
  }
  return { model: entry.id, graphs: Object.fromEntries(Object.entries(graphs).map(([k, v]) => [k, v.byteLength])), adapters: info, samples };
}

// --- run ----------------------------------------------------------------------------------------------------------

const pick = (list, what) => {
  const keys = list === 'all' ? Object.keys(LORA_SHAPES) : String(list).split(',').filter(Boolean);
  for (const k of keys) if (!LORA_SHAPES[k]) throw new Error(`--lora-${what}=${list}: expected "all" or some of ${Object.keys(LORA_SHAPES).join(', ')}`);
  return keys;
};

/** Runs both parts in Node; returns the raw samples and checks. */
export async function runLora({ mods, opts, log }) {
  const shapes = pick(opts.shapes, 'shapes');
  const bigShapes = opts.bigRank > 0 ? pick(opts.bigRankShapes, 'big-rank-shapes') : [];
  const { device, adapterInfo, timestamps } = await openGpu(mods);
  const gpu = instrument(device);
  const shader = readFileSync(`${ROOT}shaders/lora/merge.wgsl`, 'utf8');
  const merger = await mods.GpuLoraMerger.create(gpu.device, shader);
  try {
    let seed = 1000;
    const items = shapes.flatMap((s) => TYPES.map((t) => makeJob(s, t, opts.rank, (seed += 10))));
    const elements = sum(items.map((i) => i.elements));
    log(`lora per weight: ${items.length} jobs (${shapes.length} shapes × float32/float16, rank ${opts.rank}, ${fmt(elements / 1e6, 1)} M elements), ` +
      `${opts.warmup} warm-up + ${opts.rounds} rounds of CPU / GPU / copy-only on ${adapterInfo.description || adapterInfo.architecture || adapterInfo.vendor}`);
    const weights = {};
    const checks = {};
    for (let pass = 0; pass < opts.warmup + opts.rounds; pass++) {
      const into = pass < opts.warmup ? {} : weights;
      await weightPass({ mods, merger, gpu, items, pass, into, checks: pass === 0 ? checks : null });
      log(`lora per weight: pass ${pass + 1} of ${opts.warmup + opts.rounds} done`);
    }
    const bigItems = bigShapes.flatMap((s) => TYPES.map((t) => makeJob(s, t, opts.bigRank, (seed += 10))));
    const big = {};
    if (bigItems.length) {
      log(`lora per weight, rank ${opts.bigRank}: ${bigItems.length} jobs, one pass`);
      await weightPass({ mods, merger, gpu, items: bigItems, pass: 0, into: big, checks });
    }
    const strip = ({ job, original, ...rest }) => rest;
    const model = await runModel({ mods, merger, gpu, opts, log });
    return {
      opts, adapter: adapterInfo, timestamps, dawn: 'npm webgpu',
      items: items.map(strip), weights, bigItems: bigItems.map(strip), big, checks, cpuFallbacks: merger.cpuFallbacks, model,
    };
  } finally {
    device.destroy();
  }
}

// --- report -------------------------------------------------------------------------------------------------------

function deriveWeight(rec) {
  const kernel = rec.kernel.every((k) => k !== null) ? rec.kernel : null;
  return {
    cpu: rec.cpu, gpu: rec.gpu, copy: rec.copy, kernel,
    cpuOverGpu: p50(rec.cpu) / p50(rec.gpu),
    pairedCpuOverGpu: p50(rec.cpu.map((c, i) => c / rec.gpu[i])),
    gpuMinusCopy: diff(rec.gpu, rec.copy),
    gpuMinusKernel: kernel ? diff(rec.gpu, kernel) : null,
    kernelShare: kernel ? kernel.map((k, i) => k / rec.gpu[i]) : null,
  };
}

const dtype = (t) => (t === 'float32' ? 'f32' : 'f16');
const layout = (i) => (i.transposed ? 'MatMul [in, out]' : 'Conv [out, in·3·3]');
const mel = (n) => `${fmt(n / 1e6, 2)} M`;

export function adapterLine(a) {
  const name = [a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' · ') || '(no adapter info)';
  return `WebGPU adapter (Dawn, npm webgpu, in Node): ${name}`;
}

/** The printed report (lines appended with `print`). */
export function reportLora(result, print) {
  const { opts, adapter, timestamps, items, weights, bigItems, big, checks, model } = result;
  print('LoRA merge — W += scale · up @ down, in place, in the layout the ONNX graph stores (src/engines/image/lora): ' +
    'CPU = mergeOnCpu (JS, Node main thread), GPU = GpuLoraMerger.merge (shaders/lora/merge.wgsl, upload + dispatch + read-back).');
  print(adapterLine(adapter));
  if (adapter.swiftshader) {
    print('>>> This adapter is SwiftShader: a CPU pretending to be a GPU (its threads share this machine\'s cores with the JS ' +
      'thread). GPU ÷ CPU ratios here are NOT speed claims; on a real GPU (see /work/shared/gpu/README.md) they are. <<<');
  } else {
    print('>>> A hardware adapter: the GPU ÷ CPU ratios below are speed claims for this machine (the CPU side is one JS thread). <<<');
  }
  print(`kernel time: ${timestamps
    ? 'timestamp queries at the beginning and end of each compute pass (the merger\'s device is wrapped to add them; resolved in the same submit, read after the timer stops)'
    : 'no timestamp-query on this adapter: only GPU − copy-only'}`);
  print();

  print(`1. Per weight (SDXL shapes, random values, rank ${opts.rank}, scale 1): ms per merge, ${opts.rounds} rounds after ${opts.warmup} warm-up, ` +
    'CPU / GPU / copy-only interleaved per weight (the order rotates); every job has fresh bytes.');
  const D = Object.fromEntries(items.map((i) => [i.key, deriveWeight(weights[i.key])]));
  print(table(['weight (rows × cols = out × in)', 'layout', 'dtype', 'elements', 'CPU ms p50', 'GPU ms p50', 'CPU ÷ GPU', 'paired p50', 'GPU vs CPU max |Δ|', 'max |delta|'],
    items.map((i) => {
      const d = D[i.key];
      const c = checks[i.key];
      return [`${i.label}`, layout(i), dtype(i.type), mel(i.elements), fmt(p50(d.cpu), 1), fmt(p50(d.gpu), 1), fmt(d.cpuOverGpu, 3),
        fmt(d.pairedCpuOverGpu, 3), c.maxAbsDiff.toExponential(2), fmt(c.maxDelta, 4)];
    })));
  print('CPU ÷ GPU > 1: the GPU merge is faster. max |Δ| = largest difference between the GPU and CPU results (first pass, same ' +
    'inputs); max |delta| = the largest change the merge made, for scale.');
  print();
  print('   inside the GPU merge (p50 ms): the kernel alone (timestamps), a copy-only run of the same bytes (uploads + read-back, no dispatch), and the rest');
  print(table(['weight', 'dtype', 'GPU ms', 'kernel ms', 'kernel ÷ GPU %', 'GPU − kernel ms', 'copy-only ms', 'GPU − copy-only ms', 'copy-only ÷ GPU %'],
    items.map((i) => {
      const d = D[i.key];
      return [i.label.replace(/ \(.*\)$/, ''), dtype(i.type), fmt(p50(d.gpu), 1), d.kernel ? fmt(p50(d.kernel), 1) : '—', d.kernel ? fmt(100 * p50(d.kernelShare), 1) : '—',
        d.kernel ? fmt(p50(d.gpuMinusKernel), 1) : '—', fmt(p50(d.copy), 1), fmt(p50(d.gpuMinusCopy), 1), fmt((100 * p50(d.copy)) / p50(d.gpu), 1)];
    })));
  print('   GPU − kernel = uploads, bind group, submit, read-back and copying into the model bytes; GPU − copy-only ≈ the compute (and its dispatch).');
  const total = (t, v) => sum(items.filter((i) => i.type === t).map((i) => p50(D[i.key][v])));
  print(`Σ of the p50s over the ${items.length / TYPES.length} shapes: ` + TYPES.map((t) => `${dtype(t)} CPU ${fmt(total(t, 'cpu'), 0)} ms, GPU ${fmt(total(t, 'gpu'), 0)} ms, ` +
    `CPU ÷ GPU ${fmt(total(t, 'cpu') / total(t, 'gpu'), 2)}`).join('; ') + `; f16 ÷ f32 (same shapes): CPU ${fmt(total('float16', 'cpu') / total('float32', 'cpu'), 1)}, ` +
    `GPU ${fmt(total('float16', 'gpu') / total('float32', 'gpu'), 2)}`);
  const unrun = Object.keys(LORA_SHAPES).filter((k) => !items.some((i) => i.shape === k));
  if (unrun.length) print(`not run (--lora-shapes=all or a list): ${unrun.map((k) => `${k} (${LORA_SHAPES[k].label})`).join(', ')}`);
  if (bigItems.length) {
    print();
    print(`   rank ${opts.bigRank}, once (one pass after the rank-${opts.rank} rounds, no medians):`);
    print(table(['weight', 'dtype', 'CPU ms', 'GPU ms', 'CPU ÷ GPU', 'kernel ms', 'copy-only ms', `CPU ÷ CPU rank ${opts.rank}`, `GPU ÷ GPU rank ${opts.rank}`, 'GPU vs CPU max |Δ|'],
      bigItems.map((i) => {
        const b = big[i.key];
        const small = items.find((s) => s.shape === i.shape && s.type === i.type);
        const ds = small && D[small.key];
        return [i.label.replace(/ \(.*\)$/, ''), dtype(i.type), fmt(b.cpu[0], 1), fmt(b.gpu[0], 1), fmt(b.cpu[0] / b.gpu[0], 3),
          b.kernel[0] === null ? '—' : fmt(b.kernel[0], 1), fmt(b.copy[0], 1),
          ds ? fmt(b.cpu[0] / p50(ds.cpu), 2) : '—', ds ? fmt(b.gpu[0] / p50(ds.gpu), 2) : '—', checks[i.key].maxAbsDiff.toExponential(2)];
      })));
  }
  const bad = Object.entries(checks).filter(([, c]) => c.nonFinite || !c.copyRoundTripExact);
  print(`checks: copy-only round trips exact ${bad.length ? `NO (${bad.map(([k]) => k).join(', ')})` : 'yes'}; CPU fallbacks in the GPU merger: ${result.cpuFallbacks}`);
  print();

  const { adapters, samples } = model;
  print(`2. Whole model: mergeLora of each fixture adapter (public/${ADAPTER_DIR}) into ${model.model} ` +
    `(graphs ${Object.entries(model.graphs).map(([k, v]) => `${k} ${fmt(v / 1024, 0)} KiB`).join(', ')}), ${opts.modelRounds} rounds after ${opts.modelWarmup} warm-up, ` +
    'CPU / GPU merger / steps alone interleaved; fresh model bytes every run.');
  const rows = [];
  for (const [name, s] of Object.entries(samples)) {
    const a = adapters[name];
    for (const v of ['cpu', 'gpu']) {
      const col = (f) => s[v].map(f);
      const total = col((x) => x.totalMs);
      const outside = col((x) => x.totalMs - x.mergeMs);
      const kernel = v === 'gpu' && s[v].every((x) => x.kernelMs !== null) ? col((x) => x.kernelMs) : null;
      rows.push([name, v.toUpperCase(),
        fmt(p50(total), 2), fmt(p90(total), 2), fmt(p50(col((x) => x.mergeMs)), 2), fmt(p50(outside), 2), fmt(100 * p50(col((x) => (x.totalMs - x.mergeMs) / x.totalMs)), 1),
        kernel ? fmt(p50(kernel), 2) : '—', kernel ? fmt(100 * p50(s[v].map((x) => (x.totalMs - x.kernelMs) / x.totalMs)), 1) : v === 'cpu' ? '(= outside merge)' : '—']);
    }
  }
  print(table(['adapter', 'merger', 'total ms p50', 'p90', 'merge() ms', 'outside merge() ms', 'outside merge() %', 'kernel ms', 'outside kernel %'], rows));
  print('outside merge() = reading the safetensors, indexing the ONNX graphs, resolving modules to weights, building the jobs; for the GPU, ' +
    'outside kernel also counts the uploads and read-backs.');
  for (const [name, s] of Object.entries(samples)) {
    const st = s.steps;
    const gpuTotal = p50(s.gpu.map((x) => x.totalMs));
    const cpuTotal = p50(s.cpu.map((x) => x.totalMs));
    const c = adapters[name].check;
    const a = adapters[name];
    print(`${name}: ${a.modules} modules → ${Object.entries(a.weights).map(([g, n]) => `${n} ${g}`).join(', ')} = ${a.jobs} jobs, ` +
      `${fmt(c.elements / 1e3, 1)} k elements; steps alone p50: parse ${fmt(p50(st.map((x) => x.parseMs)), 2)} ms, index ${st[0].indexed} graphs ` +
      `${fmt(p50(st.map((x) => x.indexMs)), 2)} ms, resolve ${fmt(p50(st.map((x) => x.resolveMs)), 2)} ms; whole merge CPU ÷ GPU ${fmt(cpuTotal / gpuTotal, 2)}; ` +
      `GPU vs CPU max |Δ| ${c.maxAbsDiff.toExponential(2)} (max |delta| ${fmt(c.maxDelta, 4)})`);
  }
}

const summary = (v) => ({ p50: p50(v), p90: p90(v), p10: quantile(v, 0.1), mean: sum(v) / v.length, min: Math.min(...v), max: Math.max(...v), n: v.length });
const round3 = (v) => v.map((x) => Math.round(x * 1000) / 1000);

/** What latest.json keeps under `lora`. */
export function loraJson(result) {
  const { opts, adapter, timestamps, items, weights, bigItems, big, checks, cpuFallbacks, model } = result;
  const perWeight = (list, recs) => Object.fromEntries(list.map((i) => {
    const d = deriveWeight(recs[i.key]);
    return [i.key, {
      label: i.label, rows: i.rows, cols: i.cols, transposed: i.transposed, type: i.type, rank: i.rank, elements: i.elements,
      cpuMs: summary(d.cpu), gpuMs: summary(d.gpu), copyOnlyMs: summary(d.copy), kernelMs: d.kernel ? summary(d.kernel) : null,
      cpuOverGpu: { ofMedians: d.cpuOverGpu, pairedP50: d.pairedCpuOverGpu },
      samplesMs: { cpu: round3(d.cpu), gpu: round3(d.gpu), copy: round3(d.copy), kernel: d.kernel ? round3(d.kernel) : null },
      check: checks[i.key],
    }];
  }));
  return {
    config: {
      ...opts, shapes: items.map((i) => i.shape).filter((s, k, a) => a.indexOf(s) === k), scale: 1,
      cpu: 'mergeOnCpu, Node main thread', gpu: 'GpuLoraMerger.merge (upload + dispatch + read-back), compute passes timestamped',
      copyOnly: 'the merger\'s uploads and read-back of the same bytes, no dispatch',
    },
    adapter, timestamps, speedClaims: !adapter.swiftshader, cpuFallbacks,
    perWeight: perWeight(items, weights),
    bigRank: perWeight(bigItems, big),
    wholeModel: {
      model: model.model, graphBytes: model.graphs,
      adapters: Object.fromEntries(Object.entries(model.samples).map(([name, s]) => {
        const by = (v) => ({
          totalMs: summary(s[v].map((x) => x.totalMs)), mergeMs: summary(s[v].map((x) => x.mergeMs)),
          outsideMergeMs: summary(s[v].map((x) => x.totalMs - x.mergeMs)), outsideMergeFraction: summary(s[v].map((x) => (x.totalMs - x.mergeMs) / x.totalMs)),
          ...(v === 'gpu' && s[v].every((x) => x.kernelMs !== null) && {
            kernelMs: summary(s[v].map((x) => x.kernelMs)), outsideKernelFraction: summary(s[v].map((x) => (x.totalMs - x.kernelMs) / x.totalMs)),
          }),
        });
        return [name, {
          ...model.adapters[name], cpu: by('cpu'), gpu: by('gpu'),
          steps: { parseMs: summary(s.steps.map((x) => x.parseMs)), indexMs: summary(s.steps.map((x) => x.indexMs)), resolveMs: summary(s.steps.map((x) => x.resolveMs)), graphsIndexed: s.steps[0]?.indexed },
        }];
      })),
    },
  };
}

// The decode bench (`npm run bench -- --only=decode`, Node only, no browser): batch-1 greedy decode speed of Hearth's
// WGSL decoder (src/engines/llm/wgsl/) against onnxruntime-web's WebGPU EP on the same model and the same adapter, in
// Node through Dawn (tests/unit/dawn.ts: Chromium's SwiftShader here; on a GPU machine a real driver, or the
// navigator.gpu that /work/shared/gpu/shim.mjs installs). In one run:
//   - the copy bandwidth of the adapter (copyBufferToBuffer, read + write bytes ÷ time), the roofline;
//   - per model: tokens/s of the decode steps after a prompt (prefill excluded), the weight bytes one step reads, and
//     bytes/token ÷ s/token ÷ copy bandwidth = the fraction of the roofline reached;
//   - models: the tiny Llama fixtures (fp32 model.onnx, 4-bit model_q4.onnx: WGSL and onnxruntime-web), stories260K
//     (WGSL, from its llama.c checkpoint, when /work/shared/models/stories260K is there), GGUF files (WGSL: the
//     tiny Llama Q4_K and stories260K Q8_0 fixtures of tests/fixtures/gguf, prefilled by gemm_gguf.wgsl), and a synthetic
//     Llama-3.2-1B-shaped 4-bit model (random weights generated here, never written to disk: 16 layers, hidden 2048,
//     32 heads / 8 KV heads, MLP 8192, vocabulary 128256, MatMulNBits blocks of 32 with zero points, 4-bit
//     embedding and head) and its q4f16 twin (float16 scales and a float16 embedding read again as the tied head, as
//     onnx-community's q4f16 exports store them); stories260K's fp16 and q4f16 ONNX files (WGSL only: onnxruntime-web
//     needs shader-f16 for them). The 1B models run on real adapters; on SwiftShader only with --decode-1b (minutes/token).
//   - per model, prefill: tokens/s of a `--decode-prefill=64`-token prompt through the prefill kernels (tiled GEMMs,
//     split-K attention) and token by token (the same decoder with prefill off), and their ratio;
//   - per kernel variant (bench/decode-kernels.mjs): time, bytes moved and the roofline ratio of the batch-1 GEMVs
//     (f32 both layouts, 4-bit; with and without subgroups where the adapter has them; the decoder uses them then), the prefill GEMMs (f32 both layouts, 4-bit, per token and as weight bandwidth),
//     the GGUF GEMV and prefill GEMM per block type (Q8_0, Q4_K, Q6_K) and the GEMM's per-token speed-up over the GEMV,
//     split-K attention over a long cache, argmax and GPU sampling over a Llama-3 vocabulary.
// Each model runs one warm-up round (shader compilation: onnxruntime-web compiles per shape on first use) before the
// timed rounds. Greedy tokens of WGSL and onnxruntime-web are compared on the fixtures (they must agree). On SwiftShader the numbers
// are CPU timings: compare ratios only.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { kernelRows, reportKernels } from './decode-kernels.mjs';
import { fmt, p50, table } from './stats.mjs';

// The project root, computed here rather than imported from build.mjs (which loads Vite): decode-gpu.mjs runs this
// file on a GPU machine that has no node_modules.
const ROOT = fileURLToPath(new URL('../', import.meta.url));

export const DECODE_DEFAULTS = { tokens: 24, rounds: 3, big: false, bigTokens: 32, ort: true, prefill: 64 };

export async function loadDecodeModules(dir) {
  const names = ['wgsl-decoder', 'wgsl-onnx-weights', 'wgsl-config', 'wgsl-weights', 'onnx-decoder', 'llama2c', 'dawn', 'wgsl-gguf-file', 'wgsl-gguf-weights'];
  const [decoder, onnxWeights, config, weights, onnxDecoder, llama2c, dawn, ggufFile, ggufWeights] = await Promise.all(names.map((m) => import(`${dir}/${m}.mjs`)));
  return {
    WgslDecoder: decoder.WgslDecoder, llamaWeightsFromOnnx: onnxWeights.llamaWeightsFromOnnx, llamaArchitecture: config.llamaArchitecture,
    weightBytesPerToken: weights.weightBytesPerToken, OnnxDecoder: onnxDecoder.OnnxDecoder, readLlama2c: llama2c.readLlama2c,
    getGpu: dawn.getGpu, readGguf: ggufFile.readGguf, llamaWeightsFromGguf: ggufWeights.llamaWeightsFromGguf,
  };
}

const TINY = `${ROOT}public/models/hearth-tiny-llama/`;
const STORIES = '/work/shared/models/stories260K/stories260K.bin';
const GGUF = `${ROOT}tests/fixtures/gguf/`;

async function adapterAndDevice(mods) {
  const gpu = globalThis.navigator?.gpu ?? await mods.getGpu('bench/decode.mjs');
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  const info = adapter.info ?? {};
  const text = [info.vendor, info.architecture, info.device, info.description].join(' ');
  const device = await adapter.requestDevice({
    requiredFeatures: adapter.features.has('subgroups') ? ['subgroups'] : [],
    requiredLimits: { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize, maxBufferSize: adapter.limits.maxBufferSize },
  });
  return {
    gpu, device,
    adapter: { vendor: info.vendor, architecture: info.architecture, description: info.description, swiftshader: /swiftshader|subzero|llvmpipe|lavapipe/i.test(text) },
  };
}

/** Read + write bytes per second of a large copyBufferToBuffer (the GPU README's "copy" roofline). */
async function copyBandwidth(device, bytes, rounds) {
  const src = device.createBuffer({ size: bytes, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.STORAGE });
  const dst = device.createBuffer({ size: bytes, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.STORAGE });
  const times = [];
  for (let r = 0; r < rounds + 1; r++) {
    const t0 = performance.now();
    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(src, 0, dst, 0, bytes);
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    if (r) times.push(performance.now() - t0);
  }
  src.destroy();
  dst.destroy();
  return (2 * bytes) / (p50(times) / 1000);
}

/** Greedy decode with the WGSL decoder: prompt, then `tokens` timed steps (argmax on the GPU). */
async function wgslDecode(decoder, prompt, tokens, rounds) {
  const times = [];
  let generated = [];
  for (let r = 0; r <= rounds; r++) {
    decoder.reset();
    const first = await decoder.step({ ids: [prompt], mask: [prompt.map(() => 1)], positions: [prompt.map((_, i) => i)] });
    let best = 0;
    for (let i = 1; i < first.logits.length; i++) if (first.logits[i] > first.logits[best]) best = i;
    const out = [best];
    const mask = prompt.map(() => 1);
    const t0 = performance.now();
    for (let s = 1; s < tokens; s++) {
      mask.push(1);
      const [next] = await decoder.stepGreedy({ ids: [[out.at(-1)]], mask: [mask], positions: [[prompt.length + s - 1]] });
      out.push(next);
    }
    if (r > 0) times.push((performance.now() - t0) / (tokens - 1)); // round 0 warms up (shader compiles, caches)
    generated = out;
  }
  return { msPerToken: p50(times), tokens: generated };
}

/** Prefill of `length` prompt tokens (last logits read back), through the prefill kernels or token by token. */
async function wgslPrefill(decoder, length, rounds, usePrefill) {
  const vocab = decoder.shape.vocabSize;
  const ids = Array.from({ length }, (_, i) => (i * 7919 + 13) % vocab);
  const input = { ids: [ids], mask: [ids.map(() => 1)], positions: [ids.map((_, i) => i)] };
  decoder.prefill = usePrefill;
  const times = [];
  for (let r = 0; r <= rounds; r++) {
    decoder.reset();
    const t0 = performance.now();
    await decoder.step(input);
    if (r > 0) times.push(performance.now() - t0);
  }
  decoder.prefill = true;
  return { tokensPerSecond: length / (p50(times) / 1000) };
}

/** The same greedy loop through onnxruntime-web (OnnxDecoder on its WebGPU EP: KV cache on the GPU, logits read back). */
async function ortDecode(decoder, prompt, tokens, rounds) {
  const vocab = decoder.shape.vocabSize;
  const argmax = (logits, row) => {
    let best = 0;
    for (let i = 1; i < vocab; i++) if (logits[row * vocab + i] > logits[row * vocab + best]) best = i;
    return best;
  };
  const times = [];
  let generated = [];
  for (let r = 0; r <= rounds; r++) {
    decoder.reset();
    const first = await decoder.step({ ids: [prompt], mask: [prompt.map(() => 1)], positions: [prompt.map((_, i) => i)] });
    const out = [argmax(first.logits, prompt.length - 1)];
    const mask = prompt.map(() => 1);
    const t0 = performance.now();
    for (let s = 1; s < tokens; s++) {
      mask.push(1);
      const step = await decoder.step({ ids: [[out.at(-1)]], mask: [mask], positions: [[prompt.length + s - 1]] });
      out.push(argmax(step.logits, 0));
    }
    if (r > 0) times.push((performance.now() - t0) / (tokens - 1)); // round 0 warms up (shader compiles, caches)
    generated = out;
  }
  return { msPerToken: p50(times), tokens: generated };
}

/** A Llama-3.2-1B-shaped model with random 4-bit weights (MatMulNBits layout, block 32, zero points). */
function syntheticQ4Llama() {
  const arch = {
    hidden: 2048, layers: 16, heads: 32, kvHeads: 8, headDim: 64, intermediate: 8192, vocab: 128256, rmsEps: 1e-5,
    ropeTheta: 500000, ropeScaling: { factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 },
    ropeLayout: 'half', maxPositions: 131072,
  };
  let seed = 0x1b1b1b1b;
  const randomBytes = (n) => {
    const words = new Uint32Array(Math.ceil(n / 4));
    for (let i = 0; i < words.length; i++) {
      seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
      words[i] = seed >>> 0;
    }
    return new Uint8Array(words.buffer, 0, n);
  };
  const q4 = (n, k) => {
    const blocks = Math.ceil(k / 32);
    const scales = new Float32Array(n * blocks).fill(0.5 / Math.sqrt(k));
    return { kind: 'q4', n, k, blockSize: 32, q: randomBytes(n * blocks * 16), scales: new Uint8Array(scales.buffer), zeroPoints: randomBytes(n * Math.ceil(blocks / 2)) };
  };
  const ones = () => new Float32Array(arch.hidden).fill(1);
  const q = arch.heads * arch.headDim;
  const kv = arch.kvHeads * arch.headDim;
  const layers = Array.from({ length: arch.layers }, () => ({
    attnNorm: ones(), q: q4(q, arch.hidden), k: q4(kv, arch.hidden), v: q4(kv, arch.hidden), o: q4(arch.hidden, q),
    qBias: null, kBias: null, vBias: null, mlpNorm: ones(),
    gate: q4(arch.intermediate, arch.hidden), up: q4(arch.intermediate, arch.hidden), down: q4(arch.hidden, arch.intermediate),
  }));
  return { arch, embed: q4(arch.vocab, arch.hidden), layers, finalNorm: ones(), lmHead: q4(arch.vocab, arch.hidden) };
}

/**
 * The same shape as onnx-community's q4f16 exports store it: 4-bit layers with float16 scales, and a float16
 * embedding read again as the tied head (what the WGSL decoder uploads from such a file).
 */
function syntheticQ4f16Llama() {
  const model = syntheticQ4Llama();
  let seed = 0x16161616;
  const halves = (count, pattern) => {
    const bits = new Uint16Array(count);
    for (let i = 0; i < count; i++) {
      seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
      bits[i] = pattern(seed >>> 0);
    }
    return new Uint8Array(bits.buffer);
  };
  const scale16 = (w) => ({ ...w, scales: halves(w.scales.byteLength / 4, () => 0x2000), scaleType: 'f16' }); // 2^-7
  const { hidden, vocab } = model.arch;
  // |v| = 2^-7 · (1 + m/1024), either sign.
  const embed = { kind: 'f16', layout: 'nk', n: vocab, k: hidden, bytes: halves(vocab * hidden, (r) => (r & 0x83ff) | 0x2000) };
  const layers = model.layers.map((l) => ({ ...l, q: scale16(l.q), k: scale16(l.k), v: scale16(l.v), o: scale16(l.o), gate: scale16(l.gate), up: scale16(l.up), down: scale16(l.down) }));
  return { ...model, embed, layers, lmHead: embed };
}

async function ortWebgpu(gpu) {
  if (!globalThis.navigator?.gpu) {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu, hardwareConcurrency: 1, userAgent: 'node' }, configurable: true });
  }
  // node_modules here; on a GPU machine, the copy that ../shared/gpu/pack.sh puts in .gpu/nm.
  const dist = [`${ROOT}node_modules/onnxruntime-web/dist/`, `${ROOT}.gpu/nm/onnxruntime-web/dist/`].find((d) => existsSync(`${d}ort.webgpu.min.mjs`));
  if (!dist) throw new Error('onnxruntime-web not found (node_modules or .gpu/nm): pass --decode-ort=0');
  const ort = await import(pathToFileURL(`${dist}ort.webgpu.min.mjs`).href);
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = pathToFileURL(dist).href;
  ort.env.logLevel = 'error';
  return ort;
}

export async function runDecode({ mods, opts, log }) {
  const { gpu, device, adapter } = await adapterAndDevice(mods);
  log(`decode: adapter ${adapter.vendor} ${adapter.architecture} ${adapter.swiftshader ? '(SwiftShader: ratios only)' : ''}`);
  const copyBytes = adapter.swiftshader ? 64 * 2 ** 20 : 256 * 2 ** 20;
  const copy = await copyBandwidth(device, copyBytes, opts.rounds + 2);
  log(`decode: copy ${fmt(copy / 1e9)} GB/s`);
  const rows = [];
  const config = JSON.parse(readFileSync(`${TINY}config.json`, 'utf8'));
  const prompt = [128000, 791, 4062, 14198, 39935];
  const ort = opts.ort ? await ortWebgpu(gpu) : null;

  const measure = async (name, weights, promptIds, tokens, onnxFile) => {
    const t0 = performance.now();
    const decoder = await mods.WgslDecoder.create(weights, { capacity: Math.max(promptIds.length + tokens + 1, opts.prefill + 1) }, device);
    const loadMs = performance.now() - t0;
    const bytes = mods.weightBytesPerToken(weights);
    log(`decode: ${name}: WGSL loaded in ${fmt(loadMs, 0)} ms, ${fmt(bytes / 1e6, 1)} MB of weights per token`);
    const wgsl = await wgslDecode(decoder, promptIds, tokens, opts.rounds);
    const prefillRounds = adapter.swiftshader ? 1 : opts.rounds;
    const prefill = opts.prefill > 1 ? await wgslPrefill(decoder, opts.prefill, prefillRounds, true) : null;
    const stepwise = opts.prefill > 1 ? await wgslPrefill(decoder, opts.prefill, prefillRounds, false) : null;
    await decoder.release();
    const row = {
      model: name, subgroups: decoder.subgroups, weightBytes: bytes, wgslMsPerToken: wgsl.msPerToken, wgslLoadMs: loadMs, roofline: bytes / (wgsl.msPerToken / 1000) / copy,
      prefillTokens: opts.prefill, prefillTokensPerSecond: prefill?.tokensPerSecond, stepwisePrefillTokensPerSecond: stepwise?.tokensPerSecond,
    };
    if (ort && onnxFile) {
      log(`decode: ${name}: onnxruntime-web WebGPU session (SwiftShader compiles its shaders for ~1 min)`);
      const session = await ort.InferenceSession.create(readFileSync(onnxFile), mods.OnnxDecoder.sessionOptions('webgpu', { layers: config.num_hidden_layers, kvHeads: config.num_key_value_heads, headDim: config.head_dim, vocabSize: config.vocab_size }));
      const onnx = new mods.OnnxDecoder(ort, session, { layers: config.num_hidden_layers, kvHeads: config.num_key_value_heads, headDim: config.head_dim, vocabSize: config.vocab_size }, 'webgpu');
      const ortRun = await ortDecode(onnx, promptIds, tokens, opts.rounds);
      await onnx.release();
      row.ortMsPerToken = ortRun.msPerToken;
      row.ortRoofline = bytes / (ortRun.msPerToken / 1000) / copy;
      row.sameTokens = ortRun.tokens.join() === wgsl.tokens.join();
    }
    rows.push(row);
  };

  for (const [name, file] of [['tiny Llama fp32', 'model.onnx'], ['tiny Llama q4', 'model_q4.onnx']]) {
    const weights = mods.llamaWeightsFromOnnx(new Uint8Array(readFileSync(TINY + file)), [], mods.llamaArchitecture(config));
    await measure(name, weights, prompt, opts.tokens, TINY + file);
  }
  for (const variant of ['fp16', 'q4f16']) {
    // onnx-community's fp16 / q4f16 layouts (scripts/fixtures_stories_f16.py): WGSL only (onnxruntime-web needs shader-f16).
    const file = `${ROOT}public/models/hearth-stories260k/model_${variant}.onnx`;
    const cfg = JSON.parse(readFileSync(`${ROOT}public/models/hearth-stories260k/config.json`, 'utf8'));
    if (existsSync(file)) await measure(`stories260K ${variant} (ONNX)`, mods.llamaWeightsFromOnnx(new Uint8Array(readFileSync(file)), [], mods.llamaArchitecture(cfg)), [1, 403, 407, 261, 378], opts.tokens, null);
  }
  if (existsSync(STORIES)) await measure('stories260K (llama.c)', mods.readLlama2c(new Uint8Array(readFileSync(STORIES))), [1, 403, 407, 261, 378], opts.tokens, null);
  for (const [name, file, promptIds] of [['tiny Llama GGUF Q4_K', 'tiny-llama-q4_k.gguf', [1, 403, 407, 261, 378]], ['stories260K GGUF Q8_0', 'stories260k-q8_0.gguf', [1, 403, 407, 261, 378]]]) {
    if (!existsSync(GGUF + file)) continue;
    const weights = mods.llamaWeightsFromGguf(await mods.readGguf(new Uint8Array(readFileSync(GGUF + file))));
    await measure(name, weights, promptIds, opts.tokens, null);
  }
  if (!adapter.swiftshader || opts.big) {
    log('decode: generating the synthetic Llama-3.2-1B-shaped q4 model');
    await measure('synthetic Llama-3.2-1B q4', syntheticQ4Llama(), [128000, 1, 2, 3, 4, 5, 6, 7], opts.bigTokens, null);
    log('decode: generating the synthetic Llama-3.2-1B-shaped q4f16 model (fp16 scales, fp16 tied embedding)');
    await measure('synthetic Llama-3.2-1B q4f16', syntheticQ4f16Llama(), [128000, 1, 2, 3, 4, 5, 6, 7], opts.bigTokens, null);
  } else {
    log('decode: synthetic 1B model skipped on SwiftShader (pass --decode-1b to run it)');
  }
  log('decode: kernel variants');
  const kernels = await kernelRows({ device, copy, swiftshader: adapter.swiftshader, log });
  device.destroy();
  return { adapter, copyBytesPerSecond: copy, rows, kernels, big: !adapter.swiftshader || opts.big };
}

export function reportDecode(r, print) {
  print(`LLM decode, batch 1, greedy (WGSL decoder vs onnxruntime-web WebGPU EP, same adapter: ${r.adapter.vendor} ${r.adapter.architecture}${r.adapter.swiftshader ? ', SwiftShader — ratios only' : ''})`);
  print(`copy bandwidth (read + write): ${fmt(r.copyBytesPerSecond / 1e9)} GB/s; roofline = weight bytes per token ÷ time per token ÷ copy bandwidth`);
  print(`WGSL GEMVs: ${r.rows[0]?.subgroups ? 'subgroup variants (the adapter has subgroups of ≤ 32 lanes)' : 'workgroup-memory reductions (no usable subgroups)'}`);
  print(table(['model', 'weights/token', 'WGSL ms/token', 'WGSL tok/s', 'WGSL roofline', 'ORT ms/token', 'ORT roofline', 'WGSL ÷ ORT speed', 'same tokens'],
    r.rows.map((row) => [
      row.model, `${fmt(row.weightBytes / 1e6, 2)} MB`, fmt(row.wgslMsPerToken), fmt(1000 / row.wgslMsPerToken, 1), fmt(row.roofline, 4),
      row.ortMsPerToken === undefined ? '—' : fmt(row.ortMsPerToken), row.ortRoofline === undefined ? '—' : fmt(row.ortRoofline, 4),
      row.ortMsPerToken === undefined ? '—' : `${fmt(row.ortMsPerToken / row.wgslMsPerToken)}×`, row.sameTokens === undefined ? '—' : String(row.sameTokens),
    ])));
  print(`\nPrefill (WGSL decoder, one prompt of ${r.rows[0]?.prefillTokens ?? '—'} tokens, last logits read back): prefill kernels vs token by token`);
  print(table(['model', 'prefill tok/s', 'token-by-token tok/s', 'prefill ÷ token-by-token'],
    r.rows.map((row) => [
      row.model, fmt(row.prefillTokensPerSecond, 1), fmt(row.stepwisePrefillTokensPerSecond, 1),
      row.prefillTokensPerSecond === undefined ? '—' : `${fmt(row.prefillTokensPerSecond / row.stepwisePrefillTokensPerSecond)}×`,
    ])));
  if (r.kernels) reportKernels(r.kernels, r.copyBytesPerSecond, print);
  if (!r.big) print('synthetic Llama-3.2-1B q4 and q4f16: not run on SwiftShader (--decode-1b runs it; it is meant for a real GPU, see /work/shared/gpu/README.md)');
}

export const decodeJson = (r) => r;

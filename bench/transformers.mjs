// The embeddings bench against transformers.js (run by bench/run.mjs, `--only=transformers`): the same ONNX file
// (public/models/hearth-tiny-embed/model.onnx, its tokenizer.json), the same device, in the same page, interleaved
// round by round. Devices: onnxruntime-web's wasm EP (the same thread count on both sides; a page opened with
// ?devices=wasm) and, where the page has WebGPU, its WebGPU EP (a second page opened with ?devices=webgpu,
// transformers.js with `device: 'webgpu'`; in headless Chromium here that is SwiftShader, a CPU: ratios only).
// Hearth is called as a page calls it (fetch through the service worker) and in-page (`hearth.handle`);
// transformers.js (`@huggingface/transformers`, a dev dependency, bundled for the page by Vite into <app>/bench-tjs/
// with its own onnxruntime-web build's wasm files) runs its `feature-extraction` pipeline with mean pooling and
// normalisation on the page's main thread, as an app would. Three workloads: one short sentence (latency), a batch of
// 32 sentences in one call (throughput), and 32 one-sentence calls at once (Hearth coalesces them; transformers.js
// queues its runs). The vectors of both are checked equal first, and the device each side answered on is recorded.
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { build } from 'vite';
import { ROOT } from './build.mjs';
import { fmt, p50, p90, table } from './stats.mjs';
import { MODEL_ID, SHORT_TEXT, sentences } from './workload.mjs';

export const TRANSFORMERS_DEFAULTS = { n: 40, k: 20, warmup: 3 };
/** On WebGPU (SwiftShader here: a 32-sentence batch takes seconds) fewer rounds, so the pass stays within minutes. */
export const TRANSFORMERS_WEBGPU_DEFAULTS = { n: 10, k: 3, warmup: 1 };
const MODEL_DIR = 'hearth-tiny-embed'; // public/models/<MODEL_DIR>: the files of MODEL_ID
const ORT_FILES = ['ort-wasm-simd-threaded.asyncify.mjs', 'ort-wasm-simd-threaded.asyncify.wasm'];

/** Bundles transformers.js for the page into `${webDir}/bench-tjs/` with its onnxruntime-web wasm files (before serving). */
export async function buildTransformersBundle(webDir) {
  const out = `${webDir}/bench-tjs`;
  await build({
    root: ROOT, configFile: false, publicDir: false, logLevel: 'warn', mode: 'production',
    build: {
      outDir: out, emptyOutDir: true, minify: false, target: 'esnext',
      rollupOptions: {
        input: { transformers: `${ROOT}bench/tjs-entry.mjs` }, preserveEntrySignatures: 'strict',
        output: { format: 'es', entryFileNames: '[name].mjs', chunkFileNames: '[name]-[hash].mjs' },
      },
    },
  });
  // The onnxruntime-web that transformers.js depends on (its own version, not Hearth's), as the library resolves it.
  const require = createRequire(`${ROOT}node_modules/@huggingface/transformers/package.json`);
  const ortDist = dirname(require.resolve('onnxruntime-web/webgpu'));
  for (const f of ORT_FILES) {
    if (!existsSync(join(ortDist, f))) throw new Error(`transformers.js's onnxruntime-web has no ${f} in ${ortDist}`);
    copyFileSync(join(ortDist, f), `${out}/${f}`);
  }
  const version = JSON.parse(readFileSync(`${ROOT}node_modules/@huggingface/transformers/package.json`, 'utf8')).version;
  return { version };
}

/** In the page: loads transformers.js, configures it like Hearth's worker (same device and threads, local files only). */
async function setUpInPage({ modelDir, ortFiles, device }) {
  const tjs = await import('/bench-tjs/transformers.mjs');
  tjs.env.allowRemoteModels = false;
  tjs.env.allowLocalModels = true;
  tjs.env.localModelPath = '/models/';
  tjs.env.useBrowserCache = false;
  const wasm = tjs.env.backends.onnx.wasm;
  wasm.wasmPaths = { mjs: `/bench-tjs/${ortFiles[0]}`, wasm: `/bench-tjs/${ortFiles[1]}` };
  wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1; // as src/runtime/ort-env.ts
  const t0 = performance.now();
  const extractor = await tjs.pipeline('feature-extraction', modelDir, { device, dtype: 'fp32', subfolder: '', model_file_name: 'model' });
  window.__tjs = { extractor, ortWeb: tjs.env.backends.onnx.versions?.web, threads: wasm.numThreads };
  let adapter = null;
  if (device === 'webgpu') {
    const a = await navigator.gpu.requestAdapter();
    const i = a?.info ?? {};
    adapter = { vendor: i.vendor, architecture: i.architecture, description: i.description, swiftshader: /swiftshader/i.test(`${i.vendor} ${i.architecture} ${i.description}`) };
  }
  return { loadMs: performance.now() - t0, ortWeb: window.__tjs.ortWeb, threads: wasm.numThreads, device, adapter };
}

/** In the page: one round of every variant of one workload, in the order given; ms each, and the vectors once. */
async function roundInPage({ model, texts, mode, order, check }) {
  const backends = {};
  const embedHearth = async (via, input) => {
    const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, input }) };
    const res = via === 'sw' ? await fetch('/inference/v1/embeddings', init)
      : await window.hearth.handle(new Request(new URL('/inference/v1/embeddings', location.href), init));
    const json = await res.json();
    if (!res.ok) throw new Error(`Hearth ${via}: ${res.status} ${JSON.stringify(json)}`);
    if (check) backends[via] = res.headers.get('x-hearth-backend');
    return json.data.map((d) => d.embedding);
  };
  const embedTjs = async (input) => {
    const out = await window.__tjs.extractor(input, { pooling: 'mean', normalize: true });
    return out.tolist();
  };
  const one = (variant, input) => (variant === 'tjs' ? embedTjs(input) : embedHearth(variant, input));
  const times = {};
  const vectors = {};
  for (const variant of order) {
    const t0 = performance.now();
    let got;
    if (mode === 'single') got = await one(variant, texts[0]);
    else if (mode === 'batch') got = await one(variant, texts);
    else got = (await Promise.all(texts.map((t) => one(variant, t)))).map((v) => v[0]);
    times[variant] = performance.now() - t0;
    if (check) vectors[variant] = got;
  }
  return { times, vectors, backends };
}

const VARIANTS = ['sw', 'handle', 'tjs'];
const maxDiff = (a, b) => Math.max(...a.flatMap((v, i) => v.map((x, j) => Math.abs(x - b[i][j]))));

/** One device's comparison on a host page opened with ?devices=<device>. */
export async function runTransformers({ page, opts, log, version, device = 'wasm' }) {
  log(`transformers.js ${version}: loading the pipeline in the page (device ${device})`);
  const setup = await page.evaluate(setUpInPage, { modelDir: MODEL_DIR, ortFiles: ORT_FILES, device });
  const batch = sentences(32, 20);
  const one = Array.from({ length: 32 }, (_, i) => `sentence ${i} of the coalescing bench, about a hearth`);
  const workloads = [
    { key: 'single', label: `one short sentence ("${SHORT_TEXT}")`, texts: [SHORT_TEXT], rounds: opts.n },
    { key: 'batch', label: '32 sentences of 20 words in one call', texts: batch, rounds: opts.k },
    { key: 'concurrent', label: '32 one-sentence calls at once', texts: one, rounds: opts.k },
  ];
  const out = { version, device, setup, opts, workloads: {} };
  for (const w of workloads) {
    log(`transformers.js vs Hearth (${device}): ${w.label}, ${opts.warmup} warm-up + ${w.rounds} interleaved rounds`);
    const samples = Object.fromEntries(VARIANTS.map((v) => [v, []]));
    let check;
    for (let r = 0; r < opts.warmup + w.rounds; r++) {
      // Rotate who goes first, so no variant always meets a warm or a cold cache.
      const order = VARIANTS.map((_, i) => VARIANTS[(i + r) % VARIANTS.length]);
      const res = await page.evaluate(roundInPage, { model: MODEL_ID, texts: w.texts, mode: w.key, order, check: r === 0 });
      if (r === 0) {
        check = { swVsTjs: maxDiff(res.vectors.sw, res.vectors.tjs), handleVsTjs: maxDiff(res.vectors.handle, res.vectors.tjs), n: res.vectors.tjs.length, hearthBackend: res.backends };
        if (res.backends.sw !== device || res.backends.handle !== device) throw new Error(`Hearth answered on ${JSON.stringify(res.backends)}, not ${device}`);
      }
      if (r < opts.warmup) continue;
      for (const v of VARIANTS) samples[v].push(res.times[v]);
    }
    out.workloads[w.key] = { label: w.label, inputs: w.texts.length, rounds: w.rounds, samples, check };
  }
  return out;
}

export function reportTransformers(result, print) {
  const { setup, version, workloads, device = 'wasm' } = result;
  const where = device === 'webgpu'
    ? `WebGPU (adapter: ${[setup.adapter?.vendor, setup.adapter?.architecture, setup.adapter?.description].filter(Boolean).join(' / ') || '?'}${setup.adapter?.swiftshader ? ' = SwiftShader, a CPU: ratios only' : ''})`
    : `wasm, ${setup.threads} thread(s) each`;
  print(`EMBEDDINGS vs TRANSFORMERS.JS — ${MODEL_ID} (public/models/${MODEL_DIR}/model.onnx, the same file for both), ${device}, same page`);
  print(`transformers.js ${version} on its onnxruntime-web ${setup.ortWeb}, device ${device}, main thread; ` +
    `Hearth on its onnxruntime-web in its embeddings worker (page ?devices=${device}). ${where}. Pipeline load ${fmt(setup.loadMs, 0)} ms.`);
  const rows = [];
  for (const w of Object.values(workloads)) {
    const t = Object.fromEntries(VARIANTS.map((v) => [v, p50(w.samples[v])]));
    rows.push([w.label, fmt(t.tjs), fmt(t.sw), fmt(t.handle), `${fmt(t.tjs / t.sw)}×`, `${fmt(t.tjs / t.handle)}×`,
      `${fmt(Math.max(w.check.swVsTjs, w.check.handleVsTjs), 7)}`]);
  }
  print(table(['workload (ms, p50)', 'transformers.js', 'Hearth fetch (SW)', 'Hearth handle', 'Hearth(SW) speed', 'Hearth(handle) speed', 'max |Δ| vectors'], rows));
  print('speed = transformers.js time ÷ Hearth time (> 1: Hearth is faster). Timings on SwiftShader/wasm on a shared CPU are ratios only.');
  const answered = [...new Set(Object.values(workloads).flatMap((w) => Object.values(w.check.hearthBackend ?? {})))];
  print(`Hearth answered on: ${answered.join(', ') || '?'} (x-hearth-backend); transformers.js was asked for device ${device}.`);
  const p90s = Object.values(workloads).map((w) => `${w.label}: ${VARIANTS.map((v) => `${v} ${fmt(p90(w.samples[v]))}`).join(', ')}`);
  print(`p90: ${p90s.join('; ')}`);
}

export function transformersJson(result) {
  const summary = Object.fromEntries(Object.entries(result.workloads).map(([k, w]) => [k, {
    label: w.label, rounds: w.rounds,
    p50: Object.fromEntries(VARIANTS.map((v) => [v, p50(w.samples[v])])),
    hearthSpeedup: { sw: p50(w.samples.tjs) / p50(w.samples.sw), handle: p50(w.samples.tjs) / p50(w.samples.handle) },
    maxAbsDiff: w.check,
    samplesMs: Object.fromEntries(VARIANTS.map((v) => [v, w.samples[v].map((x) => Math.round(x * 1000) / 1000)])),
  }]));
  return { transformersJs: result.version, device: result.device, setup: result.setup, opts: result.opts, workloads: summary };
}

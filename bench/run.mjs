// `npm run bench`: the embeddings bench (request latency through each layer: SW, relay, API, worker; embeddings
// throughput in the browser and Node) and the LLM decode bench (tokens/s and time to first token through the API
// via SSE and the service worker, hearth.handle and the engine's own loop; in Node the API, LlmService and a bare
// session.run loop) and the SDXL bench (the image pipeline's own time over its ONNX session.run time in Node, and
// the PNG request through the SW and hearth.handle vs the image engine in the browser) and the LoRA merge bench (in
// Node on WebGPU through Dawn: mergeOnCpu vs the WGSL merger per SDXL weight shape, and the whole-model mergeLora of
// the tiny fixture adapters), as ratios from one run. The LLM bench runs the tiny Llama and then the real stories260K,
// and prints their decode rates side by side (engine vs SSE through the service worker). See bench/embeddings.mjs, bench/llm.mjs, bench/sdxl.mjs and
// bench/lora.mjs; and the decode bench (Node, WebGPU through Dawn: Hearth's WGSL decoder vs onnxruntime-web's WebGPU
// EP, tokens/s and the fraction of the copy-bandwidth roofline; see bench/decode.mjs).
//
//   node bench/run.mjs [--only=embeddings|llm|sdxl|lora|decode|remote|relay|serve|transformers (comma-separated)] [--no-build]
//                      [--tjs-n=40] [--tjs-k=20] [--tjs-warmup=3]             (transformers: Hearth vs transformers.js)
//                      [--tjs-devices=wasm,webgpu] [--tjs-gpu-n=10] [--tjs-gpu-k=3] [--tjs-gpu-warmup=1]
//                                  (webgpu: a second page with ?devices=webgpu, where the page has WebGPU)
//                      [--n=200] [--warmup=20] [--k=100] [--batch=32]          (embeddings)
//                      [--llm-rounds=10] [--llm-warmup=2] [--max-tokens=200]    (llm)
//                      [--sdxl-node-rounds=20] [--sdxl-node-warmup=5]           (sdxl, Node pipeline overhead)
//                      [--sdxl-rounds=10] [--sdxl-warmup=1]                     (sdxl, browser API vs engine)
//                      [--lora-rounds=3] [--lora-warmup=1] [--lora-rank=32]     (lora, per weight)
//                      [--lora-shapes=attn640,attn1280,xattn640,xattn1280 | all (+ geglu,ffout,conv3x3)]
//                      [--lora-big-rank=128 (0: none)] [--lora-big-rank-shapes=attn1280]   (lora, one pass)
//                      [--lora-model-rounds=10] [--lora-model-warmup=2]         (lora, whole tiny SDXL)
//                      [--relay-rounds=20] [--relay-reps=10] [--relay-busy-rounds=4]  (relay: API worker vs main thread)
//                      [--relay-baseline=REF]   (relay: also the app built from git REF, before vs after in one run)
//                      [--decode-tokens=24] [--decode-rounds=3] [--decode-1b] [--decode-1b-tokens=32] [--decode-ort=0] [--decode-prefill=64]
//                                                                               (decode: WGSL decoder vs ORT WebGPU, Node)
//
// --no-build serves the existing dist/ instead of building the app into bench/.build/web (the small Node bundle
// of the API and engine modules is always rebuilt, in ~0.2 s). Both benches share one browser page opened with
// ?devices=wasm; the LoRA bench runs in Node alone (`--only=lora` builds no app and opens no browser). Nothing here
// passes or fails: it prints tables and writes bench/results/latest.json, with each bench under its own key
// (`--only` keeps the other benches' previous results there).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { BUILD_DIR, ROOT, buildNodeApi, buildWeb, buildWebAt, hasBuild } from './build.mjs';
import { launch, openHost, serve } from './browser.mjs';
import { EMBEDDINGS_DEFAULTS, embeddingsJson, reportEmbeddings, runEmbeddings } from './embeddings.mjs';
import { pageInfo } from './in-page.mjs';
import { LLM_DEFAULTS, llmJson, reportLlm, reportLlmSideBySide, runLlm } from './llm.mjs';
import { LLM_WORKLOADS } from './workload.mjs';
import { loadLlmModules } from './node-llm.mjs';
import { loadApiModules, ort } from './node-paths.mjs';
import { LORA_DEFAULTS, loadLoraModules, loraJson, reportLora, runLora } from './lora.mjs';
import { DECODE_DEFAULTS, decodeJson, loadDecodeModules, reportDecode, runDecode } from './decode.mjs';
import { loadSdxlModules } from './node-sdxl.mjs';
import { SDXL_DEFAULTS, reportSdxl, runSdxl, sdxlJson } from './sdxl.mjs';
import { fmt } from './stats.mjs';
import { RELAY_DEFAULTS, relayJson, reportRelay, runRelay } from './relay.mjs';
import { TRANSFORMERS_DEFAULTS, TRANSFORMERS_WEBGPU_DEFAULTS, buildTransformersBundle, reportTransformers, runTransformers, transformersJson } from './transformers.mjs';

const args = Object.fromEntries(process.argv.slice(2).map((a) => {
  const [k, v] = a.replace(/^--/, '').split('=');
  return [k, v ?? true];
}));
const BENCHES = ['embeddings', 'llm', 'sdxl', 'lora', 'decode', 'remote', 'relay', 'serve', 'transformers'];
const BROWSER_BENCHES = ['embeddings', 'llm', 'sdxl', 'relay', 'transformers'];
const only = args.only === undefined ? BENCHES : String(args.only).split(',');
for (const b of only) if (!BENCHES.includes(b)) throw new Error(`--only=${args.only}: expected one of ${BENCHES.join(', ')}`);
const num = (key, fallback) => Number(args[key] ?? fallback);
const browserNeeded = only.some((b) => BROWSER_BENCHES.includes(b));
const embeddingsOpts = {
  n: num('n', EMBEDDINGS_DEFAULTS.n),
  warmup: num('warmup', EMBEDDINGS_DEFAULTS.warmup),
  k: num('k', EMBEDDINGS_DEFAULTS.k),
  batch: num('batch', EMBEDDINGS_DEFAULTS.batch),
  throughputWarmup: EMBEDDINGS_DEFAULTS.throughputWarmup,
};
const llmOpts = {
  rounds: num('llm-rounds', LLM_DEFAULTS.rounds),
  warmup: num('llm-warmup', LLM_DEFAULTS.warmup),
  maxTokens: num('max-tokens', LLM_DEFAULTS.maxTokens),
};
const sdxlOpts = {
  nodeRounds: num('sdxl-node-rounds', SDXL_DEFAULTS.nodeRounds),
  nodeWarmup: num('sdxl-node-warmup', SDXL_DEFAULTS.nodeWarmup),
  rounds: num('sdxl-rounds', SDXL_DEFAULTS.rounds),
  warmup: num('sdxl-warmup', SDXL_DEFAULTS.warmup),
};
const loraOpts = {
  rounds: num('lora-rounds', LORA_DEFAULTS.rounds),
  warmup: num('lora-warmup', LORA_DEFAULTS.warmup),
  rank: num('lora-rank', LORA_DEFAULTS.rank),
  shapes: String(args['lora-shapes'] ?? LORA_DEFAULTS.shapes),
  bigRank: num('lora-big-rank', LORA_DEFAULTS.bigRank),
  bigRankShapes: String(args['lora-big-rank-shapes'] ?? LORA_DEFAULTS.bigRankShapes),
  modelRounds: num('lora-model-rounds', LORA_DEFAULTS.modelRounds),
  modelWarmup: num('lora-model-warmup', LORA_DEFAULTS.modelWarmup),
};

const relayOpts = {
  ...RELAY_DEFAULTS,
  rounds: num('relay-rounds', RELAY_DEFAULTS.rounds),
  reps: num('relay-reps', RELAY_DEFAULTS.reps),
  busyRounds: num('relay-busy-rounds', RELAY_DEFAULTS.busyRounds),
};
const decodeOpts = {
  tokens: num('decode-tokens', DECODE_DEFAULTS.tokens),
  rounds: num('decode-rounds', DECODE_DEFAULTS.rounds),
  big: Boolean(args['decode-1b'] ?? DECODE_DEFAULTS.big),
  bigTokens: num('decode-1b-tokens', DECODE_DEFAULTS.bigTokens),
  ort: args['decode-ort'] !== '0',
  prefill: num('decode-prefill', DECODE_DEFAULTS.prefill),
};

const transformersOpts = {
  n: num('tjs-n', TRANSFORMERS_DEFAULTS.n),
  k: num('tjs-k', TRANSFORMERS_DEFAULTS.k),
  warmup: num('tjs-warmup', TRANSFORMERS_DEFAULTS.warmup),
  devices: String(args['tjs-devices'] ?? 'wasm,webgpu').split(','),
};
const transformersGpuOpts = {
  n: num('tjs-gpu-n', TRANSFORMERS_WEBGPU_DEFAULTS.n),
  k: num('tjs-gpu-k', TRANSFORMERS_WEBGPU_DEFAULTS.k),
  warmup: num('tjs-gpu-warmup', TRANSFORMERS_WEBGPU_DEFAULTS.warmup),
};

const started = performance.now();
const loadAtStart = os.loadavg();
const log = (msg) => process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(1)}s] ${msg}\n`);

// --- builds -----------------------------------------------------------------------------------------------------
let webDir;
if (!browserNeeded) {
  log('no browser bench selected: no app build, no browser');
} else if (args['no-build']) {
  webDir = `${ROOT}dist`;
  if (!hasBuild(webDir)) throw new Error('--no-build: dist/index.html is missing; run `npm run build` first');
  log('serving the existing dist/');
} else {
  log('building the app (production) into bench/.build/web');
  webDir = await buildWeb();
}
let relayBaseline;
if (only.includes('relay') && args['relay-baseline']) {
  log(`building the app as of ${args['relay-baseline']} (the relay bench's "before") into bench/.build/at-<commit>`);
  relayBaseline = await buildWebAt(String(args['relay-baseline']));
}
log('bundling the API and engine modules for Node');
const apiDir = await buildNodeApi();
const mods = {
  ...await loadApiModules(apiDir), ...await loadLlmModules(apiDir), ...await loadSdxlModules(apiDir),
  ...(only.includes('lora') && await loadLoraModules(apiDir)),
  ...(only.includes('decode') && await loadDecodeModules(apiDir)),
};

// --- browser + Node -----------------------------------------------------------------------------------------------
const results = {};
let info;
let chromiumVersion;
let errors;
let tjsBuild;
if (only.includes('transformers')) {
  log('bundling transformers.js for the page into <app>/bench-tjs');
  tjsBuild = await buildTransformersBundle(webDir);
}
if (browserNeeded) {
  const { server, baseUrl } = await serve(webDir);
  const browser = await launch();
  try {
    log(`opening ${baseUrl}/?devices=wasm`);
    const host = await openHost(browser, baseUrl, 'devices=wasm');
    errors = host.errors;
    info = await host.page.evaluate(pageInfo);
    chromiumVersion = browser.version();
    if (only.includes('embeddings')) results.embeddings = await runEmbeddings({ page: host.page, mods, opts: embeddingsOpts, log });
    if (only.includes('llm')) {
      for (const workload of LLM_WORKLOADS) results[workload.key] = await runLlm({ page: host.page, mods, opts: llmOpts, log, workload });
    }
    if (only.includes('sdxl')) results.sdxl = await runSdxl({ page: host.page, mods, opts: sdxlOpts, log });
    if (only.includes('transformers') && transformersOpts.devices.includes('wasm')) {
      results.transformers = await runTransformers({ page: host.page, opts: transformersOpts, log, version: tjsBuild.version, device: 'wasm' });
    }
    if (only.includes('transformers') && transformersOpts.devices.includes('webgpu')) {
      if (!info.webgpu) log('transformers.js vs Hearth on WebGPU: skipped, the page has no WebGPU');
      else {
        // Its own page (Hearth's workers take their devices from the page's query), the wasm page closed first so
        // its workers and transformers.js's wasm threads do not share the cores.
        await host.context.close();
        log(`opening ${baseUrl}/?devices=webgpu`);
        const gpuHost = await openHost(browser, baseUrl, 'devices=webgpu');
        results.transformersWebgpu = await runTransformers({ page: gpuHost.page, opts: transformersGpuOpts, log, version: tjsBuild.version, device: 'webgpu' });
        errors.push(...gpuHost.errors);
        await gpuHost.context.close();
      }
    }
    if (only.includes('relay')) {
      await host.context.close(); // its idle page would only share the cores
      const before = relayBaseline && await serve(relayBaseline.outDir);
      try {
        const baseline = before && { baseUrl: before.baseUrl, commit: relayBaseline.commit };
        results.relay = await runRelay({ browser, baseUrl, opts: relayOpts, log, baseline });
      } finally {
        await before?.server.close().catch(() => undefined);
      }
    }
  } finally {
    await browser.close().catch(() => undefined);
    await server.close().catch(() => undefined);
  }
}
// Node only, after the browser is gone (its processes would share the cores with SwiftShader's threads).
if (only.includes('lora')) results.lora = await runLora({ mods, opts: loraOpts, log });
if (only.includes('decode')) results.decode = await runDecode({ mods, opts: decodeOpts, log });
const loadAtEnd = os.loadavg();

// --- report -----------------------------------------------------------------------------------------------------
const out = [];
const print = (s = '') => out.push(s);
const loads = (l) => l.map((x) => fmt(x, 2)).join(' ');
print(`Hearth bench — ${new Date().toISOString()} — ${only.join(' + ')}`);
if (browserNeeded) {
  print(`Chromium ${chromiumVersion} (headless, ${info.webgpu ? 'WebGPU present (SwiftShader)' : 'no WebGPU'}), page devices=wasm; ` +
    `ORT wasm threads: page workers ${info.ortWasmThreads} (crossOriginIsolated=${info.crossOriginIsolated}), Node 1`);
}
print(`onnxruntime-web ${ort.env.versions?.web ?? '?'} · Node ${process.version} · ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}) · ` +
  `load average (1/5/15 min) ${loads(loadAtStart)} at start, ${loads(loadAtEnd)} at end`);
if ((!results.lora || results.lora.adapter.swiftshader) && (!results.decode || results.decode.adapter.swiftshader)) print('Timings on a CPU-only machine (no GPU): compare the ratios, not the absolute numbers.');
if (results.embeddings) {
  print();
  reportEmbeddings(results.embeddings, print);
}
for (const { key } of LLM_WORKLOADS) {
  if (!results[key]) continue;
  print();
  reportLlm(results[key], print);
}
if (LLM_WORKLOADS.every(({ key }) => results[key])) {
  print();
  reportLlmSideBySide(LLM_WORKLOADS.map(({ key }) => results[key]), print);
}
if (results.sdxl) {
  print();
  reportSdxl(results.sdxl, print);
}
if (results.relay) {
  print();
  reportRelay(results.relay, print);
}
if (results.transformers) {
  print();
  reportTransformers(results.transformers, print);
}
if (results.transformersWebgpu) {
  print();
  reportTransformers(results.transformersWebgpu, print);
}
if (results.lora) {
  print();
  reportLora(results.lora, print);
}
if (results.decode) {
  print();
  reportDecode(results.decode, print);
}
print();
if (errors?.length) print(`page errors (${errors.length}): ${errors.slice(0, 5).join(' | ')}`);
print(`(bench took ${fmt((performance.now() - started) / 1000, 1)} s)`);
console.log(out.join('\n'));

// --- JSON -------------------------------------------------------------------------------------------------------
const file = `${ROOT}bench/results/latest.json`;
let previous = {};
if (existsSync(file)) {
  try {
    previous = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    previous = {};
  }
}
const env = {
  chromium: chromiumVersion, node: process.version, onnxruntimeWeb: ort.env.versions?.web, cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model, page: info, nodeOrtThreads: 1, loadAverage: { start: loadAtStart, end: loadAtEnd },
  app: !browserNeeded ? null : args['no-build'] ? 'dist/' : 'bench/.build/web (fresh production build)',
};
const json = { date: new Date().toISOString(), env };
const TO_JSON = { embeddings: embeddingsJson, llm: llmJson, llmStories260k: llmJson, sdxl: sdxlJson, lora: loraJson, decode: decodeJson, relay: relayJson, transformers: transformersJson, transformersWebgpu: transformersJson };
const JSON_KEYS = BENCHES.flatMap((b) => (b === 'llm' ? LLM_WORKLOADS.map((w) => w.key) : b === 'transformers' ? [b, 'transformersWebgpu'] : [b]));
for (const b of JSON_KEYS) {
  if (results[b]) {
    json[b] = { date: json.date, ...TO_JSON[b](results[b]) };
  } else if (previous[b]) {
    json[b] = { ...previous[b], date: previous[b].date ?? previous.date, env: previous[b].env ?? previous.env, keptFromPreviousRun: true };
  }
}
// Keys this script does not write (e.g. another tool's) stay as they were.
for (const [k, v] of Object.entries(previous)) if (!(k in json) && !JSON_KEYS.includes(k) && k !== 'pageErrors') json[k] = v;
// pageErrors belong to the browser benches: kept from the previous run when this one opened no page.
json.pageErrors = browserNeeded ? errors : previous.pageErrors ?? [];
mkdirSync(`${ROOT}bench/results`, { recursive: true });
writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);
log(`wrote bench/results/latest.json (build outputs in ${BUILD_DIR.replace(ROOT, '')})`);

// The remote pass-through bench (a `hearth serve` called directly vs through a Hearth API whose remote it is) runs as
// its own process after the others, in Node only; it prints its table and writes bench/results/remote.json.
if (only.includes('remote')) {
  const r = spawnSync(process.execPath, [`${ROOT}bench/remote.mjs`], { stdio: 'inherit', cwd: ROOT });
  if (r.status !== 0) process.exitCode = r.status ?? 1;
}
// `hearth serve` on onnxruntime-node vs on onnxruntime-web's wasm build (same models, same requests, one run), in Node
// only, as its own process; it prints its table and writes bench/results/serve.json.
if (only.includes('serve')) {
  const r = spawnSync(process.execPath, [`${ROOT}bench/serve.mjs`], { stdio: 'inherit', cwd: ROOT });
  if (r.status !== 0) process.exitCode = r.status ?? 1;
}

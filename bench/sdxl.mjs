// The SDXL bench (run by bench/run.mjs) on the built-in tiny SDXL, text-to-image, 10 steps, cfg 7, at 64×64 and
// 128×128 pixels:
//   1. pipeline overhead, in Node (onnxruntime-web wasm, 1 thread): SdxlPipeline.sample end to end vs the sum of its
//      InferenceSession.run wall times (every session's run wrapped), split into prompt + setup (the text encoders),
//      the denoising loop (the UNet) and decode (the VAE); the issue's goal is overhead ≤ 5 % of the total;
//   2. through the API vs the engine, in the browser (page devices=wasm): the PNG request through the service worker,
//      through hearth.handle, and the image worker's own stream, interleaved in rounds (the first path rotates),
//      after warming the worker up (V8 tiers its wasm up for seconds); compared across requests (medians, paired
//      per-round ratios) and within each API request (the engine's stream time, seen by the host through an
//      instrumented engine, vs the whole request), the latter being robust to the noise of a shared 2-core machine.
// Every timed run uses its own prompt (workload.mjs: sdxlPrompt), so each encodes its prompt as a new request would.
// Medians; ratios, not thresholds: on a CPU-only machine only the ratios mean anything.
import { sdxlCheck, sdxlRounds, sdxlWarmup } from './in-page-sdxl.mjs';
import { nodeSdxl } from './node-sdxl.mjs';
import { diff, fmt, p50, p90, quantile, sum, table } from './stats.mjs';
import { SDXL_CFG, SDXL_MODEL_ID, SDXL_PATH, SDXL_PROMPT, SDXL_SEED, SDXL_SIZES, SDXL_STEPS, sdxlPrompt } from './workload.mjs';

export const SDXL_DEFAULTS = { nodeRounds: 20, nodeWarmup: 5, rounds: 10, warmup: 1 };
/** The browser's engine warm-up before the rounds (in-page-sdxl.mjs: sdxlWarmup). */
const WARMUP = { minCalls: 8, window: 5, tolerance: 1.2, maxMs: 12_000 };
export const OVERHEAD_GOAL = 0.05;

const PATHS = {
  sw: 'A  fetch → SW → host → worker (PNG)',
  handle: 'B  hearth.handle (PNG, no SW)',
  engine: 'C  engine.run() stream (worker, Comlink)',
};

/** The request body, and the ImageJob src/api/handlers/images.ts buildJob makes of it (less `entry`, resolved in the page). */
function request(size) {
  const body = { model: SDXL_MODEL_ID, text_prompts: [{ text: SDXL_PROMPT }], steps: SDXL_STEPS, seed: SDXL_SEED, width: size, height: size };
  const job = {
    mode: 'text_to_image', prompt: SDXL_PROMPT, negativePrompt: '', width: size, height: size,
    steps: SDXL_STEPS, cfgScale: SDXL_CFG, samples: 1, seed: SDXL_SEED >>> 0,
    schedule: { start: 1, end: 0 }, output: { type: 'image/png' },
  };
  return { body, job };
}

const sampleRequest = (size, prompt) => ({
  prompt, negativePrompt: '', width: size, height: size, steps: SDXL_STEPS, cfgScale: SDXL_CFG, seed: SDXL_SEED,
  schedule: { start: 1, end: 0 },
});

/** Runs both parts on an open host page (devices=wasm) and in Node; returns the raw samples and checks. */
export async function runSdxl({ page, mods, opts, log }) {
  const entry = new mods.ModelRegistry().resolve(SDXL_MODEL_ID, 'image');

  // --- 1. Node: pipeline overhead ---------------------------------------------------------------------------------
  const node = await nodeSdxl(mods, entry);
  log(`sdxl pipeline (Node): ${opts.nodeWarmup} warm-up + ${opts.nodeRounds} rounds × ${SDXL_SIZES.map((s) => `${s}×${s}`).join(' + ')} ` +
    `(model load ${fmt(node.loadMs, 0)} ms)`);
  const nodeRuns = Object.fromEntries(SDXL_SIZES.map((s) => [s, []]));
  let call = 0;
  for (let r = 0; r < opts.nodeWarmup + opts.nodeRounds; r++) {
    for (const size of SDXL_SIZES) {
      const { timing } = await node.sample(sampleRequest(size, sdxlPrompt(call++)));
      if (r >= opts.nodeWarmup) nodeRuns[size].push(timing);
    }
  }
  const nodeCheck = {};
  for (const s of SDXL_SIZES) nodeCheck[s] = (await node.sample(sampleRequest(s, SDXL_PROMPT))).rgba;
  await node.release();

  // --- 2. browser: API vs engine ------------------------------------------------------------------------------------
  const browserLoadMs = await page.evaluate(async ({ path, body }) => {
    const t0 = performance.now();
    const res = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'image/png' }, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`first image request: HTTP ${res.status} ${await res.text()}`);
    await res.arrayBuffer();
    return performance.now() - t0;
  }, { path: SDXL_PATH, body: request(SDXL_SIZES[0]).body });
  log(`sdxl API vs engine (browser): warming the image worker up (engine calls until the times settle, ≤ ${WARMUP.maxMs / 1000} s)`);
  const warmup = await page.evaluate(sdxlWarmup, { jobs: SDXL_SIZES.map((s) => request(s).job), model: SDXL_MODEL_ID, ...WARMUP });
  const browser = {};
  const checks = {};
  for (const size of SDXL_SIZES) {
    log(`sdxl API vs engine (browser, ${size}×${size}): ${opts.warmup} warm-up + ${opts.rounds} interleaved rounds of 3 paths`);
    const { body, job } = request(size);
    const prompts = Array.from({ length: 3 * (opts.warmup + opts.rounds) }, (_, i) => sdxlPrompt(1000 * size + i));
    browser[size] = await page.evaluate(sdxlRounds, { path: SDXL_PATH, body, job, prompts, rounds: opts.rounds, warmup: opts.warmup });
    const { rgba, ...check } = await page.evaluate(sdxlCheck, { path: SDXL_PATH, body, job, prompt: SDXL_PROMPT });
    const ref = nodeCheck[size];
    let maxDiff = 0;
    let offByMoreThanOne = 0;
    for (let i = 0; i < ref.length; i++) {
      const d = Math.abs(rgba[i] - ref[i]);
      maxDiff = Math.max(maxDiff, d);
      if (d > 1) offByMoreThanOne++;
    }
    checks[size] = { ...check, pixelsVsNode: { values: ref.length, maxAbsDiff: maxDiff, offByMoreThanOne, sameLength: rgba.length === ref.length } };
  }
  return { opts, loadMs: { node: node.loadMs, browserFirstRequest: browserLoadMs }, warmup, nodeRuns, browser, checks };
}

function deriveNode(runs) {
  const col = (f) => runs.map(f);
  const pct = col((t) => t.overheadMs / t.totalMs);
  const phase = (p) => ({
    runs: runs[0].runs[p].count,
    runMs: col((t) => t.phases[p].runMs),
    wallMs: col((t) => t.phases[p].wallMs),
    ownMs: col((t) => t.phases[p].wallMs - t.phases[p].runMs),
  });
  const steps = runs[0].steps;
  return {
    total: col((t) => t.totalMs), run: col((t) => t.runMs), overhead: col((t) => t.overheadMs), pct, steps,
    loopStepsPerS: col((t) => (steps * 1000) / t.phases.unet.wallMs),
    unetStepsPerS: col((t) => (steps * 1000) / t.runs.unet.ms),
    phases: { text: phase('text'), unet: phase('unet'), vae: phase('vae') },
  };
}

function deriveBrowser(b) {
  const engine = b.ms.engine;
  const rel = (k) => ({
    ofMedians: p50(b.ms[k]) / p50(engine),
    pairedP50: p50(b.ms[k].map((x, i) => x / engine[i])),
    ofBest: Math.min(...b.ms[k]) / Math.min(...engine),
    diffMs: diff(b.ms[k], engine),
    // Within each request: the engine's own stream (as the host saw it) and the rest of the request.
    engineMs: b.engineMs[k],
    outsideMs: diff(b.ms[k], b.engineMs[k]),
    outsideFraction: b.ms[k].map((x, i) => (x - b.engineMs[k][i]) / x),
  });
  return {
    ms: b.ms, sw: rel('sw'), handle: rel('handle'),
    swOverHandle: { pairedP50: p50(b.ms.sw.map((x, i) => x / b.ms.handle[i])), diffMs: diff(b.ms.sw, b.ms.handle) },
    engineSampled: b.engineSampledMs, engineEncode: diff(b.engineImageMs, b.engineSampledMs), engineAfterImage: diff(engine, b.engineImageMs),
  };
}

const PHASE_LABELS = {
  text: 'prompt + setup  (text encoders)',
  unet: 'denoising loop  (UNet)',
  vae: 'decode          (VAE)',
};

/** The printed report (lines appended with `print`). */
export function reportSdxl(result, print) {
  const { opts, loadMs, warmup, nodeRuns, browser, checks } = result;
  const sizes = Object.keys(nodeRuns).map(Number);
  print(`SDXL — model ${SDXL_MODEL_ID} (random weights), text-to-image, ${SDXL_STEPS} steps, cfg ${SDXL_CFG}, K_DPMPP_2M, seed ${SDXL_SEED}, ` +
    `empty negative prompt (encoded: 2 prompts × 2 text encoders per run); a new prompt every run. Model load (untimed): ` +
    `Node ${fmt(loadMs.node, 0)} ms, browser ${fmt(loadMs.browserFirstRequest, 0)} ms (first request).`);
  print();

  print(`1. Pipeline overhead (Node, onnxruntime-web wasm, 1 thread): SdxlPipeline.sample vs Σ InferenceSession.run ` +
    `(${opts.nodeRounds} runs per size after ${opts.nodeWarmup} warm-up, sizes interleaved)`);
  const N = Object.fromEntries(sizes.map((s) => [s, deriveNode(nodeRuns[s])]));
  print(table(['size', 'total ms p50', 'p90', 'Σ run ms p50', 'overhead ms p50', 'overhead % p50', 'p10', 'p90', 'loop steps/s p50', 'UNet-only steps/s'],
    sizes.map((s) => {
      const n = N[s];
      return [`${s}×${s} (latents ${s / 8}×${s / 8})`, fmt(p50(n.total), 1), fmt(p90(n.total), 1), fmt(p50(n.run), 1), fmt(p50(n.overhead), 2),
        fmt(100 * p50(n.pct), 2), fmt(100 * quantile(n.pct, 0.1), 2), fmt(100 * quantile(n.pct, 0.9), 2),
        fmt(p50(n.loopStepsPerS), 1), fmt(p50(n.unetStepsPerS), 1)];
    })));
  print('overhead % = (total − Σ run) ÷ total per run; loop steps/s = steps ÷ (first UNet run → last step done); UNet-only = steps ÷ Σ UNet runs.');
  print();
  for (const s of sizes) {
    const n = N[s];
    const total = p50(n.total);
    print(`   ${s}×${s} by part (p50 ms; phases partition the total: start → first UNet run → last step → return)`);
    print(table(['phase', 'runs', 'Σ run', 'phase wall', 'pipeline\'s own', 'own p90', 'own ÷ total %', 'phase ÷ total %'],
      Object.entries(n.phases).map(([k, p]) => [PHASE_LABELS[k], p.runs, fmt(p50(p.runMs), 2), fmt(p50(p.wallMs), 2), fmt(p50(p.ownMs), 2),
        fmt(p90(p.ownMs), 2), fmt((100 * p50(p.ownMs)) / total, 2), fmt((100 * p50(p.wallMs)) / total, 1)])));
    print();
  }
  for (const s of sizes) {
    const pct = p50(N[s].pct);
    print(`${s}×${s}: pipeline overhead ${fmt(100 * pct, 2)} % of ${fmt(p50(N[s].total), 1)} ms (p90 ${fmt(100 * p90(N[s].pct), 2)} %; ` +
      `goal ≤ ${100 * OVERHEAD_GOAL} %: ${pct <= OVERHEAD_GOAL ? 'met' : 'not met'})`);
  }
  print();

  print(`2. Through the API vs the engine (browser, devices=wasm, image worker on ${checks[sizes[0]].engineBackend}): ` +
    `ms per image, ${opts.rounds} rounds after ${opts.warmup} warm-up, the 3 paths interleaved (first path rotates)`);
  print(`   before the rounds, the worker was warmed up with ${warmup.calls.map((c, i) => `${c} engine calls at ${sizes[i]}×${sizes[i]}`).join(' and ')} ` +
    `in ${fmt(warmup.ms / 1000, 1)} s (${warmup.settled ? 'times settled' : 'NOT settled: time cap reached'}; V8 tiers the wasm up for the first few seconds)`);
  const B = Object.fromEntries(sizes.map((s) => [s, deriveBrowser(browser[s])]));
  const rows = [];
  for (const s of sizes) {
    const b = B[s];
    for (const [k, label] of Object.entries(PATHS)) {
      const v = b.ms[k];
      const r = k === 'engine' ? null : b[k];
      rows.push([`${s}×${s}  ${label}`, fmt(p50(v), 1), fmt(p90(v), 1), fmt(Math.min(...v), 1),
        r ? fmt(r.ofMedians, 3) : '1.000', r ? fmt(r.pairedP50, 3) : '—', r ? fmt(r.ofBest, 3) : '—', r ? fmt(p50(r.diffMs), 2) : '—']);
    }
  }
  print('   a) across requests (each path\'s own requests, paired by round)');
  print(table(['size  path', 'ms p50', 'p90', 'min', 'time ÷ C (medians)', 'paired p50', 'of best runs', 'Δ vs C ms p50'], rows));
  print('   time ÷ C > 1 means slower than the engine; paired = median of per-round ratios (the rounds pair the paths); best = fastest ' +
    'run of each (the least disturbed on a shared machine); Δ = median of paired per-round differences.');
  print();
  print('   b) within each API request: the engine\'s part (run() called → its stream done, seen in the host page) and the rest');
  const within = [];
  for (const s of sizes) {
    for (const k of ['sw', 'handle']) {
      const r = B[s][k];
      within.push([`${s}×${s}  ${PATHS[k]}`, fmt(p50(B[s].ms[k]), 1), fmt(p50(r.engineMs), 1), fmt(p50(r.outsideMs), 2), fmt(p90(r.outsideMs), 2),
        fmt(Math.min(...r.outsideMs), 2), fmt(100 * p50(r.outsideFraction), 2), fmt(p50(r.engineMs.map((e, i) => e / B[s].ms[k][i])), 4)]);
    }
  }
  print(table(['size  path', 'request ms p50', 'engine part p50', 'rest ms p50', 'p90', 'min', 'rest ÷ request %', 'engine ÷ request p50'], within));
  print('   rest = request − engine part, per request: parsing, validation, job building, Comlink, the PNG response, and for A the SW relay.');
  print();
  for (const s of sizes) {
    const b = B[s];
    print(`${s}×${s}: the API keeps ${fmt(100 * (1 - p50(b.sw.outsideFraction)), 2)} % of a request's time in the engine via the SW ` +
      `(+${fmt(p50(b.sw.outsideMs), 2)} ms), ${fmt(100 * (1 - p50(b.handle.outsideFraction)), 2)} % via hearth.handle (+${fmt(p50(b.handle.outsideMs), 2)} ms); ` +
      `across requests SW ÷ engine ${fmt(b.sw.ofMedians, 3)} (paired ${fmt(b.sw.pairedP50, 3)}), handle ÷ engine ${fmt(b.handle.ofMedians, 3)} ` +
      `(paired ${fmt(b.handle.pairedP50, 3)}), SW ÷ handle paired ${fmt(b.swOverHandle.pairedP50, 3)}; engine stream: sampling ` +
      `${fmt(p50(b.engineSampled), 1)} ms, PNG encode ${fmt(p50(b.engineEncode), 2)} ms, image → end ${fmt(p50(b.engineAfterImage), 2)} ms (p50)`);
  }
  print(`browser engine ÷ Node pipeline time: ${sizes.map((s) => `${s}×${s} ${fmt(p50(B[s].ms.engine) / p50(N[s].total), 2)}`).join(', ')} ` +
    '(page workers run ORT with more threads, and add PNG encoding: informative only)');
  print();
  print(`checks (untimed, prompt "${SDXL_PROMPT}"): ` + sizes.map((s) => {
    const c = checks[s];
    return `${s}×${s}: HTTP ${c.status.sw}/${c.status.handle} ${c.headers.contentType} on ${c.headers.backend}, seed ${c.headers.seed}, ` +
      `${c.width}×${c.height} PNG ${c.pngBytes} B, bytes SW = handle ${c.swEqualsHandle ? 'yes' : 'NO'}, SW = engine ${c.swEqualsEngine ? 'yes' : 'NO'}, ` +
      `engine events ${JSON.stringify(c.engineEvents)}, pixels vs the Node pipeline max |Δ| ${c.pixelsVsNode.maxAbsDiff} ` +
      `(${c.pixelsVsNode.offByMoreThanOne} of ${c.pixelsVsNode.values} off by > 1)`;
  }).join('; '));
}

const summary = (v) => ({ p50: p50(v), p90: p90(v), p10: quantile(v, 0.1), mean: sum(v) / v.length, min: Math.min(...v), max: Math.max(...v), n: v.length });
const round3 = (v) => v.map((x) => Math.round(x * 1000) / 1000);

/** What latest.json keeps under `sdxl`. */
export function sdxlJson(result) {
  const { opts, loadMs, warmup, nodeRuns, browser, checks } = result;
  const sizes = Object.keys(nodeRuns).map(Number);
  const key = (s) => `${s}x${s}`;
  return {
    config: {
      model: SDXL_MODEL_ID, path: SDXL_PATH, steps: SDXL_STEPS, cfgScale: SDXL_CFG, seed: SDXL_SEED, sampler: 'K_DPMPP_2M',
      sizes: sizes.map(key), prompt: `${SDXL_PROMPT} #<n> (a new prompt per run)`, negativePrompt: '', ...opts,
      overhead: '(SdxlPipeline.sample wall time − Σ InferenceSession.run wall times) / wall time, per run',
    },
    devices: { node: 'onnxruntime-web wasm, 1 thread', browser: checks[sizes[0]].engineBackend },
    modelLoadMs: loadMs,
    browserWarmup: { ...WARMUP, calls: warmup.calls, ms: warmup.ms, settled: warmup.settled, lastMs: warmup.lastMs.map(round3) },
    pipelineOverhead: Object.fromEntries(sizes.map((s) => {
      const n = deriveNode(nodeRuns[s]);
      return [key(s), {
        totalMs: summary(n.total), sessionRunMs: summary(n.run), overheadMs: summary(n.overhead), overheadFraction: summary(n.pct),
        goal: { maxFraction: OVERHEAD_GOAL, met: p50(n.pct) <= OVERHEAD_GOAL },
        loopStepsPerS: summary(n.loopStepsPerS), unetOnlyStepsPerS: summary(n.unetStepsPerS),
        phases: Object.fromEntries(Object.entries(n.phases).map(([k, p]) => [k, {
          sessionRuns: p.runs, sessionRunMs: summary(p.runMs), wallMs: summary(p.wallMs), pipelineOwnMs: summary(p.ownMs),
        }])),
        samplesMs: { total: round3(n.total), sessionRun: round3(n.run) },
      }];
    })),
    apiVsEngine: Object.fromEntries(sizes.map((s) => {
      const b = deriveBrowser(browser[s]);
      return [key(s), {
        variants: Object.fromEntries(Object.entries(PATHS).map(([k, label]) => [k, { label: label.replace(/^\S+\s+/, ''), ms: summary(b.ms[k]) }])),
        ratios: {
          swOverEngine: { ofMedians: b.sw.ofMedians, pairedP50: b.sw.pairedP50, ofBest: b.sw.ofBest, diffMs: summary(b.sw.diffMs) },
          handleOverEngine: { ofMedians: b.handle.ofMedians, pairedP50: b.handle.pairedP50, ofBest: b.handle.ofBest, diffMs: summary(b.handle.diffMs) },
          swOverHandle: { pairedP50: b.swOverHandle.pairedP50, diffMs: summary(b.swOverHandle.diffMs) },
        },
        withinRequest: Object.fromEntries(['sw', 'handle'].map((k) => [k, {
          engineMs: summary(b[k].engineMs), restMs: summary(b[k].outsideMs), restFraction: summary(b[k].outsideFraction),
          samplesEngineMs: round3(b[k].engineMs),
        }])),
        engineStream: { sampledMs: summary(b.engineSampled), pngEncodeMs: summary(b.engineEncode), imageToEndMs: summary(b.engineAfterImage) },
        samplesMs: Object.fromEntries(Object.entries(b.ms).map(([k, v]) => [k, round3(v)])),
        order: browser[s].order,
        check: checks[s],
      }];
    })),
  };
}

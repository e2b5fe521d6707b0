// The embeddings bench (run by bench/run.mjs): request latency through each layer (SW, relay, API, worker) and
// embeddings throughput (browser and Node), as ratios. Variants run interleaved in rounds so machine noise hits
// them alike; timings are taken in the page and in Node with performance.now().
import { latencyRounds, throughputRound } from './in-page.mjs';
import { directSession, embeddingsRequest, nodeApi } from './node-paths.mjs';
import { diff, fmt, p50, p90, quantile, sum, table } from './stats.mjs';
import { MODEL_ID, SHORT_TEXT, sentences } from './workload.mjs';

export const EMBEDDINGS_DEFAULTS = { n: 200, warmup: 20, k: 100, batch: 32, throughputWarmup: 5 };

/** Runs both parts on an open host page (devices=wasm) and in Node; returns the raw samples and checks. */
export async function runEmbeddings({ page, mods, opts, log }) {
  const { n: N, warmup: WARMUP, k: K, batch: BATCH, throughputWarmup: THROUGHPUT_WARMUP } = opts;

  // Load the model once (untimed), so warm-up rounds measure requests, not the model load.
  const loadMs = await page.evaluate(async (model) => {
    const t0 = performance.now();
    const res = await fetch('/inference/v1/embeddings', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, input: 'load' }) });
    if (!res.ok) throw new Error(`first embeddings request: HTTP ${res.status} ${await res.text()}`);
    return performance.now() - t0;
  }, MODEL_ID);

  // --- 1. latency -----------------------------------------------------------------------------------------------
  log(`embeddings latency: ${WARMUP} warm-up + ${N} interleaved rounds of 6 variants`);
  const lat = await page.evaluate(latencyRounds, { rounds: N, warmup: WARMUP, text: SHORT_TEXT, model: MODEL_ID });

  // --- 2. throughput --------------------------------------------------------------------------------------------
  const texts = sentences(BATCH, 20);
  const entry = new mods.ModelRegistry().find(MODEL_ID);
  const direct = await directSession(mods, entry, texts);
  const { handle: nodeHandle, service: nodeService } = nodeApi(mods);
  const nodeApiRun = async () => {
    const res = await nodeHandle(embeddingsRequest(MODEL_ID, texts));
    const bytes = await res.arrayBuffer();
    if (!res.ok) throw new Error(`Node API: HTTP ${res.status} ${new TextDecoder().decode(bytes).slice(0, 300)}`);
  };
  const nodeCheck = await (await nodeHandle(embeddingsRequest(MODEL_ID, texts))).json();
  const browserCheck = await page.evaluate(async ({ model, texts }) => {
    const res = await fetch('/inference/v1/embeddings', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, input: texts }) });
    const json = await res.json();
    return { status: res.status, backend: res.headers.get('x-hearth-backend'), usage: json.usage, first: json.data?.[0]?.embedding };
  }, { model: MODEL_ID, texts });

  log(`embeddings throughput: batch of ${BATCH} × ${K} interleaved rounds (browser SW, handle, worker; Node ORT, Node API)`);
  const tp = { sw: [], handle: [], worker: [], nodeDirect: [], nodeApi: [] };
  for (let r = 0; r < THROUGHPUT_WARMUP + K; r++) {
    const inPage = await page.evaluate(throughputRound, { texts, model: MODEL_ID, reps: 1 });
    let t0 = performance.now();
    await direct.run();
    const directMs = performance.now() - t0;
    t0 = performance.now();
    await nodeApiRun();
    const apiMs = performance.now() - t0;
    if (r < THROUGHPUT_WARMUP) continue;
    tp.sw.push(...inPage.times.sw);
    tp.handle.push(...inPage.times.handle);
    tp.worker.push(...inPage.times.worker);
    tp.nodeDirect.push(directMs);
    tp.nodeApi.push(apiMs);
  }
  await direct.release();

  // --- 3. coalescing: 32 concurrent one-sentence requests vs the same sent one by one ------------------------------
  log('embeddings coalescing: 32 one-sentence requests, concurrent vs one by one (browser via SW, Node API)');
  const one = Array.from({ length: 32 }, (_, i) => `sentence ${i} of the coalescing bench, about a hearth`);
  // The same API with the previous policy (every job on an idle engine waited a fixed 2 ms for company), for comparison.
  const fixedWindow = nodeApi(mods, 2);
  await (await fixedWindow.handle(embeddingsRequest(MODEL_ID, ['load']))).arrayBuffer();
  const nodeRound = async (concurrent, api = { handle: nodeHandle }) => {
    const send = async (text) => {
      const res = await api.handle(embeddingsRequest(MODEL_ID, [text]));
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`Node API: HTTP ${res.status}`);
    };
    const t0 = performance.now();
    if (concurrent) await Promise.all(one.map(send));
    else for (const t of one) await send(t);
    return performance.now() - t0;
  };
  const coalesce = { nodeConcurrent: [], nodeSequential: [], swConcurrent: [], swSequential: [], nodeFixedConcurrent: [], nodeFixedSequential: [], nodeJobs: [] };
  for (let r = 0; r < 2 + 10; r++) {
    const inPage = await page.evaluate(async ({ model, one }) => {
      const send = async (text) => {
        const res = await fetch('/inference/v1/embeddings', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, input: text }) });
        await res.arrayBuffer();
      };
      let t0 = performance.now();
      await Promise.all(one.map(send));
      const concurrent = performance.now() - t0;
      t0 = performance.now();
      for (const t of one) await send(t);
      return { concurrent, sequential: performance.now() - t0 };
    }, { model: MODEL_ID, one });
    const jobs0 = nodeService.counters.jobs;
    const nc = await nodeRound(true);
    const jobs = nodeService.counters.jobs - jobs0;
    const ns = await nodeRound(false);
    const fc = await nodeRound(true, fixedWindow);
    const fs = await nodeRound(false, fixedWindow);
    if (r < 2) continue;
    coalesce.nodeJobs.push(jobs);
    coalesce.nodeFixedConcurrent.push(fc);
    coalesce.nodeFixedSequential.push(fs);
    coalesce.swConcurrent.push(inPage.concurrent);
    coalesce.swSequential.push(inPage.sequential);
    coalesce.nodeConcurrent.push(nc);
    coalesce.nodeSequential.push(ns);
  }

  return {
    opts, loadMs, lat, tp, coalesce,
    direct: { promptTokens: direct.promptTokens, paddedShape: direct.paddedShape },
    nodeCheck: { usage: nodeCheck.usage, first: nodeCheck.data?.[0]?.embedding },
    browserCheck,
  };
}

function derive(result) {
  const { opts, lat, tp, direct } = result;
  const L = lat.times;
  const tokens = direct.promptTokens;
  // Rates come from the median batch time (robust to the odd descheduled run on 2 cores); the mean-based rate is shown too.
  const thr = (v) => ({
    perBatch: p50(v), p90: p90(v),
    inputsPerS: (opts.batch * 1000) / p50(v), tokensPerS: (tokens * 1000) / p50(v),
    inputsPerSMean: (opts.batch * v.length * 1000) / sum(v),
  });
  const T = Object.fromEntries(Object.entries(tp).map(([k, v]) => [k, thr(v)]));
  // Paired per-round differences: each round ran every variant back to back.
  const relayEmb = diff(L.embedSw, L.embedHandle);
  const relayModels = diff(L.modelsSw, L.modelsHandle);
  return {
    L, T, tokens, relayEmb, relayModels,
    overEmb: diff(relayEmb, L.swPing),
    overModels: diff(relayModels, L.swPing),
    apiOverWorker: diff(L.embedHandle, L.embedWorker),
    ratios: {
      apiOverDirectNode: T.nodeApi.inputsPerS / T.nodeDirect.inputsPerS,
      swOverHandleBrowser: T.sw.inputsPerS / T.handle.inputsPerS,
      handleOverWorkerBrowser: T.handle.inputsPerS / T.worker.inputsPerS,
    },
  };
}

/** The printed report (lines appended with `print`). */
export function reportEmbeddings(result, print) {
  const { opts, loadMs, lat, direct, nodeCheck, browserCheck } = result;
  const { L, T, tokens, relayEmb, relayModels, overEmb, overModels, apiOverWorker, ratios } = derive(result);
  const a = p50(L.swPing);

  print(`EMBEDDINGS — model ${MODEL_ID}, ORT device answered: ${lat.check.backend}`);
  print(`Latency: N=${opts.n} rounds after ${opts.warmup} warm-up, variants interleaved; input "${SHORT_TEXT}" (${lat.check.promptTokens} tokens, ${lat.check.dims} dims). ` +
    `Model load (first request, untimed below): ${fmt(loadMs, 0)} ms.`);
  print(`Throughput: batch of ${opts.batch} sentences of 20 words (${direct.promptTokens} tokens, padded ${direct.paddedShape.join('×')}), ` +
    `K=${opts.k} rounds after ${opts.throughputWarmup} warm-up, variants interleaved.`);
  print();

  print('1. Latency of one tiny request (ms, measured in the page)');
  const latRows = [
    ['a  bare SW fetch  GET /_hearth/sw-ping (baseline)', L.swPing],
    ['b  embeddings  fetch → SW → host → worker', L.embedSw],
    ['c  embeddings  hearth.handle (no SW)', L.embedHandle],
    ['d  embeddings  engine.run() (worker, Comlink)', L.embedWorker],
    ['e1 GET /models  fetch → SW → host', L.modelsSw],
    ['e2 GET /models  hearth.handle (no SW)', L.modelsHandle],
  ];
  print(table(['path', 'p50', 'p90', 'p50 ÷ a'], latRows.map(([name, v]) => [name, fmt(p50(v), 3), fmt(p90(v), 3), fmt(p50(v) / a, 2)])));
  print();
  print(table(['difference (paired per round)', 'p50', 'p90'], [
    ['SW path cost, embeddings  (b − c)', fmt(p50(relayEmb), 3), fmt(p90(relayEmb), 3)],
    ['SW path cost, /models     (e1 − e2)', fmt(p50(relayModels), 3), fmt(p90(relayModels), 3)],
    ['relay beyond a bare SW fetch, embeddings (b − c − a)', fmt(p50(overEmb), 3), fmt(p90(overEmb), 3)],
    ['relay beyond a bare SW fetch, /models    (e1 − e2 − a)', fmt(p50(overModels), 3), fmt(p90(overModels), 3)],
    ['API layer over the worker call (c − d)', fmt(p50(apiOverWorker), 3), fmt(p90(apiOverWorker), 3)],
  ]));
  print();
  print(`relay adds ${fmt(p50(overEmb), 3)} ms (embeddings) / ${fmt(p50(overModels), 3)} ms (/models) over a bare SW fetch ` +
    `of ${fmt(a, 3)} ms (goal < 0.5 ms; medians of paired per-round differences)`);
  print();

  print(`2. Throughput: ${opts.batch} inputs per request`);
  const tpRows = [
    ['i   browser  fetch → SW → host → worker', T.sw, T.worker, 'browser worker'],
    ['ii  browser  hearth.handle (no SW)', T.handle, T.worker, 'browser worker'],
    ['    browser  engine.run() (worker, Comlink)', T.worker, T.worker, 'browser worker'],
    ['iv  Node     createApi handle + EmbeddingsService', T.nodeApi, T.nodeDirect, 'Node session.run'],
    ['iii Node     onnxruntime-web session.run (bare)', T.nodeDirect, T.nodeDirect, 'Node session.run'],
  ];
  print(table(['path', 'ms/batch p50', 'p90', 'inputs/s', 'tokens/s', '(inputs/s from mean)', 'throughput ÷', 'of'],
    tpRows.map(([name, t, base, baseName]) => [name, fmt(t.perBatch, 2), fmt(t.p90, 2), fmt(t.inputsPerS, 0), fmt(t.tokensPerS, 0),
      fmt(t.inputsPerSMean, 0), fmt(t.inputsPerS / base.inputsPerS, 3), baseName])));
  print('inputs/s and tokens/s from the median batch time; tokens are real (unpadded) prompt tokens.');
  print();
  print(`API / direct (Node):          ${fmt(ratios.apiOverDirectNode, 3)}  (the API keeps ${fmt(100 * ratios.apiOverDirectNode, 1)}% of bare session.run throughput)`);
  print(`SW / handle (browser):        ${fmt(ratios.swOverHandleBrowser, 3)}`);
  print(`handle / worker (browser):    ${fmt(ratios.handleOverWorkerBrowser, 3)}`);
  print(`browser worker / Node direct: ${fmt(T.worker.inputsPerS / T.nodeDirect.inputsPerS, 3)}  (different thread counts and runtimes: informative only)`);
  print();
  if (result.coalesce) {
    const c = result.coalesce;
    print('3. Coalescing: 32 one-sentence requests sent concurrently vs one by one (ms for all 32, p50 of 10 rounds)');
    print(table(['path', 'concurrent', 'one by one', 'throughput gain'], [
      ['browser, fetch via SW', fmt(p50(c.swConcurrent)), fmt(p50(c.swSequential)), `${fmt(p50(c.swSequential) / p50(c.swConcurrent))}×`],
      ['Node, createApi handle', fmt(p50(c.nodeConcurrent)), fmt(p50(c.nodeSequential)), `${fmt(p50(c.nodeSequential) / p50(c.nodeConcurrent))}×`],
      ...(c.nodeFixedConcurrent?.length ? [['Node, previous policy (fixed 2 ms window)', fmt(p50(c.nodeFixedConcurrent)), fmt(p50(c.nodeFixedSequential)),
        `${fmt(p50(c.nodeFixedSequential) / p50(c.nodeFixedConcurrent))}×`]] : []),
    ]));
    if (c.nodeJobs?.length) print(`Node: the 32 concurrent requests ran as ${fmt(p50(c.nodeJobs), 0)} job(s) (p50). An idle engine runs a request on the next event-loop turn; a busy one coalesces what arrives meanwhile.`);
    print();
  }
  print(`checks (untimed): batch via SW HTTP ${browserCheck.status} on ${browserCheck.backend}, usage ${JSON.stringify(browserCheck.usage)}; ` +
    `Node API usage ${JSON.stringify(nodeCheck.usage)}; bare-session tokens ${tokens}; ` +
    `batch[0] max |browser − Node| ${fmt(Math.max(...browserCheck.first.map((x, i) => Math.abs(x - nodeCheck.first[i]))), 7)}; ` +
    `short input max |SW − handle| ${fmt(lat.check.maxDiffSwVsHandle, 7)}, |SW − worker| ${fmt(lat.check.maxDiffSwVsWorker, 7)}`);
}

const summary = (v) => ({ p50: p50(v), p90: p90(v), p10: quantile(v, 0.1), mean: sum(v) / v.length, min: Math.min(...v), max: Math.max(...v), n: v.length });
const round3 = (v) => v.map((x) => Math.round(x * 1000) / 1000);

/** What latest.json keeps under `embeddings`. */
export function embeddingsJson(result) {
  const { opts, loadMs, lat, tp, direct } = result;
  const { L, T, relayEmb, relayModels, overEmb, overModels, apiOverWorker, ratios } = derive(result);
  return {
    config: { model: MODEL_ID, ...opts, shortText: SHORT_TEXT, batchTokens: direct.promptTokens, paddedShape: direct.paddedShape },
    ortDevice: lat.check.backend,
    modelLoadMs: loadMs,
    latency: {
      variants: Object.fromEntries(Object.entries(L).map(([k, v]) => [k, summary(v)])),
      paired: {
        swPathEmbeddings: summary(relayEmb), swPathModels: summary(relayModels),
        relayOverBareSwEmbeddings: summary(overEmb), relayOverBareSwModels: summary(overModels),
        apiOverWorker: summary(apiOverWorker),
      },
      samplesMs: Object.fromEntries(Object.entries(L).map(([k, v]) => [k, round3(v)])),
      check: lat.check,
    },
    throughput: {
      variants: Object.fromEntries(Object.entries(T).map(([k, t]) => [k, { ...t, batch: summary(tp[k]) }])),
      ratios,
      samplesMs: Object.fromEntries(Object.entries(tp).map(([k, v]) => [k, round3(v)])),
    },
    coalescing: result.coalesce && Object.fromEntries(Object.entries(result.coalesce).map(([k, v]) => [k, summary(v)])),
  };
}

// The LLM decode bench (run by bench/run.mjs): one greedy completion job on a built-in model (the tiny Llama, then
// the real stories260K: bench/workload.mjs LLM_WORKLOADS) through six paths, interleaved in rounds (each round runs all six back to back, so machine noise hits them alike):
//   browser (devices=wasm): fetch → SW → host → worker as SSE · hearth.handle as SSE (no SW) · the worker engine's
//   own stream (Comlink);  Node: createApi handle as SSE · LlmService.run · a bare session.run greedy loop.
// Decode rate = (completion_tokens − 1) ÷ (time of the last token's chunk − time of the first content chunk), i.e.
// the tokens decoded after the first; TTFT = request sent → first content chunk. Medians; ratios, not thresholds.
import { llmRounds } from './in-page-llm.mjs';
import { apiRun, bareLoop, engineRun, nodeLlmApi } from './node-llm.mjs';
import { diff, fmt, p50, p90, quantile, sum, table } from './stats.mjs';
import { LLM_MAX_TOKENS } from './workload.mjs';

export const LLM_DEFAULTS = { rounds: 10, warmup: 2, maxTokens: LLM_MAX_TOKENS };

const VARIANTS = {
  browserSw: { label: 'A  browser  fetch → SW → host → worker (SSE)', base: 'browserEngine' },
  browserHandle: { label: 'B  browser  hearth.handle (SSE, no SW)', base: 'browserEngine' },
  browserEngine: { label: 'C  browser  engine.run() stream (worker, Comlink)', base: 'browserEngine' },
  nodeApi: { label: 'D  Node     createApi handle + LlmService (SSE)', base: 'nodeEngine' },
  nodeEngine: { label: 'E  Node     LlmService.run stream', base: 'nodeEngine' },
  nodeBare: { label: 'F  Node     bare session.run greedy loop (KV fed back)', base: 'nodeEngine' },
};

/**
 * Runs the rounds of one workload ({ model, prompt: token ids, contextLength }) on an open host page (devices=wasm)
 * and in Node; returns the raw samples and checks.
 */
export async function runLlm({ page, mods, opts, log, workload }) {
  const { model: modelId, prompt } = workload;
  const body = { model: modelId, prompt, max_tokens: opts.maxTokens, temperature: 0, seed: 0 };
  // The handler's own translation of the body (16 = its max_tokens default), so the engine paths run the API's job.
  const params = mods.generationParams(body, 16);
  const entry = new mods.ModelRegistry().find(modelId);
  const job = () => ({ kind: 'completion', entry, prompts: [prompt], images: [], params });

  // Model loads, untimed below: a one-token request in the page, LlmService.load and a bare session in Node.
  const browserLoadMs = await page.evaluate(async (body) => {
    const t0 = performance.now();
    const res = await fetch('/inference/v1/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, max_tokens: 1 }) });
    if (!res.ok) throw new Error(`first completions request: HTTP ${res.status} ${await res.text()}`);
    await res.arrayBuffer();
    return performance.now() - t0;
  }, body);
  const { handle, llm } = nodeLlmApi(mods);
  let t0 = performance.now();
  const loaded = await llm.load(entry);
  const nodeLoadMs = performance.now() - t0;
  t0 = performance.now();
  const bare = await bareLoop(mods, entry);
  const bareLoadMs = performance.now() - t0;

  log(`llm decode ${modelId}: ${opts.warmup} warm-up + ${opts.rounds} interleaved rounds of 6 variants (${opts.maxTokens} tokens each)`);
  const samples = Object.fromEntries(Object.keys(VARIANTS).map((k) => [k, []]));
  const texts = Object.fromEntries(Object.keys(VARIANTS).map((k) => [k, new Set()]));
  const extra = { swReads: [], swChunks: [], backends: new Set() };
  const keep = (name, r, run) => {
    texts[name].add(run.text);
    if (r >= opts.warmup) samples[name].push({ ttftMs: run.ttftMs, decodeMs: run.decodeMs, totalMs: run.totalMs, tokens: run.tokens });
  };
  for (let r = 0; r < opts.warmup + opts.rounds; r++) {
    const inPage = await page.evaluate(llmRounds, { rounds: 1, body, params, prompt });
    const api = await apiRun(handle, body);
    const eng = await engineRun(llm, job());
    const b = await bare.run(prompt, eng.tokens);
    keep('browserSw', r, inPage.sw[0]);
    keep('browserHandle', r, inPage.handle[0]);
    keep('browserEngine', r, inPage.engine[0]);
    keep('nodeApi', r, api);
    keep('nodeEngine', r, eng);
    keep('nodeBare', r, { ...b, text: bare.tokenizer.decode(b.ids) });
    extra.swReads.push(inPage.sw[0].reads);
    extra.swChunks.push(inPage.sw[0].chunks);
    for (const v of [inPage.sw[0], inPage.handle[0], inPage.engine[0]]) extra.backends.add(v.backend);
  }
  await bare.release();

  const allTexts = new Set(Object.values(texts).flatMap((s) => [...s]));
  return {
    workload, opts, body, params,
    loadMs: { browser: browserLoadMs, nodeService: nodeLoadMs, nodeBare: bareLoadMs },
    nodeBackend: `${loaded.backend}/${loaded.device}`,
    bareShape: bare.shape,
    samples,
    checks: {
      sameTextEverywhere: allTexts.size === 1,
      distinctTexts: Object.fromEntries(Object.entries(texts).map(([k, s]) => [k, s.size])),
      textChars: [...allTexts][0]?.length ?? 0,
      tokens: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, [...new Set(v.map((s) => s.tokens))]])),
      browserBackends: [...extra.backends],
      swSseChunksP50: p50(extra.swChunks),
      swPageReadsP50: p50(extra.swReads),
    },
  };
}

const rate = (s) => ((s.tokens - 1) * 1000) / s.decodeMs;
const msPerToken = (s) => s.decodeMs / (s.tokens - 1);

function derive(result) {
  const S = result.samples;
  const col = (k, f) => S[k].map(f);
  const V = Object.fromEntries(Object.keys(S).map((k) => {
    const rates = col(k, rate);
    return [k, {
      ttft: col(k, (s) => s.ttftMs), decode: col(k, (s) => s.decodeMs), rates, msPerToken: col(k, msPerToken),
      tokensPerS: p50(rates),
    }];
  }));
  // Ratio of the median rates, and the median of per-round ratios (the rounds pair the variants).
  // The best run (fastest) is the one least disturbed by other processes on a shared machine.
  const ratio = (a, b) => ({
    ofMedians: V[a].tokensPerS / V[b].tokensPerS,
    pairedP50: p50(V[a].rates.map((x, i) => x / V[b].rates[i])),
    ofBest: Math.max(...V[a].rates) / Math.max(...V[b].rates),
    msPerTokenDiff: diff(V[a].msPerToken, V[b].msPerToken),
    ttftDiff: diff(V[a].ttft, V[b].ttft),
  });
  const pairs = {
    swOverEngineBrowser: ['browserSw', 'browserEngine', 'API via SW / engine          (browser, A ÷ C)'],
    handleOverEngineBrowser: ['browserHandle', 'browserEngine', 'hearth.handle / engine       (browser, B ÷ C)'],
    swOverHandleBrowser: ['browserSw', 'browserHandle', 'API via SW / hearth.handle   (browser, A ÷ B)'],
    apiOverEngineNode: ['nodeApi', 'nodeEngine', 'createApi handle / LlmService (Node, D ÷ E)'],
    engineOverBareNode: ['nodeEngine', 'nodeBare', 'LlmService / bare loop       (Node, E ÷ F)'],
    apiOverBareNode: ['nodeApi', 'nodeBare', 'createApi handle / bare loop (Node, D ÷ F)'],
  };
  const R = Object.fromEntries(Object.entries(pairs).map(([k, [a, b, label]]) => [k, { label, a, b, ...ratio(a, b) }]));
  return { V, R };
}

/** The printed report (lines appended with `print`). */
export function reportLlm(result, print) {
  const { opts, params, loadMs, checks, bareShape, workload } = result;
  const { V, R } = derive(result);
  const tokens = [...new Set(Object.values(checks.tokens).flat())];
  print(`LLM DECODE — model ${workload.model} (context ${workload.contextLength}, vocab ${bareShape.vocab.toLocaleString('en-US')}, ${bareShape.layers} layers), ` +
    `/completions prompt ${JSON.stringify(workload.prompt)}, temperature ${params.sampling.temperature}, max_tokens ${params.maxTokens} → ` +
    `${tokens.join('/')} completion tokens; devices: browser ${checks.browserBackends.join('/')} (LLM worker), Node ${result.nodeBackend} (1 thread).`);
  print(`Rounds: ${opts.rounds} after ${opts.warmup} warm-up; each round runs A–F back to back. Model load (untimed): browser ${fmt(loadMs.browser, 0)} ms ` +
    `(first request), Node LlmService ${fmt(loadMs.nodeService, 0)} ms, bare session ${fmt(loadMs.nodeBare, 0)} ms.`);
  print('Decode rate = (completion_tokens − 1) ÷ (last token\'s chunk − first content chunk); TTFT = request sent → first content chunk.');
  print();

  print('1. Decode rate and time to first token');
  print(table(['path', 'TTFT p50 ms', 'p90', 'decode ms p50', 'ms/token p50', 'tokens/s p50', 'p10', 'p90', 'best', 'tokens/s ÷', 'of'],
    Object.entries(VARIANTS).map(([k, { label, base }]) => {
      const v = V[k];
      return [label, fmt(p50(v.ttft), 2), fmt(p90(v.ttft), 2), fmt(p50(v.decode), 1), fmt(p50(v.msPerToken), 3),
        fmt(v.tokensPerS, 0), fmt(quantile(v.rates, 0.1), 0), fmt(quantile(v.rates, 0.9), 0), fmt(Math.max(...v.rates), 0),
        fmt(v.tokensPerS / V[base].tokensPerS, 3), base === 'browserEngine' ? 'C' : 'E'];
    })));
  print('tokens/s: median (p10, p90, best) of per-run rates; ÷ compares medians.');
  print();

  print('2. Decode-rate ratios, and what each layer adds per token and to TTFT (Δ: paired per-round differences)');
  print(table(['ratio of decode tokens/s', 'of medians', 'paired p50', 'of best runs', 'Δ ms/token p50', 'p90', 'Δ TTFT ms p50', 'p90'],
    Object.values(R).map((x) => [x.label, fmt(x.ofMedians, 3), fmt(x.pairedP50, 3), fmt(x.ofBest, 3), fmt(p50(x.msPerTokenDiff), 3), fmt(p90(x.msPerTokenDiff), 3),
      fmt(p50(x.ttftDiff), 2), fmt(p90(x.ttftDiff), 2)])));
  print();
  const sw = R.swOverEngineBrowser;
  print(`API (SSE via the service worker) / engine decode rate: ${fmt(sw.ofMedians, 3)} (paired ${fmt(sw.pairedP50, 3)}, best runs ${fmt(sw.ofBest, 3)}; goal ≥ 0.98: ` +
    `${sw.ofMedians >= 0.98 ? 'met' : 'not met'}); TTFT overhead API − engine ${fmt(p50(sw.ttftDiff), 2)} ms (handle − engine ${fmt(p50(R.handleOverEngineBrowser.ttftDiff), 2)} ms).`);
  const eb = R.engineOverBareNode;
  print(`LlmService / bare session.run loop (Node): ${fmt(eb.ofMedians, 3)} — sampling, detokenizing, stop checks and the decoder's ` +
    `feeds cost ${fmt(p50(eb.msPerTokenDiff), 3)} ms per token over a bare argmax loop on a ${bareShape.vocab.toLocaleString('en-US')}-token vocab.`);
  print(`browser engine / Node LlmService: ${fmt(V.browserEngine.tokensPerS / V.nodeEngine.tokensPerS, 3)} (different thread counts and runtimes: informative only)`);
  print();
  print(`checks (untimed): same text on all six paths in every round: ${checks.sameTextEverywhere ? 'yes' : `NO (${JSON.stringify(checks.distinctTexts)})`} ` +
    `(${checks.textChars} chars); completion tokens ${JSON.stringify(checks.tokens)}; SW stream: ${fmt(checks.swSseChunksP50, 0)} SSE chunks ` +
    `arriving in ${fmt(checks.swPageReadsP50, 0)} page reads (p50).`);
}

const summary = (v) => ({ p50: p50(v), p90: p90(v), p10: quantile(v, 0.1), mean: sum(v) / v.length, min: Math.min(...v), max: Math.max(...v), n: v.length });
const round3 = (v) => v.map((x) => Math.round(x * 1000) / 1000);

/** What latest.json keeps under `llm`. */
export function llmJson(result) {
  const { opts, body, params, loadMs, checks, samples, nodeBackend, bareShape, workload } = result;
  const { V, R } = derive(result);
  return {
    config: { model: workload.model, request: body, params, ...opts, decodeRate: '(completion_tokens - 1) / (last token chunk - first content chunk)' },
    devices: { browser: checks.browserBackends, node: nodeBackend, bareShape },
    modelLoadMs: loadMs,
    variants: Object.fromEntries(Object.entries(V).map(([k, v]) => [k, {
      label: VARIANTS[k].label.replace(/^\S+\s+/, ''),
      tokensPerS: v.tokensPerS, rate: summary(v.rates), ttftMs: summary(v.ttft), decodeMs: summary(v.decode), msPerToken: summary(v.msPerToken),
    }])),
    ratios: Object.fromEntries(Object.entries(R).map(([k, x]) => [k, {
      of: `${x.a} / ${x.b}`, ofMedians: x.ofMedians, pairedP50: x.pairedP50, ofBest: x.ofBest,
      msPerTokenDiff: summary(x.msPerTokenDiff), ttftDiffMs: summary(x.ttftDiff),
    }])),
    goal: { swOverEngineBrowser: 0.98, met: R.swOverEngineBrowser.ofMedians >= 0.98 },
    checks,
    samples: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, {
      ttftMs: round3(v.map((s) => s.ttftMs)), decodeMs: round3(v.map((s) => s.decodeMs)), tokens: v.map((s) => s.tokens),
    }])),
  };
}

/** The workloads side by side: decode tokens/s of the engine (C) and of SSE through the service worker (A). */
export function reportLlmSideBySide(results, print) {
  print('LLM DECODE, side by side (browser, devices=wasm; medians of per-run rates)');
  print(table(['model', 'layers', 'vocab', 'tokens', 'engine C tokens/s', 'SSE via SW A tokens/s', 'A ÷ C', 'TTFT A ms', 'TTFT C ms'],
    results.map((r) => {
      const { V } = derive(r);
      const tokens = [...new Set(Object.values(r.checks.tokens).flat())].join('/');
      return [r.workload.model, String(r.bareShape.layers), r.bareShape.vocab.toLocaleString('en-US'), tokens,
        fmt(V.browserEngine.tokensPerS, 0), fmt(V.browserSw.tokensPerS, 0), fmt(V.browserSw.tokensPerS / V.browserEngine.tokensPerS, 3),
        fmt(p50(V.browserSw.ttft), 2), fmt(p50(V.browserEngine.ttft), 2)];
    })));
}

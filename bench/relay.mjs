// The relay bench (run by bench/run.mjs, `--only=relay`): what the service-worker relay adds over a bare
// service-worker fetch, on the two paths side by side in one run — the API worker (the default: SW → API worker →
// engine workers) and the main-thread path (`?apiworker=0`: SW → host page's main thread → engine workers, the path
// before the API worker). Each path has its own browser context (its own service worker and host election), opened
// at once; the order of the paths rotates from round to round so machine noise hits them alike. Then the same with
// the host page's main thread busy (a janky UI: 200 ms of blocking work every 250 ms), measured from a second tab.
// With `--relay-baseline=REF` (run.mjs), a third path in the same rounds: the API worker path of the app as built
// from git REF (served on its own port), so a change to the relay is measured before and after side by side.
import { openHost } from './browser.mjs';
import { relayLatencyRound, relayProbe, startBusyLoop, stopBusyLoop } from './in-page-relay.mjs';
import { diff, fmt, p50, p90, table } from './stats.mjs';
import { MODEL_ID, SHORT_TEXT } from './workload.mjs';

export const RELAY_DEFAULTS = { rounds: 20, reps: 10, warmup: 2, busyRounds: 4, busyCount: 10, busyMs: 200, busyEveryMs: 250 };

/**
 * The paths measured: `baseline` ({ baseUrl, commit }: the app built from an earlier commit, served apart) adds its
 * API worker path, measured in the latency rounds only (not under a busy main thread).
 */
function relayPaths(baseUrl, baseline) {
  const paths = {
    worker: { label: 'API worker (default)', baseUrl, query: 'devices=wasm', busy: true },
    main: { label: 'main thread (apiworker=0)', baseUrl, query: 'devices=wasm&apiworker=0', busy: true },
  };
  if (baseline) paths.before = { label: `API worker at ${baseline.commit.slice(0, 8)} (before)`, baseUrl: baseline.baseUrl, query: 'devices=wasm', busy: false };
  return paths;
}

export async function runRelay({ browser, baseUrl, opts, log, baseline }) {
  const paths = relayPaths(baseUrl, baseline);
  const pages = {};
  for (const [key, { query, baseUrl: url, busy }] of Object.entries(paths)) {
    log(`relay: opening ${url}/?${query} (own context)${busy ? ' and a second tab' : ''}`);
    const host = await openHost(browser, url, query);
    pages[key] = { host };
    if (!busy) continue;
    const client = await host.context.newPage();
    await client.goto(`${url}/?${query}`);
    await client.waitForFunction(() => Boolean(navigator.serviceWorker.controller) && window.hearth !== undefined, undefined, { timeout: 60_000 });
    if (await client.evaluate(() => window.hearth.host?.isHost())) throw new Error('relay bench: the second tab became host');
    pages[key].client = client;
  }
  const keys = Object.keys(paths);
  const args = { reps: opts.reps, model: MODEL_ID, text: SHORT_TEXT };
  const samples = Object.fromEntries(keys.map((k) => [k, {}]));
  log(`relay latency: ${opts.warmup} warm-up + ${opts.rounds} rounds × ${opts.reps} reps per path, the paths' order rotating`);
  for (let r = 0; r < opts.warmup + opts.rounds; r++) {
    for (const key of [...keys.slice(r % keys.length), ...keys.slice(0, r % keys.length)]) {
      const times = await pages[key].host.page.evaluate(relayLatencyRound, args);
      if (r < opts.warmup) continue;
      for (const [name, v] of Object.entries(times)) (samples[key][name] ??= []).push(...v);
    }
  }

  const busyKeys = keys.filter((k) => paths[k].busy);
  const busy = Object.fromEntries(busyKeys.map((k) => [k, { unknownRoute: [], embeddings: [] }]));
  const idleProbe = Object.fromEntries(busyKeys.map((k) => [k, { unknownRoute: [], embeddings: [] }]));
  log(`relay under a busy host main thread: ${opts.busyRounds} rounds × ${opts.busyCount} requests from a second tab, per path, busy and idle`);
  for (let r = 0; r < opts.busyRounds; r++) {
    for (const key of r % 2 ? [...busyKeys].reverse() : busyKeys) {
      const { host, client } = pages[key];
      const probe = { count: opts.busyCount, gapMs: opts.busyEveryMs, model: MODEL_ID, text: SHORT_TEXT };
      const idle = await client.evaluate(relayProbe, probe);
      await host.page.evaluate(startBusyLoop, { busyMs: opts.busyMs, everyMs: opts.busyEveryMs });
      const loaded = await client.evaluate(relayProbe, probe).finally(() => host.page.evaluate(stopBusyLoop));
      for (const name of Object.keys(loaded)) {
        busy[key][name].push(...loaded[name]);
        idleProbe[key][name].push(...idle[name]);
      }
    }
  }
  // The unknown-route requests are 404s by design; Chromium logs each as a console error.
  const errors = Object.fromEntries(keys.map((k) => [k, pages[k].host.errors.filter((e) => !e.includes('status of 404'))]));
  for (const { host } of Object.values(pages)) await host.context.close();
  const labels = Object.fromEntries(keys.map((k) => [k, paths[k].label]));
  return { opts, labels, baseline: baseline?.commit ?? null, samples, busy, idleProbe, errors };
}

function derive({ samples }) {
  const over = (key, name) => diff(samples[key][name], samples[key].ping);
  return Object.fromEntries(Object.keys(samples).map((k) => [k, {
    unknownRoute: over(k, 'unknownRoute'), models: over(k, 'models'), embeddings: over(k, 'embeddings'),
  }]));
}

export function reportRelay(result, print) {
  const { opts, labels, samples, busy, idleProbe } = result;
  const keys = Object.keys(labels);
  const busyKeys = Object.keys(busy);
  const d = derive(result);
  print(`RELAY — the service worker's relay, API worker vs main thread, side by side (${opts.rounds} rounds × ${opts.reps} reps per path ` +
    `after ${opts.warmup} warm-up rounds, the paths' order rotating; ms measured in the host page; devices=wasm, model ${MODEL_ID})`);
  print();
  print('1. Latency (ms, p50 / p90)');
  const row = (name, pick) => [name, ...keys.flatMap((k) => [fmt(p50(pick(k)), 3), fmt(p90(pick(k)), 3)])];
  print(table(['path', ...keys.flatMap((k) => [`${labels[k]} p50`, 'p90'])], [
    row('a  bare SW fetch (/_hearth/sw-ping, answered in the SW)', (k) => samples[k].ping),
    row('b  unknown route → 404 from handle() (relay only)', (k) => samples[k].unknownRoute),
    row('c  GET /models', (k) => samples[k].models),
    row('e  POST /embeddings (tiny, engine worker too)', (k) => samples[k].embeddings),
    row('relay over a bare SW fetch (b − a, paired)', (k) => d[k].unknownRoute),
    row('GET /models over a bare SW fetch (c − a, paired)', (k) => d[k].models),
    row('embeddings over a bare SW fetch (e − a, paired)', (k) => d[k].embeddings),
  ]));
  print();
  const w = p50(d.worker.unknownRoute);
  const m = p50(d.main.unknownRoute);
  print(`relay over a bare SW fetch (p50 of paired differences): API worker ${fmt(w, 3)} ms, main thread ${fmt(m, 3)} ms ` +
    `(${fmt(m - w, 3)} ms less; ratio ${fmt(w / m, 2)}); embeddings ${fmt(p50(d.worker.embeddings), 3)} vs ${fmt(p50(d.main.embeddings), 3)} ms`);
  if (d.before) {
    const b = p50(d.before.unknownRoute);
    print(`before → after (API worker path, same rounds): relay over a bare SW fetch ${fmt(b, 3)} → ${fmt(w, 3)} ms ` +
      `(ratio ${fmt(w / b, 2)}); GET /models ${fmt(p50(d.before.models), 3)} → ${fmt(p50(d.worker.models), 3)} ms; ` +
      `embeddings ${fmt(p50(d.before.embeddings), 3)} → ${fmt(p50(d.worker.embeddings), 3)} ms (before: ${result.baseline})`);
  }
  print();
  print(`2. A busy host main thread (${opts.busyMs} ms of blocking work every ${opts.busyEveryMs} ms), requests from a second tab ` +
    `at random moments (${opts.busyRounds} × ${opts.busyCount} per path; ms, p50 / p90 / max)`);
  const stats = (v) => `${fmt(p50(v), 1)} / ${fmt(p90(v), 1)} / ${fmt(Math.max(...v), 1)}`;
  print(table(['request', ...busyKeys.flatMap((k) => [`${labels[k]} idle`, 'busy'])], [
    ['unknown route (404)', ...busyKeys.flatMap((k) => [stats(idleProbe[k].unknownRoute), stats(busy[k].unknownRoute)])],
    ['POST /embeddings', ...busyKeys.flatMap((k) => [stats(idleProbe[k].embeddings), stats(busy[k].embeddings)])],
  ]));
  for (const [k, errors] of Object.entries(result.errors)) if (errors.length) print(`page errors, ${labels[k]}: ${errors.slice(0, 3).join(' | ')}`);
}

export function relayJson(result) {
  const d = derive(result);
  const pick = (v) => ({ p50: p50(v), p90: p90(v), max: Math.max(...v), n: v.length });
  return {
    opts: result.opts,
    paths: result.labels,
    baseline: result.baseline,
    overBareSwFetch: Object.fromEntries(Object.entries(d).map(([k, v]) => [k, Object.fromEntries(Object.entries(v).map(([n, s]) => [n, pick(s)]))])),
    latency: Object.fromEntries(Object.entries(result.samples).map(([k, v]) => [k, Object.fromEntries(Object.entries(v).map(([n, s]) => [n, pick(s)]))])),
    busy: Object.fromEntries(Object.entries(result.busy).map(([k, v]) => [k, Object.fromEntries(Object.entries(v).map(([n, s]) => [n, pick(s)]))])),
    idleProbe: Object.fromEntries(Object.entries(result.idleProbe).map(([k, v]) => [k, Object.fromEntries(Object.entries(v).map(([n, s]) => [n, pick(s)]))])),
    pageErrors: result.errors,
  };
}

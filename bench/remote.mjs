// `node bench/remote.mjs`: what Hearth's pass-through to a remote costs. A `hearth serve` on a free port is the
// remote; the same requests go to it directly (fetch) and through a Hearth API whose remote it is (handle(), policy
// `remote`: local validation, dispatch, forward, relay), interleaved round by round in one run. Reported per request
// kind: median and p90 latency both ways (time to the first SSE event for streams) and the paired median overhead.
// Nothing passes or fails; results go to bench/results/remote.json.
//
//   node bench/remote.mjs [--rounds=30] [--warmup=10]
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { build } from 'vite';
import { diff, fmt, p50, p90, table } from './stats.mjs';

const ROOT = new URL('../', import.meta.url).pathname;
const OUT = `${ROOT}bench/.build/remote`;
const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const rounds = Number(args.rounds ?? 30);
const warmup = Number(args.warmup ?? 10);

await build({
  root: ROOT, configFile: false, publicDir: false, logLevel: 'warn', mode: 'production',
  build: {
    ssr: true, target: 'node20', outDir: OUT, emptyOutDir: true, minify: false,
    rollupOptions: {
      input: { serve: `${ROOT}src/server/serve.ts`, handle: `${ROOT}src/api/handle.ts`, remotes: `${ROOT}src/api/remote/remotes.ts`, registry: `${ROOT}src/models/registry.ts` },
      output: { format: 'es', entryFileNames: '[name].mjs', chunkFileNames: '[name]-[hash].mjs' },
    },
  },
});
const { startServer } = await import(`${OUT}/serve.mjs`);
const { createApi } = await import(`${OUT}/handle.mjs`);
const { Remotes } = await import(`${OUT}/remotes.mjs`);
const { ModelRegistry } = await import(`${OUT}/registry.mjs`);

const remote = await startServer({ port: 0, modelDir: `${ROOT}public` });
const hearth = createApi({
  registry: new ModelRegistry(),
  engines: { embeddings: () => none(), llm: () => none(), image: () => none(), loaded: async () => new Map() },
  isDownloaded: async () => false,
  remotes: new Remotes([{ name: 'bench', baseURL: remote.baseURL, policy: 'remote' }]),
  localEngines: false,
});
function none() { throw new Error('this bench has no local engine'); }

const SDXL = '/image_generation/accounts/fireworks/models/stable-diffusion-xl-1024-v1-0';
const CASES = {
  'models (GET)': { method: 'GET', path: '/models' },
  'embeddings (1 input)': { path: '/embeddings', body: { model: 'hearth/tiny-embed', input: 'a hearth in the night' } },
  'chat, SSE first event': { path: '/chat/completions', stream: true, body: { model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 16, seed: 1, stream: true } },
  'chat, SSE whole stream': { path: '/chat/completions', body: { model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 16, seed: 1, stream: true } },
  'image PNG (64², 10 steps)': { path: SDXL, headers: { accept: 'image/png' }, body: { model: 'hearth/tiny-sdxl', text_prompts: [{ text: 'a hearth' }], seed: 1, steps: 10 } },
};

async function once(c, viaHearth) {
  const init = {
    method: c.method ?? 'POST',
    headers: { ...(c.body && { 'content-type': 'application/json' }), ...c.headers },
    body: c.body && JSON.stringify(c.body),
  };
  const t0 = performance.now();
  const res = viaHearth
    ? await hearth(new Request(`http://hearth.local/inference/v1${c.path}`, init))
    : await fetch(`${remote.baseURL}${c.path}`, init);
  if (!res.ok) throw new Error(`${c.path}: ${res.status} ${await res.text()}`);
  const reader = res.body.getReader();
  let first = null;
  for (;;) {
    const { done } = await reader.read();
    first ??= performance.now() - t0;
    if (done || c.stream) break;
  }
  if (c.stream) await reader.cancel();
  return c.stream ? first : performance.now() - t0;
}

const results = {};
for (const [name, c] of Object.entries(CASES)) {
  const direct = [];
  const through = [];
  for (let i = 0; i < warmup + rounds; i++) {
    // Alternate who goes first, so neither always meets a warm or a cold remote.
    const pair = i % 2 ? [await once(c, true), await once(c, false)] : [await once(c, false), await once(c, true)].reverse();
    if (i < warmup) continue;
    through.push(pair[0]);
    direct.push(pair[1]);
  }
  results[name] = { direct_p50: p50(direct), direct_p90: p90(direct), hearth_p50: p50(through), hearth_p90: p90(through), overhead_p50: p50(diff(through, direct)) };
}
await remote.close();

console.log(`\nRemote pass-through: Hearth (validate, dispatch, forward, relay) vs the remote called directly, ${rounds} rounds, ms\n`);
console.log(table(['request', 'direct p50', 'direct p90', 'via Hearth p50', 'via Hearth p90', 'overhead p50 (paired)'],
  Object.entries(results).map(([k, r]) => [k, fmt(r.direct_p50), fmt(r.direct_p90), fmt(r.hearth_p50), fmt(r.hearth_p90), fmt(r.overhead_p50)])));
mkdirSync(`${ROOT}bench/results`, { recursive: true });
writeFileSync(`${ROOT}bench/results/remote.json`, `${JSON.stringify({ when: new Date().toISOString(), machine: `${os.cpus().length} × ${os.cpus()[0]?.model}`, node: process.version, rounds, results }, null, 2)}\n`);

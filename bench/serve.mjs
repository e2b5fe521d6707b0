// `node bench/serve.mjs` (`npm run bench -- --only=serve`): `hearth serve` on onnxruntime-node (native, CPU execution
// provider, its default thread pool) vs on onnxruntime-web's wasm build in Node (single-threaded), the same built-in
// models and requests over HTTP, two servers in one process, interleaved round by round (who goes first alternates).
// Reported per request kind: median latency both ways (tokens/s for LLM decode, from the SSE events' arrival) and the
// ratio, native over wasm. Each pair's answers are checked equal first (same greedy tokens, same image bytes).
// Timings on this kind of machine are ratios only. Nothing passes or fails; results go to bench/results/serve.json.
//
//   node bench/serve.mjs [--rounds=10] [--warmup=2] [--tokens=64]
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { build } from 'vite';
import { fmt, p50, table } from './stats.mjs';

const ROOT = new URL('../', import.meta.url).pathname;
const OUT = `${ROOT}bench/.build/serve`;
const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const rounds = Number(args.rounds ?? 10);
const warmup = Number(args.warmup ?? 2);
const tokens = Number(args.tokens ?? 64);

await build({
  root: ROOT, configFile: false, publicDir: false, logLevel: 'warn', mode: 'production',
  build: {
    ssr: true, target: 'node20', outDir: OUT, emptyOutDir: true, minify: false,
    rollupOptions: { input: { serve: `${ROOT}src/server/serve.ts` }, output: { format: 'es', entryFileNames: '[name].mjs', chunkFileNames: '[name]-[hash].mjs' } },
  },
});
const { startServer } = await import(`${OUT}/serve.mjs`);

const models = ['hearth/tiny-embed', 'hearth/tiny-llama', 'hearth/stories260k', 'hearth/tiny-sdxl'];
const servers = {
  native: await startServer({ port: 0, modelDir: `${ROOT}public`, models, device: 'cpu' }),
  wasm: await startServer({ port: 0, modelDir: `${ROOT}public`, models, device: 'wasm' }),
};
const runtimes = Object.fromEntries(Object.entries(servers).map(([k, s]) => [k, `${s.engines.runtime.name}: ${s.engines.runtime.devices.join(', ')}`]));

const SDXL = '/image_generation/accounts/fireworks/models/stable-diffusion-xl-1024-v1-0';
const sentences = Array.from({ length: 32 }, (_, i) => `Sentence number ${i} about a hearth, a fire and a quiet evening.`);
const decode = (model, prompt) => ({ path: '/completions', decode: true, body: { model, prompt, max_tokens: tokens, temperature: 0, ignore_eos: true, stream: true } });
const CASES = {
  'embeddings, 1 sentence (ms)': { path: '/embeddings', body: { model: 'hearth/tiny-embed', input: sentences[0] } },
  'embeddings, 32 sentences (ms)': { path: '/embeddings', body: { model: 'hearth/tiny-embed', input: sentences } },
  'tiny Llama decode (tokens/s)': decode('hearth/tiny-llama', 'Once upon a time'),
  'stories260K decode (tokens/s)': decode('hearth/stories260k', 'Once upon a time'),
  'tiny SDXL PNG 64², 10 steps (ms)': { path: SDXL, headers: { accept: 'image/png' }, body: { model: 'hearth/tiny-sdxl', text_prompts: [{ text: 'a hearth' }], seed: 1, steps: 10 } },
};

/** One request: its latency (ms) or, for decode, tokens/s between the first and last token events; and what it answered. */
async function once(server, c) {
  const t0 = performance.now();
  const res = await fetch(`${server.baseURL}${c.path}`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...c.headers }, body: JSON.stringify(c.body),
  });
  if (!res.ok) throw new Error(`${c.path}: ${res.status} ${await res.text()}`);
  if (!c.decode) {
    const bytes = new Uint8Array(await res.arrayBuffer());
    const answer = c.path === '/embeddings' ? JSON.parse(new TextDecoder().decode(bytes)).data.map((d) => d.embedding) : bytes;
    return { value: performance.now() - t0, answer };
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let text = '';
  const stamps = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    const events = buffer.split('\n\n');
    buffer = events.pop();
    for (const e of events) {
      const data = e.replace(/^data: /, '');
      if (data === '[DONE]') continue;
      const piece = JSON.parse(data).choices[0]?.text;
      if (piece) { text += piece; stamps.push(performance.now()); }
    }
  }
  return { value: ((stamps.length - 1) * 1000) / (stamps.at(-1) - stamps[0]), answer: text };
}

/** Whether two answers agree: equal text or bytes, or embeddings within 1e-4. */
function same(a, b) {
  if (typeof a === 'string') return a === b;
  if (a instanceof Uint8Array) return a.length === b.length && a.every((x, i) => x === b[i]);
  return a.every((v, i) => v.every((x, j) => Math.abs(x - b[i][j]) < 1e-4));
}

const results = {};
for (const [name, c] of Object.entries(CASES)) {
  const samples = { native: [], wasm: [] };
  let agree = true;
  for (let i = 0; i < warmup + rounds; i++) {
    const order = i % 2 ? ['wasm', 'native'] : ['native', 'wasm'];
    const got = {};
    for (const k of order) got[k] = await once(servers[k], c);
    agree &&= same(got.native.answer, got.wasm.answer);
    if (i < warmup) continue;
    for (const k of order) samples[k].push(got[k].value);
  }
  const native = p50(samples.native);
  const wasm = p50(samples.wasm);
  // Higher is better for tokens/s, lower for ms: the ratio is always "how many times faster native is".
  results[name] = { native_p50: native, wasm_p50: wasm, native_speedup: c.decode ? native / wasm : wasm / native, answers_equal: agree };
}
for (const s of Object.values(servers)) await s.close();

console.log(`\nhearth serve: onnxruntime-node (CPU EP) vs onnxruntime-web wasm in Node, same models and requests, ${rounds} rounds (p50)`);
console.log(`  native: ${runtimes.native}\n  wasm:   ${runtimes.wasm}\n  load average at the end: ${os.loadavg().map((x) => x.toFixed(1)).join(' ')} on ${os.cpus().length} cores\n`);
console.log(table(['request', 'onnxruntime-node', 'wasm', 'native speed-up', 'same answers'],
  Object.entries(results).map(([k, r]) => [k, fmt(r.native_p50, 1), fmt(r.wasm_p50, 1), `${fmt(r.native_speedup)}×`, r.answers_equal ? 'yes' : 'NO'])));
mkdirSync(`${ROOT}bench/results`, { recursive: true });
writeFileSync(`${ROOT}bench/results/serve.json`, `${JSON.stringify({
  when: new Date().toISOString(), machine: `${os.cpus().length} × ${os.cpus()[0]?.model}`, loadavg: os.loadavg(), node: process.version,
  runtimes, rounds, warmup, tokens, results,
}, null, 2)}\n`);

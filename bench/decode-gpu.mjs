// The decode bench (bench/decode.mjs) on its own, for a GPU machine without node_modules or Vite (recipe:
// ../shared/gpu/README.md). Here:   node bench/decode-gpu.mjs --build     (bundles src/ into bench/.build/node-api)
//                                   bash ../shared/gpu/pack.sh            (.gpu/: node, dawn.node, ORT's WebGPU build)
// Take to the GPU machine the working tree plus .gpu, bench/.build/node-api, node_modules/protobufjs,
// node_modules/@protobufjs and node_modules/long (the ONNX weight reader's only package), then there:
//   bash .gpu/setup.sh && source .gpu/env.sh && .gpu/node bench/decode-gpu.mjs [--decode-ort=0] [--decode-tokens=32]
//     [--decode-rounds=5] [--decode-prefill=64] [--decode-1b-tokens=32]
// It prints the same tables as `npm run bench -- --only=decode` (tokens/s vs onnxruntime-web, roofline, prefill, kernel
// variants; the synthetic Llama-3.2-1B q4 model runs on any real adapter) and writes decode.json to $OUT (or bench/.build/).
// Without .gpu/shim.mjs (this machine) it falls back to Dawn from node_modules on SwiftShader (ratios only).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const args = Object.fromEntries(process.argv.slice(2).map((a) => {
  const [k, v] = a.replace(/^--/, '').split('=');
  return [k, v ?? true];
}));
const API_DIR = `${ROOT}bench/.build/node-api`;

if (args.build) {
  const { buildNodeApi } = await import('./build.mjs');
  await buildNodeApi(API_DIR);
  console.log(`built ${API_DIR}`);
  process.exit(0);
}
if (!existsSync(`${API_DIR}/wgsl-decoder.mjs`)) throw new Error(`${API_DIR} is missing: run \`node bench/decode-gpu.mjs --build\` first`);
if (existsSync(`${ROOT}.gpu/shim.mjs`)) await import(pathToFileURL(`${ROOT}.gpu/shim.mjs`).href);

const { DECODE_DEFAULTS, loadDecodeModules, reportDecode, runDecode } = await import('./decode.mjs');
const num = (k, d) => (args[k] === undefined ? d : Number(args[k]));
const opts = {
  tokens: num('decode-tokens', DECODE_DEFAULTS.tokens),
  rounds: num('decode-rounds', DECODE_DEFAULTS.rounds),
  big: Boolean(args['decode-1b'] ?? DECODE_DEFAULTS.big),
  bigTokens: num('decode-1b-tokens', DECODE_DEFAULTS.bigTokens),
  ort: args['decode-ort'] !== '0',
  prefill: num('decode-prefill', DECODE_DEFAULTS.prefill),
};
const started = performance.now();
const log = (msg) => process.stderr.write(`[decode ${((performance.now() - started) / 1000).toFixed(1)}s] ${msg}\n`);
const result = await runDecode({ mods: await loadDecodeModules(API_DIR), opts, log });
reportDecode(result, (line) => console.log(line));
const outDir = process.env.OUT ?? `${ROOT}bench/.build`;
mkdirSync(outDir, { recursive: true });
writeFileSync(`${outDir}/decode.json`, JSON.stringify({ date: new Date().toISOString(), opts, ...result }, null, 2));
console.log(`wrote ${outDir}/decode.json`);
process.exit(0);

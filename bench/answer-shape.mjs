// Why embeddings' run() answers whole (src/engines/contract.ts): one request's answer across a worker boundary,
// as a whole message vs as a transferred one-event ReadableStream (worker_threads, Node 20), round-trip p50.
// Run: node bench/answer-shape.mjs (not part of npm test or bench/run.mjs).
import { Worker } from 'node:worker_threads';
const src = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', ({ id, mode }) => {
  const result = { vectors: [new Float32Array(64)], promptTokens: 3, backend: 'wasm' };
  if (mode === 'whole') return parentPort.postMessage({ id, result });
  const stream = new ReadableStream({ start(c) { c.enqueue(result); c.close(); } });
  parentPort.postMessage({ id, stream }, [stream]);
});`;
const w = new Worker(src, { eval: true });
let n = 0; const pending = new Map();
w.on('message', (m) => pending.get(m.id)(m));
const call = (mode) => new Promise((r) => { const id = n++; pending.set(id, r); w.postMessage({ id, mode }); });
async function once(mode) {
  const t = performance.now();
  const m = await call(mode);
  if (mode === 'stream') { const reader = m.stream.getReader(); await reader.read(); await reader.read(); }
  return performance.now() - t;
}
const med = (a) => a.sort((x, y) => x - y)[a.length >> 1];
for (let i = 0; i < 200; i++) { await once('whole'); await once('stream'); }
const W = [], S = [];
for (let i = 0; i < 2000; i++) { W.push(await once('whole')); S.push(await once('stream')); }
console.log(`whole p50 ${(med(W) * 1000).toFixed(0)} us, one-event stream p50 ${(med(S) * 1000).toFixed(0)} us`);
await w.terminate();

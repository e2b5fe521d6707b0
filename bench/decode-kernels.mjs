// Per-kernel variants of the WGSL decoder (shaders/llm/*.wgsl), timed alone on the decode bench's device: each variant
// is dispatched `reps` times in one compute pass (after a warm-up submission), time = wall time of the submission ÷
// reps (median of the rounds), bytes = the buffers it must read and write at least once (weights, activations, the KV
// slots it attends to), roofline = bytes ÷ time ÷ the copy bandwidth measured in the same run. Shapes: a Llama-3-8B-ish
// 4096 × 4096 projection, 64 prefill tokens, a 4096-slot cache (32 heads, 8 KV heads, head 64) and a 128,256-token
// vocabulary on a real GPU; 512 × 512, 16 tokens, 512 slots and a 32,000-token vocabulary on SwiftShader (ratios only).
// Sampling and argmax are also timed against the single-workgroup kernels they replaced (bench/baseline/*.wgsl) over a
// 128,256-token vocabulary on every device: the ratio before ÷ after (SwiftShader: a ratio of CPU emulation only).
// Used by bench/decode.mjs (`npm run bench -- --only=decode`).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fmt, p50, table } from './stats.mjs';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const shader = (name) => readFileSync(`${ROOT}shaders/llm/${name}.wgsl`, 'utf8');
const baseline = (name) => readFileSync(`${ROOT}bench/baseline/${name}.wgsl`, 'utf8');
/** Kernels whose reductions come from reduce_workgroup.wgsl or reduce_subgroup.wgsl (as shaders.ts withReductions). */
const REDUCING = new Set(['rmsnorm', 'attention', 'argmax', 'sample']);
const withReductions = (name, subgroups) => (subgroups
  ? `enable subgroups;\n${shader(name)}\n${shader('reduce_subgroup')}` : `${shader(name)}\n${shader('reduce_workgroup')}`);
/** sample.wgsl's and argmax.wgsl's stages [entry, one workgroup per chunk?] and chunk sizes (gpu-sampling.ts). */
const SAMPLER_STAGES = [['prepare', true], ['edit', false], ['sort_chunks', true], ['pick_top_k', false], ['weigh', true], ['pick_nucleus', false], ['draw', false]];
const ARGMAX_STAGES = [['per_chunk', true], ['combine', false]];
const SAMPLER_CHUNK = 1024;
const ARGMAX_CHUNK = 1024;
const SAMPLER_VOCAB = 128256;

function shapes(swiftshader) {
  return swiftshader
    ? { n: 512, k: 512, tokens: 16, ctx: 512, heads: 32, kvHeads: 8, headDim: 64, vocab: 32000, reps: 4, rounds: 2 }
    : { n: 4096, k: 4096, tokens: 64, ctx: 4096, heads: 32, kvHeads: 8, headDim: 64, vocab: 128256, reps: 50, rounds: 5 };
}

export async function kernelRows({ device, copy, swiftshader, log }) {
  const s = shapes(swiftshader);
  const created = [];
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
  const buffer = (bytes, fill) => {
    const b = device.createBuffer({ size: Math.max(16, Math.ceil(bytes / 4) * 4), usage });
    if (fill) {
      const chunk = 1 << 24;
      for (let at = 0; at < b.size; at += chunk) device.queue.writeBuffer(b, at, fill(Math.min(chunk, b.size - at)));
    }
    created.push(b);
    return b;
  };
  let seed = 0x2545f491;
  const randomBytes = (n) => {
    const words = new Uint32Array(n / 4);
    for (let i = 0; i < words.length; i++) {
      seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
      words[i] = seed >>> 0;
    }
    return words;
  };
  const smallFloats = (n) => new Float32Array(n / 4).fill(0.01);
  const randomLogits = (n) => Float32Array.from({ length: n / 4 }, (_, i) => Math.sin(i * 12.9898) * 8);
  const uniform = (words) => {
    const b = device.createBuffer({ size: 256, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    const data = new ArrayBuffer(256);
    const view = new DataView(data);
    words.forEach((w, i) => (typeof w === 'number' ? view.setUint32(4 * i, w, true) : view.setFloat32(4 * i, w.f, true)));
    device.queue.writeBuffer(b, 0, data);
    created.push(b);
    return b;
  };
  const pipelines = new Map();
  const pipeline = async (name, entry) => {
    const key = `${name}:${entry}`;
    if (!pipelines.has(key)) {
      // Subgroup entry points are appended to their kernel's source (as WgslDecoder compiles them).
      const code = name.startsWith('baseline:') ? baseline(name.slice(9))
        : REDUCING.has(name) ? withReductions(name, device.features.has('subgroups'))
          : name === 'gemv' ? `${shader('gemv')}\n${shader('gemv_f32')}`
          : name === 'gemv_subgroup' ? `enable subgroups;\n${shader('gemv')}\n${shader('gemv_subgroup')}\n${shader('gemv_f32')}`
          : name.endsWith('_subgroup') ? `enable subgroups;\n${shader(name.replace('_subgroup', ''))}\n${shader(name)}`
            : name === 'gemm' ? `${shader('gemm')}\n${shader('gemm_f32')}` : shader(name);
      pipelines.set(key, await device.createComputePipelineAsync({ layout: 'auto', compute: { module: device.createShaderModule({ code }), entryPoint: entry } }));
    }
    return pipelines.get(key);
  };
  const info = device.adapterInfo ?? {};
  const subgroups = device.features.has('subgroups') && info.subgroupMaxSize <= 32;
  /** Times a list of [pipeline, bind group, groups] run `reps` times in one pass. */
  const time = async (steps) => {
    const times = [];
    for (let r = 0; r <= s.rounds; r++) {
      const t0 = performance.now();
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      for (let i = 0; i < s.reps; i++) {
        for (const [p, bg, groups] of steps) {
          pass.setPipeline(p);
          pass.setBindGroup(0, bg);
          pass.dispatchWorkgroups(...groups);
        }
      }
      pass.end();
      device.queue.submit([enc.finish()]);
      await device.queue.onSubmittedWorkDone();
      if (r > 0) times.push((performance.now() - t0) / s.reps);
    }
    return p50(times);
  };
  const bind = (p, params, bindings) => device.createBindGroup({
    layout: p.getBindGroupLayout(0),
    entries: [{ binding: 0, resource: { buffer: uniform(params) } }, ...Object.entries(bindings).map(([b, buf]) => ({ binding: Number(b), resource: { buffer: buf } }))],
  });

  const { n, k, tokens: T } = s;
  const blocks = k / 32;
  const f32Weights = buffer(n * k * 4, smallFloats);
  const q4 = buffer(n * k / 2, randomBytes);
  const scales = buffer(n * blocks * 4, smallFloats);
  const zp = buffer(n * Math.ceil(blocks / 2), randomBytes);
  const x = buffer(T * k * 4, smallFloats);
  const out = buffer(T * n * 4);
  const dummy = buffer(16);
  const rows = [];
  const add = async (variant, shape, ms, bytes, perTokens = 1) => {
    rows.push({ variant, shape, ms, bytes, perTokens });
    log(`decode kernels: ${variant} ${shape}: ${fmt(ms, 3)} ms`);
  };
  const q4Bytes = n * k / 2 + n * blocks * 4 + n * Math.ceil(blocks / 2);

  // Batch-1 GEMVs (the decode path): one output group per 4 rows (long rows) as the decoder dispatches them.
  // gemvMs: the workgroup-reduction GEMV's time per layout / format; a GEMM row's vsGemv = that ÷ its time per token
  // (the prefill ratio of one projection).
  const gemvMs = {};
  const gemvs = [['gemv', 'gemv_nk', 4, 'nk'], ['gemv', 'gemv_kn', 64, 'kn'], ...(subgroups ? [['gemv_subgroup', 'gemv_nk_subgroup', 4, 'nk subgroups']] : [])];
  for (const [file, entry, perGroup, label] of gemvs) {
    const p = await pipeline(file, entry);
    const groups = Math.ceil(n / perGroup);
    const ms = await time([[p, bind(p, [k, n, 0, groups], { 1: x, 2: f32Weights, 3: dummy, 4: out }), [groups]]]);
    await add(`gemv f32 ${label}`, `${n}×${k}`, ms, n * k * 4 + (k + n) * 4);
    gemvMs[label] ??= ms;
  }
  for (const [file, entry, label] of [['gemv_q4', 'main', ''], ...(subgroups ? [['gemv_q4_subgroup', 'main_subgroup', ', subgroups']] : [])]) {
    const p = await pipeline(file, entry);
    const groups = Math.ceil(n / 4);
    const ms = await time([[p, bind(p, [k, n, 4, groups, blocks, 32, Math.ceil(blocks / 2), 0], { 1: x, 2: q4, 3: scales, 4: zp, 5: dummy, 6: out }), [groups]]]);
    await add(`gemv q4 (block 32, zero points${label})`, `${n}×${k}`, ms, q4Bytes + (k + n) * 4);
    gemvMs.q4 ??= ms;
  }
  // Prefill GEMMs over T tokens: bytes = the weights once + x + out.
  for (const entry of ['gemm_nk', 'gemm_kn']) {
    const p = await pipeline('gemm', entry);
    const ms = await time([[p, bind(p, [k, n, 0, T], { 1: x, 2: f32Weights, 3: dummy, 4: out, 5: dummy }), [Math.ceil(n / 64), Math.ceil(T / 16)]]]);
    await add(`gemm f32 ${entry.slice(5)}`, `${n}×${k} × ${T} tokens`, ms, n * k * 4 + T * (k + n) * 4, T);
    rows.at(-1).vsGemv = gemvMs[entry.slice(5)] / (ms / T);
  }
  {
    const p = await pipeline('gemm_q4', 'main');
    const ms = await time([[p, bind(p, [k, n, 4, T, blocks, 32, Math.ceil(blocks / 2), 0], { 1: x, 2: q4, 3: scales, 4: zp, 5: dummy, 6: out, 7: dummy }), [Math.ceil(n / 64), Math.ceil(T / 16)]]]);
    await add('gemm q4 (block 32, zero points)', `${n}×${k} × ${T} tokens`, ms, q4Bytes + T * (k + n) * 4, T);
    rows.at(-1).vsGemv = gemvMs.q4 / (ms / T);
  }
  // GGUF blocks (gemv_gguf.wgsl; prefill: gemm_gguf.wgsl appended to it), the module specialised per block type as
  // gguf-kernels.ts does it; random block bytes (timing only).
  for (const [type, rowBytes] of [['Q8_0', (k / 32) * 34], ['Q4_K', (k / 256) * 144], ['Q6_K', (k / 256) * 210]]) {
    const compile = (code, entry) => device.createComputePipelineAsync({ layout: 'auto', compute: { module: device.createShaderModule({ code: code.replaceAll('_TYPE(', `_${type.toLowerCase()}(`) }), entryPoint: entry } });
    const blocksBuf = buffer(n * rowBytes, randomBytes);
    const gemv = await compile(shader('gemv_gguf'), 'gemv');
    const groups = Math.ceil(n / 4);
    const vecMs = await time([[gemv, bind(gemv, [k, n, 0, groups, k / 32, rowBytes, 0, 0], { 1: x, 2: blocksBuf, 3: dummy, 4: out }), [groups]]]);
    await add(`gemv gguf ${type}`, `${n}×${k}`, vecMs, n * rowBytes + (k + n) * 4);
    const gemm = await compile(`${shader('gemv_gguf')}\n${shader('gemm_gguf')}`, 'gemm');
    const ms = await time([[gemm, bind(gemm, [k, n, 0, 0, k / 32, rowBytes, T, 0], { 1: x, 2: blocksBuf, 3: dummy, 4: out, 7: dummy }), [Math.ceil(n / 64), Math.ceil(T / 16)]]]);
    await add(`gemm gguf ${type}`, `${n}×${k} × ${T} tokens`, ms, n * rowBytes + T * (k + n) * 4, T);
    rows.at(-1).vsGemv = vecMs / (ms / T);
  }
  // Split-K attention of one token at the last slot of the cache (split + combine).
  {
    const { ctx, heads, kvHeads, headDim } = s;
    const kv = ctx * kvHeads * headDim * 4;
    const kc = buffer(kv, smallFloats);
    const vc = buffer(kv, smallFloats);
    const q = buffer(heads * headDim * 4, smallFloats);
    const att = buffer(heads * headDim * 4);
    const state = buffer(16);
    device.queue.writeBuffer(state, 0, Uint32Array.of(0, ctx - 1, 0, 0));
    const split = await pipeline('attention', 'split');
    const combine = await pipeline('attention', 'combine');
    const chunk = Math.min(256, Math.max(64, Math.ceil(ctx / 16))); // as the decoder picks it (attentionChunk)
    const splits = Math.ceil(ctx / chunk);
    const partial = buffer(heads * splits * (headDim + 2) * 4);
    const params = [heads, kvHeads, headDim, chunk, splits, { f: 0.125 }];
    const ms = await time([
      [split, bind(split, params, { 1: state, 2: q, 3: kc, 4: vc, 5: partial }), [heads, splits, 1]],
      [combine, bind(combine, params, { 1: state, 5: partial, 6: att }), [heads, 1, 1]],
    ]);
    await add(`attention split-K (${splits} splits of ${chunk})`, `${heads} heads / ${kvHeads} KV, ${ctx} slots`, ms, 2 * kv + 2 * heads * headDim * 4);
  }
  // argmax and GPU sampling over a 128,256-token vocabulary: the single-workgroup kernels before (bench/baseline/) and
  // the multi-workgroup stages now (one compute pass, the stages in order), each setting with the same logits.
  const ratios = [];
  {
    const vocab = SAMPLER_VOCAB;
    const logits = buffer(vocab * 4, randomLogits);
    const result = buffer(16);
    const chunks = Math.ceil(vocab / SAMPLER_CHUNK);
    const scratch = buffer(4 * (3 * chunks * SAMPLER_CHUNK + 8 * chunks + 16));
    const work = buffer(vocab * 4);
    const weight = buffer(vocab * 4);
    // SwiftShader: ~1 s per multi-workgroup sample over 128k tokens; one dispatch per timing there.
    const saved = s.reps;
    if (swiftshader) s.reps = 1;
    const staged = async (file, stages, bindings, chunk) => {
      const layout = device.createBindGroupLayout({
        entries: Object.keys(bindings).map((b) => ({ binding: Number(b), visibility: GPUShaderStage.COMPUTE, buffer: { type: b === '0' ? 'uniform' : (file === 'sample' ? ['1', '2'] : ['1']).includes(b) ? 'read-only-storage' : 'storage' } })),
      });
      const module = device.createShaderModule({ code: withReductions(file, device.features.has('subgroups')) });
      const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [layout] });
      const group = device.createBindGroup({ layout, entries: Object.entries(bindings).map(([b, buf]) => ({ binding: Number(b), resource: { buffer: buf } })) });
      const pipelines = await Promise.all(stages.map(([entryPoint]) => device.createComputePipelineAsync({ layout: pipelineLayout, compute: { module, entryPoint } })));
      return stages.map(([, perChunk], i) => [pipelines[i], group, [perChunk ? Math.ceil(vocab / chunk) : 1]]);
    };
    const compare = async (label, before, after, bytes) => {
      const old = await time([before]);
      await add(`${label} (one workgroup, before)`, `${vocab} logits`, old, bytes);
      const now = await time(after);
      await add(`${label} (${after.length} stages over ${after[0][2][0]} workgroups)`, `${vocab} logits`, now, bytes);
      ratios.push({ label, before: old, after: now, speedup: old / now });
    };
    const oldArgmax = await pipeline('baseline:argmax-one-workgroup', 'main');
    await compare('argmax', [oldArgmax, bind(oldArgmax, [vocab], { 1: logits, 2: result }), [1]],
      await staged('argmax', ARGMAX_STAGES, { 0: uniform([vocab]), 1: logits, 2: result, 3: scratch }, ARGMAX_CHUNK), vocab * 4);
    const oldSample = await pipeline('baseline:sample-one-workgroup', 'main');
    for (const [label, flags, topK, topP] of [['sample: temperature', 0, 0, 1], ['sample: top-k 40 + top-p 0.9', 4 | 8, 40, 0.9], ['sample: top-p 0.95', 8, 0, 0.95]]) {
      const cfg = new Uint32Array(16);
      const f = new Float32Array(cfg.buffer);
      cfg[0] = flags; cfg[1] = topK; f[2] = 1 / 0.8; f[3] = topP; f[5] = 0.5; f[6] = 1;
      cfg[11] = cfg[12] = cfg[13] = 16;
      const cfgBuf = buffer(64);
      device.queue.writeBuffer(cfgBuf, 0, cfg);
      await compare(label, [oldSample, bind(oldSample, [vocab], { 1: logits, 2: cfgBuf, 3: work, 4: weight, 5: result }), [1]],
        await staged('sample', SAMPLER_STAGES, { 0: uniform([vocab]), 1: logits, 2: cfgBuf, 3: work, 4: scratch, 5: result }, SAMPLER_CHUNK), vocab * 4 * 3);
    }
    s.reps = saved;
  }
  for (const b of created) b.destroy();
  return { shapes: s, rows: rows.map((r) => ({ ...r, roofline: r.bytes / (r.ms / 1000) / copy })), samplerRatios: ratios };
}

export function reportKernels(k, copy, print) {
  print(`\nKernel variants (each alone, ${k.shapes.reps} dispatches per pass; roofline = bytes ÷ time ÷ copy ${fmt(copy / 1e9)} GB/s)`);
  print(table(['variant', 'shape', 'ms', 'ms / token', 'bytes', 'GB/s', 'roofline', 'GEMV ÷ GEMM per token'],
    k.rows.map((r) => [r.variant, r.shape, fmt(r.ms, 4), fmt(r.ms / r.perTokens, 4), `${fmt(r.bytes / 1e6, 2)} MB`, fmt(r.bytes / (r.ms / 1000) / 1e9), fmt(r.roofline, 3),
      r.vsGemv === undefined ? '—' : `${fmt(r.vsGemv)}×`])));
  if (k.samplerRatios?.length) {
    print(`\nSampling and argmax over ${SAMPLER_VOCAB} logits: single-workgroup kernels (before) vs multi-workgroup stages (after)`);
    print(table(['kernel', 'before ms', 'after ms', 'before ÷ after'],
      k.samplerRatios.map((r) => [r.label, fmt(r.before, 3), fmt(r.after, 3), fmt(r.speedup, 2)])));
  }
}

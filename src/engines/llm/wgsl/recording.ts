/**
 * The WGSL decoder's recorded work: the activation buffers, and the dispatches of one token (decode) and of one
 * prefill pass (up to prefillRows tokens, tiled GEMMs), recorded once at load time — the parts every row shares once,
 * the per-row parts (step state, KV caches, sampler) per row. Kernels read the token id and position from a state
 * buffer, so the same list replays for every token.
 */
import { ggufGemmParams, ggufParams } from './gguf-kernels';
import { samplerBufferWords } from './gpu-sampling';
import { MAX_GROUPS, Usage, type Dispatch, type GpuLinear, type GpuResources, type PrefillDispatch } from './gpu-resources';
import { ropeTable, type LlamaArchitecture, type LlamaWeights } from './weights';

/** Rows per workgroup of the GEMV kernels (ROWS in gemv.wgsl / gemv_q4.wgsl). */
const GEMV_ROWS = 4;
/** Rows up to this long get one invocation per output (no lane reduction). */
const SHORT_ROW = 256;
/** Bytes of one step state (token id, position, two spare words). */
export const STATE_BYTES = 16;
/** Prompt tokens per prefill pass (the prefill activations are this many rows). */
export const PREFILL_ROWS = 64;
/** Outputs × tokens per GEMM workgroup (TN, TT in gemm.wgsl / gemm_q4.wgsl / gemm_gguf.wgsl). */
const GEMM_COLS = 64;
const GEMM_TOKENS = 16;
/** Most cache slots per attention split and the largest head (workgroup arrays in attention.wgsl). */
const ATTENTION_MAX_CHUNK = 256;
export const ATTENTION_MAX_HEAD_DIM = 256;

/** Cache slots per split-K attention split: ~16 splits over the whole cache, 64..256 slots each. */
export function attentionChunk(capacity: number): number {
  return Math.min(ATTENTION_MAX_CHUNK, Math.max(64, Math.ceil(capacity / 16)));
}

export type DecodeActivations = Record<'x' | 'xn' | 'q' | 'k' | 'v' | 'att' | 'gate' | 'up' | 'logits' | 'partial' | 'result' | 'dummy' | 'rope' | 'work' | 'weight', GPUBuffer>;
/** Prefill activations, [prefillRows, …]. */
export type PrefillActivations = Record<'x' | 'xn' | 'q' | 'k' | 'v' | 'att' | 'gate' | 'up', GPUBuffer>;

/** The decoder's sizes and activation buffers. */
export interface DecoderLayout {
  arch: LlamaArchitecture;
  capacity: number;
  /** Tokens per prefill pass (PREFILL_ROWS, or less for a small cache). */
  prefillRows: number;
  attnChunk: number;
  attnSplits: number;
  act: DecodeActivations;
  pre: PrefillActivations;
}

/** Allocates the activations (and uploads the RoPE table) for a KV cache of `capacity` slots. */
export function allocateLayout(res: GpuResources, arch: LlamaArchitecture, capacity: number): DecoderLayout {
  const a = arch;
  const f = (n: number) => res.buffer(4 * Math.max(n, 4), Usage.STORAGE | Usage.COPY_SRC | Usage.COPY_DST);
  const P = Math.min(PREFILL_ROWS, capacity);
  const attnChunk = attentionChunk(capacity);
  const attnSplits = Math.ceil(capacity / attnChunk);
  const act: DecodeActivations = {
    x: f(a.hidden), xn: f(a.hidden), q: f(a.heads * a.headDim), k: f(a.kvHeads * a.headDim), v: f(a.kvHeads * a.headDim),
    att: f(a.heads * a.headDim), gate: f(a.intermediate), up: f(a.intermediate), logits: f(a.vocab),
    partial: f(P * a.heads * attnSplits * (a.headDim + 2)), result: f(4), dummy: f(4), rope: f(capacity * a.headDim),
    work: f(a.vocab), weight: f(a.vocab),
  };
  const pre: PrefillActivations = {
    x: f(P * a.hidden), xn: f(P * a.hidden), q: f(P * a.heads * a.headDim), k: f(P * a.kvHeads * a.headDim),
    v: f(P * a.kvHeads * a.headDim), att: f(P * a.heads * a.headDim), gate: f(P * a.intermediate), up: f(P * a.intermediate),
  };
  res.device.queue.writeBuffer(act.rope, 0, ropeTable(a, capacity) as Float32Array<ArrayBuffer>);
  return { arch, capacity, prefillRows: P, attnChunk, attnSplits, act, pre };
}

/** One batch row: its step state, KV caches, recorded dispatches and sampler. */
export interface Row {
  state: GPUBuffer;
  kCache: GPUBuffer[];
  vCache: GPUBuffer[];
  dispatches: Dispatch[];
  /** [prefillRows] step states (token id, position) of a prefill pass, and its dispatches. */
  prefillState: GPUBuffer;
  prefill: PrefillDispatch[];
  /** This row's sampler words (gpu-sampling.ts) and the sampling kernel bound to them. */
  sampler: GPUBuffer;
  sample: Dispatch;
}

/** The recorded step: shared dispatches, and makers of a row's per-row ones. */
export interface Recording {
  embed: (state: GPUBuffer) => Dispatch;
  layer: ((state: GPUBuffer, k: GPUBuffer, v: GPUBuffer) => Dispatch[])[];
  /** Final norm and head over act.xn → act.logits. */
  tail: Dispatch[];
  argmax: Dispatch;
  sampleSlot: number;
  prefillEmbed: (state: GPUBuffer) => PrefillDispatch;
  prefillLayer: ((state: GPUBuffer, k: GPUBuffer, v: GPUBuffer) => PrefillDispatch[])[];
}

/** A deferred dispatch: its uniform slot is reserved now, its bind group made once the uniform buffer exists. */
function gemv(res: GpuResources, dummy: GPUBuffer, w: GpuLinear, x: GPUBuffer, out: GPUBuffer, bias: GPUBuffer | null, accumulate: boolean, n = w.n): () => Dispatch {
  const flags = (bias ? 1 : 0) | (accumulate ? 2 : 0) | quantFlags(w);
  const kn = (w.kind === 'f32' || w.kind === 'f16') && w.layout === 'kn';
  const perThread = w.k <= SHORT_ROW || kn;
  // gemv_f16.wgsl's gemv_kn runs one invocation per output pair when n is even.
  const invocations = w.kind === 'f16' && kn && n % 2 === 0 ? n / 2 : n;
  const groups = Math.ceil(invocations / (perThread ? 64 : GEMV_ROWS));
  const stride = Math.min(groups, MAX_GROUPS);
  if (w.kind === 'gguf') {
    const slot = res.param(ggufParams(w.type, w.k, n, flags, stride));
    return () => res.dispatch(`${perThread ? 'gemv_thread' : 'gemv'}:${w.type}`, slot, [x, w.w, bias ?? dummy, out], groups);
  }
  if (w.kind === 'f32') {
    const slot = res.param([w.k, n, flags, stride]);
    const name = w.layout === 'kn' ? 'gemv_kn' : perThread ? 'gemv_nk_thread' : 'gemv_nk';
    return () => res.dispatch(name, slot, [x, w.w, bias ?? dummy, out], groups);
  }
  if (w.kind === 'f16') {
    const slot = res.param([w.k, n, flags, stride]);
    const name = w.layout === 'kn' ? 'gemv_f16_kn' : perThread ? 'gemv_f16_nk_thread' : 'gemv_f16_nk';
    return () => res.dispatch(name, slot, [x, w.w, bias ?? dummy, out], groups);
  }
  const slot = res.param([w.k, n, flags, stride, w.blocks, w.blockSize, w.zpStride, 0]);
  return () => res.dispatch(perThread ? 'gemv_q4_thread' : 'gemv_q4', slot, [x, w.q, w.scales, w.zp ?? dummy, bias ?? dummy, out], groups);
}

/** Flag bits of the 4-bit kernels: 4 zero points given, 16 float16 scales (gemv_q4.wgsl, gemm_q4.wgsl, embed_q4). */
function quantFlags(w: GpuLinear): number {
  return w.kind !== 'q4' ? 0 : (w.zp ? 4 : 0) | (w.f16Scales ? 16 : 0);
}

/**
 * The prefill counterpart of gemv: [tokens, k] × W → [tokens, n], 64 outputs × 16 tokens per workgroup; with `up`,
 * the input is read as silu(x)·up (SwiGLU fused into the down projection).
 */
function gemm(res: GpuResources, layout: DecoderLayout, w: GpuLinear, x: GPUBuffer, out: GPUBuffer, bias: GPUBuffer | null, accumulate: boolean, up: GPUBuffer | null = null): () => PrefillDispatch {
  const dummy = layout.act.dummy;
  const flags = (bias ? 1 : 0) | (accumulate ? 2 : 0) | quantFlags(w) | (up ? 8 : 0);
  const groups = (tokens: number): [number, number, number] => [Math.ceil(w.n / GEMM_COLS), Math.ceil(tokens / GEMM_TOKENS), 1];
  if (w.kind === 'gguf') {
    // gemm_gguf.wgsl over gemv_gguf.wgsl's bindings (5, 6: the embedding's, unbound) and `up` at 7.
    const slot = res.param(ggufGemmParams(w.type, w.k, w.n, flags, layout.prefillRows));
    return () => res.prefillDispatch(`gemm:${w.type}`, slot, [x, w.w, bias ?? dummy, out, null, null, up ?? dummy], groups);
  }
  if (w.kind === 'f32') {
    const slot = res.param([w.k, w.n, flags, layout.prefillRows]);
    return () => res.prefillDispatch(w.layout === 'kn' ? 'gemm_kn' : 'gemm_nk', slot, [x, w.w, bias ?? dummy, out, up ?? dummy], groups);
  }
  if (w.kind === 'f16') {
    const slot = res.param([w.k, w.n, flags, layout.prefillRows]);
    return () => res.prefillDispatch(w.layout === 'kn' ? 'gemm_f16_kn' : 'gemm_f16_nk', slot, [x, w.w, bias ?? dummy, out, up ?? dummy], groups);
  }
  const slot = res.param([w.k, w.n, flags, layout.prefillRows, w.blocks, w.blockSize, w.zpStride, 0]);
  return () => res.prefillDispatch('gemm_q4', slot, [x, w.q, w.scales, w.zp ?? dummy, bias ?? dummy, out, up ?? dummy], groups);
}

/**
 * Uploads the weights and records the dispatches of one token and of one prefill pass. Writes the uniforms: nothing
 * may reserve a slot after this.
 */
export function recordSteps(res: GpuResources, weights: LlamaWeights, layout: DecoderLayout): Recording {
  const { arch: a, act, pre, capacity, attnChunk, attnSplits } = layout;
  const qSize = a.heads * a.headDim;
  const kvSize = a.kvHeads * a.headDim;
  const deferred: (() => void)[] = [];
  const later = <T>(make: () => T): (() => T) => {
    let value: T | undefined;
    deferred.push(() => { value = make(); });
    return () => value as T;
  };
  const gemvOf = (w: GpuLinear, x: GPUBuffer, out: GPUBuffer, bias: GPUBuffer | null, accumulate: boolean, n = w.n) => later(gemv(res, act.dummy, w, x, out, bias, accumulate, n));
  const gemmOf = (w: GpuLinear, x: GPUBuffer, out: GPUBuffer, bias: GPUBuffer | null, accumulate: boolean, up: GPUBuffer | null = null) => later(gemm(res, layout, w, x, out, bias, accumulate, up));

  const embed = res.linear(weights.embed);
  const embedSlot = embed.kind === 'q4'
    ? res.param([a.hidden, quantFlags(embed), embed.blocks, embed.blockSize, embed.zpStride, a.vocab])
    : embed.kind === 'gguf' ? res.param(ggufParams(embed.type, a.hidden, a.vocab, 0, 0)) : res.param([a.hidden, 0, 0, 0, 0, a.vocab]);
  const embedGroups = Math.ceil(a.hidden / 64);
  // GGUF blocks are read by gemv_gguf.wgsl's embed entry (bindings 2, 5, 6).
  const embedBindings = (state: GPUBuffer, x: GPUBuffer): (GPUBuffer | null)[] => embed.kind === 'q4'
    ? [state, x, null, embed.q, embed.scales, embed.zp ?? act.dummy]
    : embed.kind === 'gguf' ? [null, embed.w, null, null, state, x]
      : embed.kind === 'f16' ? [state, x, null, null, null, null, embed.w] : [state, x, embed.w];
  const embedName = embed.kind === 'q4' ? 'embed_q4' : embed.kind === 'gguf' ? `embed:${embed.type}` as const : embed.kind === 'f16' ? 'embed_f16' : 'embed_f32';
  const makeEmbed = (state: GPUBuffer) => res.dispatch(embedName, embedSlot, embedBindings(state, act.x), embedGroups);
  const makePrefillEmbed = (state: GPUBuffer) => res.prefillDispatch(embedName, embedSlot, embedBindings(state, pre.x), (t) => [embedGroups, t, 1]);

  const normSlot = res.param([a.hidden, { f: a.rmsEps }]);
  const ropeSlot = res.param([a.heads, a.kvHeads, a.headDim, a.ropeLayout === 'half' ? 0 : 1, capacity]);
  const ropeGroups = Math.ceil((qSize / 2 + kvSize / 2 + kvSize) / 64);
  const attnSlot = res.param([a.heads, a.kvHeads, a.headDim, attnChunk, attnSplits, { f: 1 / Math.sqrt(a.headDim) }]);
  const swigluSlot = res.param([a.intermediate]);
  const argmaxSlot = res.param([a.vocab]);

  const layerMakers = weights.layers.map((l) => {
    const attnNorm = res.vector(l.attnNorm);
    const mlpNorm = res.vector(l.mlpNorm);
    const bias = (v: Float32Array | null) => (v ? res.vector(v) : null);
    const [q, k, v, o, gate, up, down] = [l.q, l.k, l.v, l.o, l.gate, l.up, l.down].map((w) => res.linear(w));
    const before = [
      later(() => res.dispatch('rmsnorm', normSlot, [act.x, attnNorm, act.xn], 1)),
      gemvOf(q, act.xn, act.q, bias(l.qBias), false),
      gemvOf(k, act.xn, act.k, bias(l.kBias), false),
      gemvOf(v, act.xn, act.v, bias(l.vBias), false),
    ];
    const after = [
      gemvOf(o, act.att, act.x, null, true),
      later(() => res.dispatch('rmsnorm', normSlot, [act.x, mlpNorm, act.xn], 1)),
      gemvOf(gate, act.xn, act.gate, null, false),
      gemvOf(up, act.xn, act.up, null, false),
      later(() => res.dispatch('swiglu', swigluSlot, [act.gate, act.up], Math.ceil(a.intermediate / 64))),
      gemvOf(down, act.gate, act.x, null, true),
    ];
    const perToken = (t: number): [number, number, number] => [t, 1, 1];
    const preBefore = [
      later(() => res.prefillDispatch('rmsnorm', normSlot, [pre.x, attnNorm, pre.xn], perToken)),
      gemmOf(q, pre.xn, pre.q, bias(l.qBias), false),
      gemmOf(k, pre.xn, pre.k, bias(l.kBias), false),
      gemmOf(v, pre.xn, pre.v, bias(l.vBias), false),
    ];
    const preAfter = [
      gemmOf(o, pre.att, pre.x, null, true),
      later(() => res.prefillDispatch('rmsnorm', normSlot, [pre.x, mlpNorm, pre.xn], perToken)),
      gemmOf(gate, pre.xn, pre.gate, null, false),
      gemmOf(up, pre.xn, pre.up, null, false),
      gemmOf(down, pre.gate, pre.x, null, true, pre.up),
    ];
    return {
      decode: (state: GPUBuffer, kc: GPUBuffer, vc: GPUBuffer): Dispatch[] => [
        ...before.map((f) => f()),
        res.dispatch('rope_kv', ropeSlot, [state, act.rope, act.q, act.k, act.v, kc, vc], ropeGroups),
        { ...res.bind('attn_split', attnSlot, [state, act.q, kc, vc, act.partial]), x: a.heads, y: attnSplits, z: 1 },
        { ...res.bind('attn_combine', attnSlot, [state, null, null, null, act.partial, act.att]), x: a.heads, y: 1, z: 1 },
        ...after.map((f) => f()),
      ],
      prefill: (state: GPUBuffer, kc: GPUBuffer, vc: GPUBuffer): PrefillDispatch[] => [
        ...preBefore.map((f) => f()),
        res.prefillDispatch('rope_kv', ropeSlot, [state, act.rope, pre.q, pre.k, pre.v, kc, vc], (t) => [ropeGroups, t, 1]),
        res.prefillDispatch('attn_split', attnSlot, [state, pre.q, kc, vc, act.partial], (t) => [a.heads, attnSplits, t]),
        res.prefillDispatch('attn_combine', attnSlot, [state, null, null, null, act.partial, pre.att], (t) => [a.heads, t, 1]),
        ...preAfter.map((f) => f()),
      ],
    };
  });
  const finalNorm = res.vector(weights.finalNorm);
  const tail = [
    later(() => res.dispatch('rmsnorm', normSlot, [act.x, finalNorm, act.xn], 1)),
    gemvOf(res.linear(weights.lmHead), act.xn, act.logits, null, false, a.vocab),
  ];
  const argmax = later(() => res.dispatch('argmax', argmaxSlot, [act.logits, act.result], 1));

  res.writeParams();
  for (const make of deferred) make();
  return {
    embed: makeEmbed, layer: layerMakers.map((m) => m.decode), tail: tail.map((f) => f()), argmax: argmax(), sampleSlot: argmaxSlot,
    prefillEmbed: makePrefillEmbed, prefillLayer: layerMakers.map((m) => m.prefill),
  };
}

/** A batch row's buffers (state, KV caches, sampler) and its dispatches. */
export function newRow(res: GpuResources, recording: Recording, layout: DecoderLayout): Row {
  const { arch: a, act } = layout;
  const kvFloats = layout.capacity * a.kvHeads * a.headDim;
  const state = res.buffer(STATE_BYTES, Usage.STORAGE | Usage.COPY_DST);
  const prefillState = res.buffer(layout.prefillRows * STATE_BYTES, Usage.STORAGE | Usage.COPY_DST);
  const sampler = res.buffer(4 * samplerBufferWords(layout.capacity, a.vocab), Usage.STORAGE | Usage.COPY_DST);
  const kCache: GPUBuffer[] = [];
  const vCache: GPUBuffer[] = [];
  for (let i = 0; i < a.layers; i++) {
    kCache.push(res.buffer(4 * kvFloats, Usage.STORAGE));
    vCache.push(res.buffer(4 * kvFloats, Usage.STORAGE));
  }
  const r = recording;
  return {
    state, kCache, vCache, prefillState, sampler,
    sample: res.dispatch('sample', r.sampleSlot, [act.logits, sampler, act.work, act.weight, act.result], 1),
    dispatches: [r.embed(state), ...r.layer.flatMap((make, i) => make(state, kCache[i], vCache[i])), ...r.tail],
    prefill: [r.prefillEmbed(prefillState), ...r.prefillLayer.flatMap((make, i) => make(prefillState, kCache[i], vCache[i]))],
  };
}

/**
 * Hearth's own WebGPU decoder for Llama-family models: the weights uploaded once (float32 or MatMulNBits 4-bit, as
 * the file stores them), a KV cache per batch row in GPU buffers, and per token one compute pass replaying a list of
 * dispatches recorded at load time (pipelines, bind groups and every uniform written once; the token id and position
 * are read by the kernels from a small state buffer, copied in on the GPU). Prompts run token by token in one
 * submission. Greedy decoding ends in an argmax kernel, so only a token id is read back; otherwise the logits are.
 *
 * Shader sources (shaders/llm/*.wgsl): `?raw` imports in the browser and vitest; pass them elsewhere (Node benches).
 */
import { internal } from '../../../core/errors';
import type { DecoderShape, LlmDecoder, StepInput, StepOptions, StepOutput } from '../decoder';
import { f32Bytes, ropeTable, type LinearWeight, type LlamaWeights } from './weights';

export const WGSL_LLM_SHADER_NAMES = ['gemv', 'gemv_q4', 'embed', 'rmsnorm', 'rope_kv', 'attention', 'swiglu', 'argmax'] as const;
export type WgslLlmShaderSources = Record<(typeof WGSL_LLM_SHADER_NAMES)[number], string>;

/** The bundled shaders through Vite's `?raw` (browser builds, vitest). */
export async function bundledLlmShaders(): Promise<WgslLlmShaderSources> {
  const [gemv, gemvQ4, embed, rmsnorm, rope, attention, swiglu, argmax] = await Promise.all([
    import('../../../../shaders/llm/gemv.wgsl?raw'),
    import('../../../../shaders/llm/gemv_q4.wgsl?raw'),
    import('../../../../shaders/llm/embed.wgsl?raw'),
    import('../../../../shaders/llm/rmsnorm.wgsl?raw'),
    import('../../../../shaders/llm/rope_kv.wgsl?raw'),
    import('../../../../shaders/llm/attention.wgsl?raw'),
    import('../../../../shaders/llm/swiglu.wgsl?raw'),
    import('../../../../shaders/llm/argmax.wgsl?raw'),
  ]);
  return {
    gemv: gemv.default, gemv_q4: gemvQ4.default, embed: embed.default, rmsnorm: rmsnorm.default,
    rope_kv: rope.default, attention: attention.default, swiglu: swiglu.default, argmax: argmax.default,
  };
}

/** Compiled pipelines per device and shader source: a model loaded again on the same device compiles nothing. */
const pipelineCache = new WeakMap<GPUDevice, Map<string, Promise<GPUComputePipeline>>>();

const Usage = { MAP_READ: 0x0001, COPY_SRC: 0x0004, COPY_DST: 0x0008, UNIFORM: 0x0040, STORAGE: 0x0080 } as const;
const MAP_MODE_READ = 0x0001;
const MAX_GROUPS = 65535;
/** Rows per workgroup of the GEMV kernels (ROWS in gemv.wgsl / gemv_q4.wgsl). */
const GEMV_ROWS = 4;
/** Rows up to this long get one invocation per output (no lane reduction). */
const SHORT_ROW = 256;
const PARAM_SLOT = 256;
const STATE_BYTES = 16;

/** One recorded dispatch. */
interface Dispatch {
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  x: number;
  y: number;
}

type PipelineName = 'gemv_nk' | 'gemv_nk_thread' | 'gemv_kn' | 'gemv_q4' | 'gemv_q4_thread' | 'embed_f32' | 'embed_q4' | 'rmsnorm' | 'rope_kv' | 'attention' | 'swiglu' | 'argmax';

/** A linear weight on the GPU. */
type GpuLinear =
  | { kind: 'f32'; layout: 'nk' | 'kn'; n: number; k: number; w: GPUBuffer }
  | { kind: 'q4'; n: number; k: number; blockSize: number; blocks: number; zpStride: number; q: GPUBuffer; scales: GPUBuffer; zp: GPUBuffer | null };

interface Row {
  state: GPUBuffer;
  kCache: GPUBuffer[];
  vCache: GPUBuffer[];
  dispatches: Dispatch[];
}

export interface WgslDecoderOptions {
  /** KV-cache slots per row: the longest prompt + completion this decoder runs. */
  capacity: number;
  shaders?: WgslLlmShaderSources;
}

export class WgslDecoder implements LlmDecoder {
  readonly backend = 'wgsl/webgpu';
  readonly shape: DecoderShape;
  /** Bytes of weights a decode step reads (for the roofline in the bench). */
  readonly weightBytes: number;
  private readonly arch: LlamaWeights['arch'];
  /** Until record() has uploaded them. */
  private weights: LlamaWeights | null;

  private readonly buffers: GPUBuffer[] = [];
  private readonly params: number[] = [];
  private paramBuffer!: GPUBuffer;
  private readonly rows: Row[] = [];
  private argmax!: Dispatch;
  private stateUpload: GPUBuffer | null = null;
  private stateScratch = new Uint32Array(64);
  private logitsRead: GPUBuffer | null = null;
  private idsRead: GPUBuffer;
  private lost: string | null = null;
  /** Rows of the last encoded step that were all padding (no token ran; their outputs are zero). */
  private readonly paddingRows = new Set<number>();

  private readonly act: Record<'x' | 'xn' | 'q' | 'k' | 'v' | 'att' | 'gate' | 'up' | 'logits' | 'scores' | 'result' | 'dummy' | 'rope', GPUBuffer>;
  private readonly linears = new Map<LinearWeight, GpuLinear>();
  private readonly vectors = new Map<Float32Array, GPUBuffer>();

  private constructor(
    private readonly device: GPUDevice,
    weights: LlamaWeights,
    private readonly pipelines: Record<PipelineName, GPUComputePipeline>,
    readonly capacity: number,
    private readonly ownsDevice: boolean,
  ) {
    this.weights = weights;
    const a = (this.arch = weights.arch);
    this.shape = { layers: a.layers, kvHeads: a.kvHeads, headDim: a.headDim, vocabSize: a.vocab };
    const f = (n: number) => this.buffer(4 * Math.max(n, 4), Usage.STORAGE | Usage.COPY_SRC | Usage.COPY_DST);
    this.act = {
      x: f(a.hidden), xn: f(a.hidden), q: f(a.heads * a.headDim), k: f(a.kvHeads * a.headDim), v: f(a.kvHeads * a.headDim),
      att: f(a.heads * a.headDim), gate: f(a.intermediate), up: f(a.intermediate), logits: f(a.vocab),
      scores: f(a.heads * capacity), result: f(4), dummy: f(4), rope: f(capacity * a.headDim),
    };
    device.queue.writeBuffer(this.act.rope, 0, ropeTable(a, capacity) as Float32Array<ArrayBuffer>);
    this.idsRead = this.buffer(4 * 64, Usage.MAP_READ | Usage.COPY_DST);
    let bytes = 0;
    for (const w of [weights.lmHead, ...weights.layers.flatMap((l) => [l.q, l.k, l.v, l.o, l.gate, l.up, l.down])]) {
      bytes += w.kind === 'f32' ? w.bytes.byteLength : w.q.byteLength + w.scales.byteLength + (w.zeroPoints?.byteLength ?? 0);
    }
    this.weightBytes = bytes;
    void device.lost.then((info) => { this.lost = info.message || String(info.reason); });
  }

  /**
   * Uploads `weights` and records the step. `device` is the caller's when given (kept on release), else one is
   * requested from `navigator.gpu` with the adapter's largest buffer limits (and destroyed on release).
   */
  static async create(weights: LlamaWeights, options: WgslDecoderOptions, device?: GPUDevice): Promise<WgslDecoder> {
    const owns = !device;
    const gpu = device ?? await requestDevice();
    try {
      const shaders = options.shaders ?? await bundledLlmShaders();
      let cache = pipelineCache.get(gpu);
      if (!cache) pipelineCache.set(gpu, (cache = new Map()));
      const make = (module: keyof WgslLlmShaderSources, entryPoint: string) => {
        const key = `${entryPoint}\n${shaders[module]}`;
        let p = cache.get(key);
        if (!p) {
          p = gpu.createComputePipelineAsync({ layout: 'auto', compute: { module: gpu.createShaderModule({ code: shaders[module] }), entryPoint } });
          p.catch(() => cache.delete(key));
          cache.set(key, p);
        }
        return p;
      };
      const list: [PipelineName, Promise<GPUComputePipeline>][] = [
        ['gemv_nk', make('gemv', 'gemv_nk')], ['gemv_nk_thread', make('gemv', 'gemv_nk_thread')], ['gemv_kn', make('gemv', 'gemv_kn')],
        ['gemv_q4', make('gemv_q4', 'main')], ['gemv_q4_thread', make('gemv_q4', 'main_thread')],
        ['embed_f32', make('embed', 'embed_f32')], ['embed_q4', make('embed', 'embed_q4')], ['rmsnorm', make('rmsnorm', 'main')],
        ['rope_kv', make('rope_kv', 'main')], ['attention', make('attention', 'main')], ['swiglu', make('swiglu', 'main')],
        ['argmax', make('argmax', 'main')],
      ];
      const pipelines = Object.fromEntries(await Promise.all(list.map(async ([n, p]) => [n, await p] as const))) as Record<PipelineName, GPUComputePipeline>;
      const capacity = Math.max(1, Math.min(options.capacity, weights.arch.maxPositions));
      const decoder = new WgslDecoder(gpu, weights, pipelines, capacity, owns);
      decoder.record();
      return decoder;
    } catch (e) {
      if (owns) gpu.destroy();
      throw e;
    }
  }

  reset(): void {
    // Nothing to clear: a new sequence starts at position 0 and attention only reads the slots it has written.
  }

  async step(input: StepInput, options: StepOptions = {}): Promise<StepOutput> {
    const { batch, tokens } = this.check(input);
    const vocab = this.shape.vocabSize;
    const all = options.allPositions === true;
    const perRow = all ? tokens : 1;
    const bytes = batch * perRow * vocab * 4;
    const read = this.readback(bytes);
    const encoder = this.encode(input, (enc, b, t, isLast) => {
      if (all) enc.copyBufferToBuffer(this.act.logits, 0, read, (b * tokens + t) * vocab * 4, vocab * 4);
      else if (isLast) enc.copyBufferToBuffer(this.act.logits, 0, read, b * vocab * 4, vocab * 4);
    }, false);
    this.device.queue.submit([encoder.finish()]);
    await this.map(read);
    const logits = new Float32Array(batch * perRow * vocab);
    logits.set(new Float32Array(read.getMappedRange(0, bytes)));
    read.unmap();
    for (const b of this.paddingRows) logits.fill(0, b * perRow * vocab, (b + 1) * perRow * vocab);
    return { logits, tokens: perRow };
  }

  async stepGreedy(input: StepInput): Promise<number[]> {
    const { batch } = this.check(input);
    if (this.idsRead.size < batch * 4) {
      this.idsRead.destroy();
      this.idsRead = this.buffer(batch * 4, Usage.MAP_READ | Usage.COPY_DST);
    }
    const read = this.idsRead;
    const encoder = this.encode(input, (enc, b, _t, isLast) => {
      if (isLast) enc.copyBufferToBuffer(this.act.result, 0, read, b * 4, 4);
    }, true);
    this.device.queue.submit([encoder.finish()]);
    await this.map(read);
    const ids = Array.from(new Uint32Array(read.getMappedRange(0, batch * 4)));
    read.unmap();
    for (const b of this.paddingRows) ids[b] = 0;
    return ids;
  }

  async release(): Promise<void> {
    for (const b of this.buffers) b.destroy();
    this.buffers.length = 0;
    if (this.ownsDevice) this.device.destroy();
  }

  // --- stepping -----------------------------------------------------------------------------------------------------

  private check(input: StepInput): { batch: number; tokens: number } {
    if (this.lost) throw internal(`The GPU device was lost: ${this.lost}`, 'device_lost');
    const batch = input.ids.length;
    const tokens = input.ids[0]?.length ?? 0;
    if (!batch || !tokens) throw new Error('WgslDecoder.step: empty input');
    while (this.rows.length < batch) this.rows.push(this.newRow());
    return { batch, tokens };
  }

  /** Encodes every real (unmasked) token of every row; `after` adds copies after each token's pass. */
  private encode(input: StepInput, after: (enc: GPUCommandEncoder, row: number, token: number, isLast: boolean) => void, greedy: boolean): GPUCommandEncoder {
    const batch = input.ids.length;
    const tokens = input.ids[0].length;
    const past = input.mask[0].length - tokens;
    const need = batch * tokens * (STATE_BYTES / 4);
    if (this.stateScratch.length < need) this.stateScratch = new Uint32Array(need);
    if (!this.stateUpload || this.stateUpload.size < need * 4) {
      this.stateUpload?.destroy();
      this.stateUpload = this.buffer(Math.max(need * 4, 256), Usage.COPY_SRC | Usage.COPY_DST);
    }
    const states = this.stateScratch;
    this.paddingRows.clear();
    const encoder = this.device.createCommandEncoder();
    let slot = 0;
    const vocab = this.shape.vocabSize;
    for (let b = 0; b < batch; b++) {
      const row = this.rows[b];
      let last = -1;
      for (let t = 0; t < tokens; t++) if (input.mask[b][past + t] === 1) last = t;
      for (let t = 0; t < tokens; t++) {
        if (input.mask[b][past + t] !== 1) continue;
        const id = input.ids[b][t];
        const pos = input.positions[b][t];
        if (!Number.isInteger(id) || id < 0 || id >= vocab) throw internal(`Token id ${id} is outside the vocabulary`, 'bad_token');
        if (!(pos >= 0 && pos < this.capacity)) throw internal(`Position ${pos} is past the WGSL decoder's ${this.capacity}-token KV cache`, 'context_overflow');
        states[slot * 4] = id;
        states[slot * 4 + 1] = pos;
        encoder.copyBufferToBuffer(this.stateUpload, slot * STATE_BYTES, row.state, 0, STATE_BYTES);
        slot++;
        const pass = encoder.beginComputePass();
        for (const d of row.dispatches) {
          pass.setPipeline(d.pipeline);
          pass.setBindGroup(0, d.bindGroup);
          pass.dispatchWorkgroups(d.x, d.y);
        }
        if (greedy && t === last) {
          pass.setPipeline(this.argmax.pipeline);
          pass.setBindGroup(0, this.argmax.bindGroup);
          pass.dispatchWorkgroups(1);
        }
        pass.end();
        after(encoder, b, t, t === last);
      }
      if (last < 0) this.paddingRows.add(b);
    }
    this.device.queue.writeBuffer(this.stateUpload, 0, states, 0, Math.max(slot * 4, 4));
    return encoder;
  }

  private readback(bytes: number): GPUBuffer {
    if (!this.logitsRead || this.logitsRead.size < bytes) {
      if (this.logitsRead) {
        this.logitsRead.destroy();
        this.buffers.splice(this.buffers.indexOf(this.logitsRead), 1);
      }
      this.logitsRead = this.buffer(bytes, Usage.MAP_READ | Usage.COPY_DST);
    }
    return this.logitsRead;
  }

  private async map(buffer: GPUBuffer): Promise<void> {
    try {
      await buffer.mapAsync(MAP_MODE_READ);
    } catch (e) {
      throw internal(`The WGSL decoder's GPU work failed${this.lost ? ` (device lost: ${this.lost})` : ''}: ${(e as Error).message}`, 'device_lost', e);
    }
  }

  // --- recording ----------------------------------------------------------------------------------------------------

  private buffer(size: number, usage: number): GPUBuffer {
    const limit = this.device.limits.maxStorageBufferBindingSize;
    if ((usage & Usage.STORAGE) && size > limit) {
      throw new Error(`a ${size}-byte weight exceeds this adapter's ${limit}-byte storage binding limit`);
    }
    const b = this.device.createBuffer({ size: Math.ceil(size / 4) * 4, usage });
    this.buffers.push(b);
    return b;
  }

  private upload(bytes: Uint8Array): GPUBuffer {
    const size = Math.max(4, Math.ceil(bytes.byteLength / 4) * 4);
    const b = this.buffer(size, Usage.STORAGE | Usage.COPY_DST);
    const whole = bytes.byteLength & ~3;
    if (whole) this.device.queue.writeBuffer(b, 0, bytes as Uint8Array<ArrayBuffer>, 0, whole);
    if (whole < bytes.byteLength) {
      const tail = new Uint8Array(4);
      tail.set(bytes.subarray(whole));
      this.device.queue.writeBuffer(b, whole, tail);
    }
    return b;
  }

  private vector(v: Float32Array): GPUBuffer {
    let b = this.vectors.get(v);
    if (!b) this.vectors.set(v, (b = this.upload(f32Bytes(v))));
    return b;
  }

  private linear(w: LinearWeight): GpuLinear {
    let g = this.linears.get(w);
    if (g) return g;
    if (w.kind === 'f32') g = { kind: 'f32', layout: w.layout, n: w.n, k: w.k, w: this.upload(w.bytes) };
    else {
      const blocks = Math.ceil(w.k / w.blockSize);
      g = {
        kind: 'q4', n: w.n, k: w.k, blockSize: w.blockSize, blocks, zpStride: Math.ceil(blocks / 2),
        q: this.upload(w.q), scales: this.upload(w.scales), zp: w.zeroPoints ? this.upload(w.zeroPoints) : null,
      };
    }
    this.linears.set(w, g);
    return g;
  }

  /** Reserves a uniform slot with these 32-bit words (u32, or f32 given as { f }). */
  private param(words: (number | { f: number })[]): number {
    const slot = this.params.length / (PARAM_SLOT / 4);
    const data = new Array<number>(PARAM_SLOT / 4).fill(0);
    const view = new DataView(new ArrayBuffer(4));
    words.forEach((w, i) => {
      if (typeof w === 'number') data[i] = w >>> 0;
      else {
        view.setFloat32(0, w.f, true);
        data[i] = view.getUint32(0, true);
      }
    });
    this.params.push(...data);
    return slot;
  }

  private dispatch(name: PipelineName, slot: number, buffers: GPUBuffer[], groups: number): Dispatch {
    const pipeline = this.pipelines[name];
    const x = Math.min(groups, MAX_GROUPS);
    const y = Math.ceil(groups / x);
    const entries: GPUBindGroupEntry[] = [
      { binding: 0, resource: { buffer: this.paramBuffer, offset: slot * PARAM_SLOT, size: PARAM_SLOT } },
      ...buffers.map((buffer, i) => ({ binding: i + 1, resource: { buffer } })),
    ];
    return { pipeline, bindGroup: this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }), x, y };
  }

  /** A deferred dispatch: its uniform slot is reserved now, its bind group made once the uniform buffer exists. */
  private gemv(w: GpuLinear, x: GPUBuffer, out: GPUBuffer, bias: GPUBuffer | null, accumulate: boolean, n = w.n): () => Dispatch {
    const flags = (bias ? 1 : 0) | (accumulate ? 2 : 0) | (w.kind === 'q4' && w.zp ? 4 : 0);
    const perThread = w.k <= SHORT_ROW || (w.kind === 'f32' && w.layout === 'kn');
    const groups = Math.ceil(n / (perThread ? 64 : GEMV_ROWS));
    const stride = Math.min(groups, MAX_GROUPS);
    if (w.kind === 'f32') {
      const slot = this.param([w.k, n, flags, stride]);
      const name = w.layout === 'kn' ? 'gemv_kn' : perThread ? 'gemv_nk_thread' : 'gemv_nk';
      return () => this.dispatch(name, slot, [x, w.w, bias ?? this.act.dummy, out], groups);
    }
    const slot = this.param([w.k, n, flags, stride, w.blocks, w.blockSize, w.zpStride, 0]);
    return () => this.dispatch(perThread ? 'gemv_q4_thread' : 'gemv_q4', slot, [x, w.q, w.scales, w.zp ?? this.act.dummy, bias ?? this.act.dummy, out], groups);
  }

  private newRow(): Row {
    const a = this.arch;
    const kvFloats = this.capacity * a.kvHeads * a.headDim;
    const state = this.buffer(STATE_BYTES, Usage.STORAGE | Usage.COPY_DST);
    const kCache: GPUBuffer[] = [];
    const vCache: GPUBuffer[] = [];
    for (let i = 0; i < a.layers; i++) {
      kCache.push(this.buffer(4 * kvFloats, Usage.STORAGE));
      vCache.push(this.buffer(4 * kvFloats, Usage.STORAGE));
    }
    return { state, kCache, vCache, dispatches: this.rowDispatches(state, kCache, vCache) };
  }

  private rowRecipe!: { embed: (state: GPUBuffer) => Dispatch; layer: ((state: GPUBuffer, k: GPUBuffer, v: GPUBuffer) => Dispatch[])[]; tail: Dispatch[] };

  private rowDispatches(state: GPUBuffer, kCache: GPUBuffer[], vCache: GPUBuffer[]): Dispatch[] {
    const r = this.rowRecipe;
    return [r.embed(state), ...r.layer.flatMap((make, i) => make(state, kCache[i], vCache[i])), ...r.tail];
  }

  /** Uploads the weights and records the dispatches of one token (shared parts once, per-row parts per row). */
  private record(): void {
    const weights = this.weights!;
    const a = this.arch;
    const act = this.act;
    const qSize = a.heads * a.headDim;
    const kvSize = a.kvHeads * a.headDim;
    const deferred: (() => void)[] = [];
    const later = <T>(make: () => T): (() => T) => {
      let value: T | undefined;
      deferred.push(() => { value = make(); });
      return () => value as T;
    };

    const embed = this.linear(weights.embed);
    const embedSlot = embed.kind === 'q4'
      ? this.param([a.hidden, embed.zp ? 4 : 0, embed.blocks, embed.blockSize, embed.zpStride, a.vocab])
      : this.param([a.hidden, 0, 0, 0, 0, a.vocab]);
    const embedGroups = Math.ceil(a.hidden / 64);
    const makeEmbed = (state: GPUBuffer) => embed.kind === 'q4'
      ? this.dispatchEmbedQ4(embedSlot, state, embed, embedGroups)
      : this.dispatchEmbedF32(embedSlot, state, embed.w, embedGroups);

    const normSlot = this.param([a.hidden, { f: a.rmsEps }]);
    const ropeSlot = this.param([a.heads, a.kvHeads, a.headDim, a.ropeLayout === 'half' ? 0 : 1, this.capacity]);
    const ropeGroups = Math.ceil((qSize / 2 + kvSize / 2 + kvSize) / 64);
    const attnSlot = this.param([a.heads, a.kvHeads, a.headDim, this.capacity, { f: 1 / Math.sqrt(a.headDim) }]);
    const swigluSlot = this.param([a.intermediate]);
    const argmaxSlot = this.param([a.vocab]);

    const layerMakers = weights.layers.map((l) => {
      const attnNorm = this.vector(l.attnNorm);
      const mlpNorm = this.vector(l.mlpNorm);
      const bias = (v: Float32Array | null) => (v ? this.vector(v) : null);
      const before = [
        later(() => this.dispatch('rmsnorm', normSlot, [act.x, attnNorm, act.xn], 1)),
        later(this.gemv(this.linear(l.q), act.xn, act.q, bias(l.qBias), false)),
        later(this.gemv(this.linear(l.k), act.xn, act.k, bias(l.kBias), false)),
        later(this.gemv(this.linear(l.v), act.xn, act.v, bias(l.vBias), false)),
      ];
      const after = [
        later(this.gemv(this.linear(l.o), act.att, act.x, null, true)),
        later(() => this.dispatch('rmsnorm', normSlot, [act.x, mlpNorm, act.xn], 1)),
        later(this.gemv(this.linear(l.gate), act.xn, act.gate, null, false)),
        later(this.gemv(this.linear(l.up), act.xn, act.up, null, false)),
        later(() => this.dispatch('swiglu', swigluSlot, [act.gate, act.up], Math.ceil(a.intermediate / 64))),
        later(this.gemv(this.linear(l.down), act.gate, act.x, null, true)),
      ];
      return (state: GPUBuffer, k: GPUBuffer, v: GPUBuffer): Dispatch[] => [
        ...before.map((f) => f()),
        this.dispatch('rope_kv', ropeSlot, [state, act.rope, act.q, act.k, act.v, k, v], ropeGroups),
        this.dispatch('attention', attnSlot, [state, act.q, k, v, act.scores, act.att], a.heads),
        ...after.map((f) => f()),
      ];
    });
    const finalNorm = this.vector(weights.finalNorm);
    const tail = [
      later(() => this.dispatch('rmsnorm', normSlot, [act.x, finalNorm, act.xn], 1)),
      later(this.gemv(this.linear(weights.lmHead), act.xn, act.logits, null, false, a.vocab)),
    ];
    const argmax = later(() => this.dispatch('argmax', argmaxSlot, [act.logits, act.result], 1));

    this.paramBuffer = this.buffer(this.params.length * 4, Usage.UNIFORM | Usage.COPY_DST);
    this.device.queue.writeBuffer(this.paramBuffer, 0, new Uint32Array(this.params));
    for (const make of deferred) make();
    this.argmax = argmax();
    this.rowRecipe = { embed: makeEmbed, layer: layerMakers, tail: tail.map((f) => f()) };
    this.rows.push(this.newRow());
    // The file's bytes are on the GPU now: drop every reference to them.
    this.weights = null;
    this.linears.clear();
    this.vectors.clear();
  }

  private dispatchEmbedF32(slot: number, state: GPUBuffer, table: GPUBuffer, groups: number): Dispatch {
    const pipeline = this.pipelines.embed_f32;
    const entries: GPUBindGroupEntry[] = [
      { binding: 0, resource: { buffer: this.paramBuffer, offset: slot * PARAM_SLOT, size: PARAM_SLOT } },
      { binding: 1, resource: { buffer: state } },
      { binding: 2, resource: { buffer: this.act.x } },
      { binding: 3, resource: { buffer: table } },
    ];
    return { pipeline, bindGroup: this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }), x: groups, y: 1 };
  }

  private dispatchEmbedQ4(slot: number, state: GPUBuffer, w: Extract<GpuLinear, { kind: 'q4' }>, groups: number): Dispatch {
    const pipeline = this.pipelines.embed_q4;
    const entries: GPUBindGroupEntry[] = [
      { binding: 0, resource: { buffer: this.paramBuffer, offset: slot * PARAM_SLOT, size: PARAM_SLOT } },
      { binding: 1, resource: { buffer: state } },
      { binding: 2, resource: { buffer: this.act.x } },
      { binding: 4, resource: { buffer: w.q } },
      { binding: 5, resource: { buffer: w.scales } },
      { binding: 6, resource: { buffer: w.zp ?? this.act.dummy } },
    ];
    return { pipeline, bindGroup: this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }), x: groups, y: 1 };
  }
}

/** A device with the adapter's largest buffer limits (a 1B model's embedding alone is ~1 GB in float32). */
async function requestDevice(): Promise<GPUDevice> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) throw new Error('WebGPU is not available');
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('no WebGPU adapter');
  return adapter.requestDevice({
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
    },
  });
}

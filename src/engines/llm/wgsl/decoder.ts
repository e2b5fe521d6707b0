/**
 * Hearth's own WebGPU decoder for Llama-family models: the weights uploaded once (float32 or MatMulNBits 4-bit, as
 * the file stores them), a KV cache per batch row in GPU buffers, and per token one compute pass replaying a list of
 * dispatches recorded at load time (pipelines, bind groups and every uniform written once; the token id and position
 * are read by the kernels from a small state buffer, copied in on the GPU). Prompts run as prefill: up to
 * PREFILL_ROWS tokens per pass through tiled GEMMs (gemm.wgsl, gemm_q4.wgsl) and split-K attention, the kernels taking
 * the token as a dispatch dimension, then the head on the last token only (prompt logprobs, which need every
 * position's logits, run token by token). Greedy decoding ends in an argmax kernel, so only a token id is read back;
 * otherwise the logits are.
 *
 * Shader sources (shaders/llm/*.wgsl): `?raw` imports in the browser and vitest; pass them elsewhere (Node benches).
 */
import { internal, unavailable } from '../../../core/errors';
import type { DecoderShape, LlmDecoder, StepInput, StepOptions, StepOutput } from '../decoder';
import type { SamplingParams } from '../sampling';
import { bundledGgufShader, ggufModuleSource, ggufParams, ggufTypesOf, type GgufEntry } from './gguf-kernels';
import { gpuSamplingFits, samplerBufferWords, samplerWords, type GpuSamplerInput } from './gpu-sampling';
import { f32Bytes, ropeTable, type GgufBlockType, type LinearWeight, type LlamaWeights } from './weights';

export const WGSL_LLM_SHADER_NAMES = ['gemv', 'gemv_q4', 'gemv_subgroup', 'gemv_q4_subgroup', 'gemm', 'gemm_q4', 'embed', 'rmsnorm', 'rope_kv', 'attention', 'swiglu', 'argmax', 'sample'] as const;
export type WgslLlmShaderSources = Record<(typeof WGSL_LLM_SHADER_NAMES)[number], string>;

/** The bundled shaders through Vite's `?raw` (browser builds, vitest). */
export async function bundledLlmShaders(): Promise<WgslLlmShaderSources> {
  const [gemv, gemvQ4, gemvSubgroup, gemvQ4Subgroup, gemm, gemmQ4, embed, rmsnorm, rope, attention, swiglu, argmax, sample] = await Promise.all([
    import('../../../../shaders/llm/gemv.wgsl?raw'),
    import('../../../../shaders/llm/gemv_q4.wgsl?raw'),
    import('../../../../shaders/llm/gemv_subgroup.wgsl?raw'),
    import('../../../../shaders/llm/gemv_q4_subgroup.wgsl?raw'),
    import('../../../../shaders/llm/gemm.wgsl?raw'),
    import('../../../../shaders/llm/gemm_q4.wgsl?raw'),
    import('../../../../shaders/llm/embed.wgsl?raw'),
    import('../../../../shaders/llm/rmsnorm.wgsl?raw'),
    import('../../../../shaders/llm/rope_kv.wgsl?raw'),
    import('../../../../shaders/llm/attention.wgsl?raw'),
    import('../../../../shaders/llm/swiglu.wgsl?raw'),
    import('../../../../shaders/llm/argmax.wgsl?raw'),
    import('../../../../shaders/llm/sample.wgsl?raw'),
  ]);
  return {
    gemv: gemv.default, gemv_q4: gemvQ4.default, gemv_subgroup: gemvSubgroup.default, gemv_q4_subgroup: gemvQ4Subgroup.default, gemm: gemm.default, gemm_q4: gemmQ4.default, embed: embed.default, rmsnorm: rmsnorm.default,
    rope_kv: rope.default, attention: attention.default, swiglu: swiglu.default, argmax: argmax.default, sample: sample.default,
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
/** Prompt tokens per prefill pass (the prefill activations are this many rows). */
export const PREFILL_ROWS = 64;
/** Outputs × tokens per GEMM workgroup (TN, TT in gemm.wgsl / gemm_q4.wgsl). */
const GEMM_COLS = 64;
const GEMM_TOKENS = 16;
/** Most cache slots per attention split and the largest head (workgroup arrays in attention.wgsl). */
const ATTENTION_MAX_CHUNK = 256;
const ATTENTION_MAX_HEAD_DIM = 256;

/** Cache slots per split-K attention split: ~16 splits over the whole cache, 64..256 slots each. */
export function attentionChunk(capacity: number): number {
  return Math.min(ATTENTION_MAX_CHUNK, Math.max(64, Math.ceil(capacity / 16)));
}

/** One recorded dispatch. */
interface Dispatch {
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  x: number;
  y: number;
  z?: number;
}

/** A recorded prefill dispatch: its workgroup counts depend on the pass's token count. */
interface PrefillDispatch {
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  groups: (tokens: number) => [number, number, number];
}

type PipelineName = 'gemv_nk' | 'gemv_nk_thread' | 'gemv_kn' | 'gemv_q4' | 'gemv_q4_thread' | 'gemm_nk' | 'gemm_kn' | 'gemm_q4'
  | 'embed_f32' | 'embed_q4' | 'rmsnorm' | 'rope_kv' | 'attn_split' | 'attn_combine' | 'swiglu' | 'argmax' | 'sample';
/** A pipeline of the fixed set, or a GGUF kernel for one block type. */
type DispatchName = PipelineName | `${GgufEntry}:${GgufBlockType}`;

/** A linear weight on the GPU. */
type GpuLinear =
  | { kind: 'f32'; layout: 'nk' | 'kn'; n: number; k: number; w: GPUBuffer }
  | { kind: 'q4'; n: number; k: number; blockSize: number; blocks: number; zpStride: number; q: GPUBuffer; scales: GPUBuffer; zp: GPUBuffer | null }
  | { kind: 'gguf'; type: GgufBlockType; n: number; k: number; w: GPUBuffer };

interface Row {
  state: GPUBuffer;
  kCache: GPUBuffer[];
  vCache: GPUBuffer[];
  dispatches: Dispatch[];
  /** [PREFILL_ROWS] step states (token id, position) of a prefill pass, and its dispatches. */
  prefillState: GPUBuffer;
  prefill: PrefillDispatch[];
  /** This row's sampler words (gpu-sampling.ts) and the sampling kernel bound to them. */
  sampler: GPUBuffer;
  sample: Dispatch;
}

/** What a step ends in: logits read back, the argmax, or a token sampled on the GPU. */
type Head = 'logits' | 'argmax' | 'sample';

export interface WgslDecoderOptions {
  /** KV-cache slots per row: the longest prompt + completion this decoder runs. */
  capacity: number;
  /**
   * The GEMVs' subgroup variants (gemv_subgroup.wgsl, gemv_q4_subgroup.wgsl): by default where the device has the
   * `subgroups` feature and subgroups of at most 32 lanes; false keeps the workgroup-memory reductions.
   */
  subgroups?: boolean;
  shaders?: WgslLlmShaderSources;
  /** shaders/llm/gemv_gguf.wgsl (default: the bundled one), for models with GGUF block weights. */
  ggufShader?: string;
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

  private readonly act: Record<'x' | 'xn' | 'q' | 'k' | 'v' | 'att' | 'gate' | 'up' | 'logits' | 'partial' | 'result' | 'dummy' | 'rope' | 'work' | 'weight', GPUBuffer>;
  /** Prefill activations, [prefillRows, …]. */
  private readonly pre: Record<'x' | 'xn' | 'q' | 'k' | 'v' | 'att' | 'gate' | 'up', GPUBuffer>;
  /** Whether the GEMVs use their subgroup variants (see WgslDecoderOptions.subgroups). */
  subgroups = false;
  /** Prompts through the prefill kernels (true), or token by token like decode steps (false: benches compare both). */
  prefill = true;
  /** Set when a weight is in GGUF blocks: the prefill GEMMs do not read them, so prompts run token by token. */
  private ggufWeights = false;
  /** Tokens per prefill pass (PREFILL_ROWS, or less for a small cache). */
  readonly prefillRows: number;
  private readonly attnChunk: number;
  private readonly attnSplits: number;
  private readonly linears = new Map<LinearWeight, GpuLinear>();
  private readonly vectors = new Map<Float32Array, GPUBuffer>();

  private constructor(
    private readonly device: GPUDevice,
    weights: LlamaWeights,
    private readonly pipelines: Record<PipelineName, GPUComputePipeline>,
    readonly capacity: number,
    private readonly ownsDevice: boolean,
    /** GGUF kernels by `${entry}:${type}` (gguf-kernels.ts), for the block types this model uses. */
    private readonly ggufPipelines: Map<string, GPUComputePipeline>,
  ) {
    this.weights = weights;
    const a = (this.arch = weights.arch);
    this.shape = { layers: a.layers, kvHeads: a.kvHeads, headDim: a.headDim, vocabSize: a.vocab };
    const f = (n: number) => this.buffer(4 * Math.max(n, 4), Usage.STORAGE | Usage.COPY_SRC | Usage.COPY_DST);
    const P = (this.prefillRows = Math.min(PREFILL_ROWS, capacity));
    this.attnChunk = attentionChunk(capacity);
    this.attnSplits = Math.ceil(capacity / this.attnChunk);
    this.act = {
      x: f(a.hidden), xn: f(a.hidden), q: f(a.heads * a.headDim), k: f(a.kvHeads * a.headDim), v: f(a.kvHeads * a.headDim),
      att: f(a.heads * a.headDim), gate: f(a.intermediate), up: f(a.intermediate), logits: f(a.vocab),
      partial: f(P * a.heads * this.attnSplits * (a.headDim + 2)), result: f(4), dummy: f(4), rope: f(capacity * a.headDim),
      work: f(a.vocab), weight: f(a.vocab),
    };
    this.pre = {
      x: f(P * a.hidden), xn: f(P * a.hidden), q: f(P * a.heads * a.headDim), k: f(P * a.kvHeads * a.headDim),
      v: f(P * a.kvHeads * a.headDim), att: f(P * a.heads * a.headDim), gate: f(P * a.intermediate), up: f(P * a.intermediate),
    };
    device.queue.writeBuffer(this.act.rope, 0, ropeTable(a, capacity) as Float32Array<ArrayBuffer>);
    this.idsRead = this.buffer(4 * 64, Usage.MAP_READ | Usage.COPY_DST);
    let bytes = 0;
    for (const w of [weights.lmHead, ...weights.layers.flatMap((l) => [l.q, l.k, l.v, l.o, l.gate, l.up, l.down])]) {
      bytes += w.kind !== 'q4' ? w.bytes.byteLength : w.q.byteLength + w.scales.byteLength + (w.zeroPoints?.byteLength ?? 0);
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
    if (weights.arch.headDim > ATTENTION_MAX_HEAD_DIM || weights.arch.headDim % 2) {
      throw new Error(`head_dim ${weights.arch.headDim} is not supported by the WGSL decoder (even, at most ${ATTENTION_MAX_HEAD_DIM})`);
    }
    const gpu = device ?? await requestDevice();
    try {
      const shaders = options.shaders ?? await bundledLlmShaders();
      let cache = pipelineCache.get(gpu);
      if (!cache) pipelineCache.set(gpu, (cache = new Map()));
      const subgroups = options.subgroups !== false && hasSmallSubgroups(gpu);
      const make = (module: keyof WgslLlmShaderSources, entryPoint: string) => {
        // Subgroup entry points are appended to their kernel's source, after `enable subgroups;`.
        const code = module === 'gemv_subgroup' ? `enable subgroups;\n${shaders.gemv}\n${shaders.gemv_subgroup}`
          : module === 'gemv_q4_subgroup' ? `enable subgroups;\n${shaders.gemv_q4}\n${shaders.gemv_q4_subgroup}` : shaders[module];
        const key = `${entryPoint}\n${code}`;
        let p = cache.get(key);
        if (!p) {
          p = gpu.createComputePipelineAsync({ layout: 'auto', compute: { module: gpu.createShaderModule({ code }), entryPoint } });
          p.catch(() => cache.delete(key));
          cache.set(key, p);
        }
        return p;
      };
      const list: [PipelineName, Promise<GPUComputePipeline>][] = [
        ['gemv_nk', subgroups ? make('gemv_subgroup', 'gemv_nk_subgroup') : make('gemv', 'gemv_nk')], ['gemv_nk_thread', make('gemv', 'gemv_nk_thread')], ['gemv_kn', make('gemv', 'gemv_kn')],
        ['gemv_q4', subgroups ? make('gemv_q4_subgroup', 'main_subgroup') : make('gemv_q4', 'main')], ['gemv_q4_thread', make('gemv_q4', 'main_thread')],
        ['gemm_nk', make('gemm', 'gemm_nk')], ['gemm_kn', make('gemm', 'gemm_kn')], ['gemm_q4', make('gemm_q4', 'main')],
        ['embed_f32', make('embed', 'embed_f32')], ['embed_q4', make('embed', 'embed_q4')], ['rmsnorm', make('rmsnorm', 'main')],
        ['rope_kv', make('rope_kv', 'main')], ['attn_split', make('attention', 'split')], ['attn_combine', make('attention', 'combine')],
        ['swiglu', make('swiglu', 'main')],
        ['argmax', make('argmax', 'main')], ['sample', make('sample', 'main')],
      ];
      const gguf = ggufTypesOf(weights);
      const ggufList: [string, Promise<GPUComputePipeline>][] = [];
      if (gguf.gemv.size || gguf.embed) {
        const source = options.ggufShader ?? await bundledGgufShader();
        const ggufMake = (entry: GgufEntry, type: GgufBlockType) => {
          const code = ggufModuleSource(source, type);
          const key = `${entry}\n${code}`;
          let p = cache.get(key);
          if (!p) {
            p = gpu.createComputePipelineAsync({ layout: 'auto', compute: { module: gpu.createShaderModule({ code }), entryPoint: entry } });
            p.catch(() => cache.delete(key));
            cache.set(key, p);
          }
          ggufList.push([`${entry}:${type}`, p]);
        };
        for (const type of gguf.gemv) { ggufMake('gemv', type); ggufMake('gemv_thread', type); }
        if (gguf.embed) ggufMake('embed', gguf.embed);
      }
      const pipelines = Object.fromEntries(await Promise.all(list.map(async ([n, p]) => [n, await p] as const))) as Record<PipelineName, GPUComputePipeline>;
      const ggufPipelines = new Map(await Promise.all(ggufList.map(async ([n, p]) => [n, await p] as const)));
      const capacity = Math.max(1, Math.min(options.capacity, weights.arch.maxPositions));
      const decoder = new WgslDecoder(gpu, weights, pipelines, capacity, owns, ggufPipelines);
      decoder.subgroups = subgroups;
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
    }, 'logits', all);
    this.device.queue.submit([encoder.finish()]);
    await this.map(read);
    const logits = new Float32Array(batch * perRow * vocab);
    logits.set(new Float32Array(read.getMappedRange(0, bytes)));
    read.unmap();
    for (const b of this.paddingRows) logits.fill(0, b * perRow * vocab, (b + 1) * perRow * vocab);
    return { logits, tokens: perRow };
  }

  async stepGreedy(input: StepInput): Promise<number[]> {
    return this.stepIds(input, 'argmax');
  }

  /**
   * Sampling on the GPU (shaders/llm/sample.wgsl): one sampler per row (settings, penalty state, bias, mask, the
   * uniform draw); only the chosen ids come back. Throws as sampleToken does on a NaN logit or when nothing is allowed.
   */
  async stepSample(input: StepInput, samplers: GpuSamplerInput[]): Promise<number[]> {
    const { batch } = this.check(input);
    if (samplers.length !== batch) throw new Error('WgslDecoder.stepSample: one sampler per row');
    const words = this.rows[0].sampler.size / 4;
    samplers.forEach((s, b) => {
      const data = samplerWords(s, this.shape.vocabSize);
      if (data.length > words) throw new Error(`WgslDecoder.stepSample: ${data.length} sampler words exceed the buffer's ${words}`);
      this.device.queue.writeBuffer(this.rows[b].sampler, 0, data);
    });
    return this.stepIds(input, 'sample');
  }

  fitsDeviceSampling(params: SamplingParams, banned: number): boolean {
    return gpuSamplingFits(params, banned);
  }

  private async stepIds(input: StepInput, head: Head): Promise<number[]> {
    const { batch } = this.check(input);
    if (this.idsRead.size < batch * 8) {
      this.idsRead.destroy();
      this.idsRead = this.buffer(batch * 8, Usage.MAP_READ | Usage.COPY_DST);
    }
    const read = this.idsRead;
    const encoder = this.encode(input, (enc, b, _t, isLast) => {
      if (isLast) enc.copyBufferToBuffer(this.act.result, 0, read, b * 8, 8);
    }, head);
    this.device.queue.submit([encoder.finish()]);
    await this.map(read);
    const words = new Uint32Array(read.getMappedRange(0, batch * 8).slice(0));
    read.unmap();
    const ids: number[] = [];
    for (let b = 0; b < batch; b++) {
      if (this.paddingRows.has(b)) {
        ids.push(0);
        continue;
      }
      if (head === 'sample' && words[2 * b + 1] === 1) throw new Error('sampleToken: a logit is NaN or infinite');
      if (head === 'sample' && words[2 * b + 1] === 2) throw new Error('sampleToken: no token is allowed');
      ids.push(words[2 * b]);
    }
    return ids;
  }

  async release(): Promise<void> {
    for (const b of this.buffers) b.destroy();
    this.buffers.length = 0;
    if (this.ownsDevice) this.device.destroy();
  }

  // --- stepping -----------------------------------------------------------------------------------------------------

  private check(input: StepInput): { batch: number; tokens: number } {
    if (this.lost) throw unavailable(`The GPU device was lost: ${this.lost}`, 'device_lost');
    const batch = input.ids.length;
    const tokens = input.ids[0]?.length ?? 0;
    if (!batch || !tokens) throw new Error('WgslDecoder.step: empty input');
    while (this.rows.length < batch) this.rows.push(this.newRow());
    return { batch, tokens };
  }

  /**
   * Encodes every real (unmasked) token of every row; `after` adds copies after each token's pass (after the row's
   * last token only, when its prompt ran as prefill). Without `allPositions`, a row with two or more tokens runs as
   * prefill passes of up to prefillRows tokens, then the head on its last token.
   */
  private encode(input: StepInput, after: (enc: GPUCommandEncoder, row: number, token: number, isLast: boolean) => void, head: Head, allPositions = false): GPUCommandEncoder {
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
    const argmaxIf = (pass: GPUComputePassEncoder, isLast: boolean, row: Row) => {
      if (head === 'logits' || !isLast) return;
      const d = head === 'argmax' ? this.argmax : row.sample;
      pass.setPipeline(d.pipeline);
      pass.setBindGroup(0, d.bindGroup);
      pass.dispatchWorkgroups(1);
    };
    for (let b = 0; b < batch; b++) {
      const row = this.rows[b];
      const real: number[] = [];
      for (let t = 0; t < tokens; t++) if (input.mask[b][past + t] === 1) real.push(t);
      if (!real.length) {
        this.paddingRows.add(b);
        continue;
      }
      const first = slot;
      for (const t of real) {
        const id = input.ids[b][t];
        const pos = input.positions[b][t];
        if (!Number.isInteger(id) || id < 0 || id >= vocab) throw internal(`Token id ${id} is outside the vocabulary`, 'bad_token');
        if (!(pos >= 0 && pos < this.capacity)) throw internal(`Position ${pos} is past the WGSL decoder's ${this.capacity}-token KV cache`, 'context_overflow');
        states[slot * 4] = id;
        states[slot * 4 + 1] = pos;
        slot++;
      }
      const last = real[real.length - 1];
      if (this.prefill && !this.ggufWeights && !allPositions && real.length >= 2) {
        let count = 0;
        for (let c = 0; c < real.length; c += this.prefillRows) {
          count = Math.min(this.prefillRows, real.length - c);
          encoder.copyBufferToBuffer(this.stateUpload, (first + c) * STATE_BYTES, row.prefillState, 0, count * STATE_BYTES);
          const pass = encoder.beginComputePass();
          for (const d of row.prefill) {
            pass.setPipeline(d.pipeline);
            pass.setBindGroup(0, d.bindGroup);
            pass.dispatchWorkgroups(...d.groups(count));
          }
          pass.end();
        }
        // The last token's hidden state → the decode buffers; the final norm and the head run there.
        const hidden = this.arch.hidden * 4;
        encoder.copyBufferToBuffer(this.pre.x, (count - 1) * hidden, this.act.x, 0, hidden);
        const pass = encoder.beginComputePass();
        for (const d of this.rowRecipe.tail) {
          pass.setPipeline(d.pipeline);
          pass.setBindGroup(0, d.bindGroup);
          pass.dispatchWorkgroups(d.x, d.y);
        }
        argmaxIf(pass, true, row);
        pass.end();
        after(encoder, b, last, true);
        continue;
      }
      real.forEach((t, i) => {
        encoder.copyBufferToBuffer(this.stateUpload!, (first + i) * STATE_BYTES, row.state, 0, STATE_BYTES);
        const pass = encoder.beginComputePass();
        for (const d of row.dispatches) {
          pass.setPipeline(d.pipeline);
          pass.setBindGroup(0, d.bindGroup);
          pass.dispatchWorkgroups(d.x, d.y, d.z ?? 1);
        }
        argmaxIf(pass, t === last, row);
        pass.end();
        after(encoder, b, t, t === last);
      });
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
      throw unavailable(`The WGSL decoder's GPU work failed${this.lost ? ` (device lost: ${this.lost})` : ''}: ${(e as Error).message}`, 'device_lost', e);
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
    else if (w.kind === 'gguf') g = { kind: 'gguf', type: w.type, n: w.n, k: w.k, w: this.upload(w.bytes) };
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

  private bind(name: DispatchName, slot: number, buffers: (GPUBuffer | null)[]): { pipeline: GPUComputePipeline; bindGroup: GPUBindGroup } {
    const pipeline = name.includes(':') ? this.ggufPipelines.get(name)! : this.pipelines[name as PipelineName];
    const entries: GPUBindGroupEntry[] = [
      { binding: 0, resource: { buffer: this.paramBuffer, offset: slot * PARAM_SLOT, size: PARAM_SLOT } },
    ];
    buffers.forEach((buffer, i) => { if (buffer) entries.push({ binding: i + 1, resource: { buffer } }); });
    return { pipeline, bindGroup: this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }) };
  }

  private dispatch(name: DispatchName, slot: number, buffers: (GPUBuffer | null)[], groups: number, z = 1): Dispatch {
    const x = Math.min(groups, MAX_GROUPS);
    const y = Math.ceil(groups / x);
    return { ...this.bind(name, slot, buffers), x, y, z };
  }

  /** A deferred prefill dispatch (see gemv). */
  private prefillDispatch(name: DispatchName, slot: number, buffers: (GPUBuffer | null)[], groups: (tokens: number) => [number, number, number]): PrefillDispatch {
    return { ...this.bind(name, slot, buffers), groups };
  }

  /**
   * The prefill counterpart of gemv: [tokens, k] × W → [tokens, n], 64 outputs × 16 tokens per workgroup; with `up`,
   * the input is read as silu(x)·up (SwiGLU fused into the down projection).
   */
  private gemm(w: GpuLinear, x: GPUBuffer, out: GPUBuffer, bias: GPUBuffer | null, accumulate: boolean, up: GPUBuffer | null = null): () => PrefillDispatch {
    if (w.kind === 'gguf') {
      this.ggufWeights = true;
      return () => null as unknown as PrefillDispatch; // recorded but never dispatched: rows get no prefill list
    }
    const flags = (bias ? 1 : 0) | (accumulate ? 2 : 0) | (w.kind === 'q4' && w.zp ? 4 : 0) | (up ? 8 : 0);
    const groups = (tokens: number): [number, number, number] => [Math.ceil(w.n / GEMM_COLS), Math.ceil(tokens / GEMM_TOKENS), 1];
    if (w.kind === 'f32') {
      const slot = this.param([w.k, w.n, flags, this.prefillRows]);
      return () => this.prefillDispatch(w.layout === 'kn' ? 'gemm_kn' : 'gemm_nk', slot, [x, w.w, bias ?? this.act.dummy, out, up ?? this.act.dummy], groups);
    }
    const slot = this.param([w.k, w.n, flags, this.prefillRows, w.blocks, w.blockSize, w.zpStride, 0]);
    return () => this.prefillDispatch('gemm_q4', slot, [x, w.q, w.scales, w.zp ?? this.act.dummy, bias ?? this.act.dummy, out, up ?? this.act.dummy], groups);
  }

  /** A deferred dispatch: its uniform slot is reserved now, its bind group made once the uniform buffer exists. */
  private gemv(w: GpuLinear, x: GPUBuffer, out: GPUBuffer, bias: GPUBuffer | null, accumulate: boolean, n = w.n): () => Dispatch {
    const flags = (bias ? 1 : 0) | (accumulate ? 2 : 0) | (w.kind === 'q4' && w.zp ? 4 : 0);
    const perThread = w.k <= SHORT_ROW || (w.kind === 'f32' && w.layout === 'kn');
    const groups = Math.ceil(n / (perThread ? 64 : GEMV_ROWS));
    const stride = Math.min(groups, MAX_GROUPS);
    if (w.kind === 'gguf') {
      const slot = this.param(ggufParams(w.type, w.k, n, flags, stride));
      return () => this.dispatch(`${perThread ? 'gemv_thread' : 'gemv'}:${w.type}`, slot, [x, w.w, bias ?? this.act.dummy, out], groups);
    }
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
    const prefillState = this.buffer(this.prefillRows * STATE_BYTES, Usage.STORAGE | Usage.COPY_DST);
    const sampler = this.buffer(4 * samplerBufferWords(this.capacity, a.vocab), Usage.STORAGE | Usage.COPY_DST);
    const kCache: GPUBuffer[] = [];
    const vCache: GPUBuffer[] = [];
    for (let i = 0; i < a.layers; i++) {
      kCache.push(this.buffer(4 * kvFloats, Usage.STORAGE));
      vCache.push(this.buffer(4 * kvFloats, Usage.STORAGE));
    }
    const r = this.rowRecipe;
    return {
      state, kCache, vCache, prefillState, sampler,
      sample: this.dispatch('sample', this.sampleSlot, [this.act.logits, sampler, this.act.work, this.act.weight, this.act.result], 1),
      dispatches: [r.embed(state), ...r.layer.flatMap((make, i) => make(state, kCache[i], vCache[i])), ...r.tail],
      prefill: this.ggufWeights ? [] : [r.prefillEmbed(prefillState), ...r.prefillLayer.flatMap((make, i) => make(prefillState, kCache[i], vCache[i]))],
    };
  }

  private sampleSlot = 0;
  private rowRecipe!: {
    embed: (state: GPUBuffer) => Dispatch;
    layer: ((state: GPUBuffer, k: GPUBuffer, v: GPUBuffer) => Dispatch[])[];
    tail: Dispatch[];
    prefillEmbed: (state: GPUBuffer) => PrefillDispatch;
    prefillLayer: ((state: GPUBuffer, k: GPUBuffer, v: GPUBuffer) => PrefillDispatch[])[];
  };

  /**
   * Uploads the weights and records the dispatches of one token and of one prefill pass (shared parts once, per-row
   * parts — state, KV caches — per row).
   */
  private record(): void {
    const weights = this.weights!;
    const a = this.arch;
    const act = this.act;
    const pre = this.pre;
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
      : embed.kind === 'gguf' ? this.param(ggufParams(embed.type, a.hidden, a.vocab, 0, 0)) : this.param([a.hidden, 0, 0, 0, 0, a.vocab]);
    const embedGroups = Math.ceil(a.hidden / 64);
    // GGUF blocks are read by gemv_gguf.wgsl's embed entry (bindings 2, 5, 6); GGUF models run their prompts token by
    // token (the prefill GEMMs read f32 and MatMulNBits weights only).
    const embedBindings = (state: GPUBuffer, x: GPUBuffer): (GPUBuffer | null)[] => embed.kind === 'q4'
      ? [state, x, null, embed.q, embed.scales, embed.zp ?? this.act.dummy]
      : embed.kind === 'gguf' ? [null, embed.w, null, null, state, x] : [state, x, embed.w];
    const embedName = embed.kind === 'q4' ? 'embed_q4' : embed.kind === 'gguf' ? `embed:${embed.type}` as const : 'embed_f32';
    const makeEmbed = (state: GPUBuffer) => this.dispatch(embedName, embedSlot, embedBindings(state, act.x), embedGroups);
    const makePrefillEmbed = (state: GPUBuffer) => this.prefillDispatch(embedName, embedSlot, embedBindings(state, pre.x), (t) => [embedGroups, t, 1]);

    const normSlot = this.param([a.hidden, { f: a.rmsEps }]);
    const ropeSlot = this.param([a.heads, a.kvHeads, a.headDim, a.ropeLayout === 'half' ? 0 : 1, this.capacity]);
    const ropeGroups = Math.ceil((qSize / 2 + kvSize / 2 + kvSize) / 64);
    const attnSlot = this.param([a.heads, a.kvHeads, a.headDim, this.attnChunk, this.attnSplits, { f: 1 / Math.sqrt(a.headDim) }]);
    const swigluSlot = this.param([a.intermediate]);
    const argmaxSlot = this.param([a.vocab]);
    this.sampleSlot = argmaxSlot;

    const layerMakers = weights.layers.map((l) => {
      const attnNorm = this.vector(l.attnNorm);
      const mlpNorm = this.vector(l.mlpNorm);
      const bias = (v: Float32Array | null) => (v ? this.vector(v) : null);
      const [q, k, v, o, gate, up, down] = [l.q, l.k, l.v, l.o, l.gate, l.up, l.down].map((w) => this.linear(w));
      const before = [
        later(() => this.dispatch('rmsnorm', normSlot, [act.x, attnNorm, act.xn], 1)),
        later(this.gemv(q, act.xn, act.q, bias(l.qBias), false)),
        later(this.gemv(k, act.xn, act.k, bias(l.kBias), false)),
        later(this.gemv(v, act.xn, act.v, bias(l.vBias), false)),
      ];
      const after = [
        later(this.gemv(o, act.att, act.x, null, true)),
        later(() => this.dispatch('rmsnorm', normSlot, [act.x, mlpNorm, act.xn], 1)),
        later(this.gemv(gate, act.xn, act.gate, null, false)),
        later(this.gemv(up, act.xn, act.up, null, false)),
        later(() => this.dispatch('swiglu', swigluSlot, [act.gate, act.up], Math.ceil(a.intermediate / 64))),
        later(this.gemv(down, act.gate, act.x, null, true)),
      ];
      const perToken = (t: number): [number, number, number] => [t, 1, 1];
      const preBefore = [
        later(() => this.prefillDispatch('rmsnorm', normSlot, [pre.x, attnNorm, pre.xn], perToken)),
        later(this.gemm(q, pre.xn, pre.q, bias(l.qBias), false)),
        later(this.gemm(k, pre.xn, pre.k, bias(l.kBias), false)),
        later(this.gemm(v, pre.xn, pre.v, bias(l.vBias), false)),
      ];
      const preAfter = [
        later(this.gemm(o, pre.att, pre.x, null, true)),
        later(() => this.prefillDispatch('rmsnorm', normSlot, [pre.x, mlpNorm, pre.xn], perToken)),
        later(this.gemm(gate, pre.xn, pre.gate, null, false)),
        later(this.gemm(up, pre.xn, pre.up, null, false)),
        later(this.gemm(down, pre.gate, pre.x, null, true, pre.up)),
      ];
      return {
        decode: (state: GPUBuffer, kc: GPUBuffer, vc: GPUBuffer): Dispatch[] => [
          ...before.map((f) => f()),
          this.dispatch('rope_kv', ropeSlot, [state, act.rope, act.q, act.k, act.v, kc, vc], ropeGroups),
          { ...this.bind('attn_split', attnSlot, [state, act.q, kc, vc, act.partial]), x: a.heads, y: this.attnSplits, z: 1 },
          { ...this.bind('attn_combine', attnSlot, [state, null, null, null, act.partial, act.att]), x: a.heads, y: 1, z: 1 },
          ...after.map((f) => f()),
        ],
        prefill: (state: GPUBuffer, kc: GPUBuffer, vc: GPUBuffer): PrefillDispatch[] => [
          ...preBefore.map((f) => f()),
          this.prefillDispatch('rope_kv', ropeSlot, [state, act.rope, pre.q, pre.k, pre.v, kc, vc], (t) => [ropeGroups, t, 1]),
          this.prefillDispatch('attn_split', attnSlot, [state, pre.q, kc, vc, act.partial], (t) => [a.heads, this.attnSplits, t]),
          this.prefillDispatch('attn_combine', attnSlot, [state, null, null, null, act.partial, pre.att], (t) => [a.heads, t, 1]),
          ...preAfter.map((f) => f()),
        ],
      };
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
    this.rowRecipe = {
      embed: makeEmbed, layer: layerMakers.map((m) => m.decode), tail: tail.map((f) => f()),
      prefillEmbed: makePrefillEmbed, prefillLayer: layerMakers.map((m) => m.prefill),
    };
    this.rows.push(this.newRow());
    // The file's bytes are on the GPU now: drop every reference to them.
    this.weights = null;
    this.linears.clear();
    this.vectors.clear();
  }

}

/** The device has subgroups whose size divides a 32-lane row group (gemv_subgroup.wgsl's assumption). */
export function hasSmallSubgroups(device: GPUDevice): boolean {
  if (!device.features.has('subgroups')) return false;
  const info = (device as GPUDevice & { adapterInfo?: { subgroupMinSize?: number; subgroupMaxSize?: number } }).adapterInfo;
  const min = info?.subgroupMinSize ?? 0;
  const max = info?.subgroupMaxSize ?? 0;
  return min >= 1 && max <= 32 && (max & (max - 1)) === 0 && (min & (min - 1)) === 0;
}

/** A device with the adapter's largest buffer limits (a 1B model's embedding alone is ~1 GB in float32), and subgroups. */
async function requestDevice(): Promise<GPUDevice> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) throw new Error('WebGPU is not available');
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('no WebGPU adapter');
  return adapter.requestDevice({
    requiredFeatures: adapter.features.has('subgroups') ? ['subgroups' as GPUFeatureName] : [],
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
    },
  });
}

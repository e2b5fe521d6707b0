/**
 * Hearth's own WebGPU decoder for Llama-family models: the weights uploaded once (float32, MatMulNBits 4-bit or GGUF
 * blocks, as the file stores them), a KV cache per batch row in GPU buffers, and per token one compute pass replaying
 * a list of dispatches recorded at load time (recording.ts: pipelines, bind groups and every uniform written once; the
 * token id and position are read by the kernels from a small state buffer, copied in on the GPU). Prompts run as
 * prefill: up to PREFILL_ROWS tokens per pass through tiled GEMMs (gemm.wgsl, gemm_q4.wgsl, gemm_gguf.wgsl) and
 * split-K attention, the kernels taking the token as a dispatch dimension, then the head on the last token only
 * (prompt logprobs, which need every position's logits, run token by token). Greedy decoding ends in an argmax
 * kernel, so only a token id is read back; otherwise the logits are.
 *
 * This module steps the recorded work; shaders.ts names the kernels, pipelines.ts compiles them, gpu-resources.ts
 * owns buffers, uniforms and bind groups.
 */
import { internal, unavailable } from '../../../core/errors';
import type { DecoderShape, LlmDecoder, StepInput, StepOptions, StepOutput } from '../decoder';
import type { SamplingParams } from '../sampling';
import { gpuSamplingFits, samplerWords, type GpuSamplerInput } from './gpu-sampling';
import { GpuResources, MAP_MODE_READ, Usage } from './gpu-resources';
import { compilePipelines, hasSmallSubgroups, requestDevice } from './pipelines';
import { ATTENTION_MAX_HEAD_DIM, STATE_BYTES, allocateLayout, newRow, recordSteps, type DecoderLayout, type Recording, type Row } from './recording';
import { bundledLlmShaders, type WgslLlmShaderSources } from './shaders';
import type { LlamaWeights } from './weights';

export { WGSL_LLM_SHADER_NAMES, bundledLlmShaders, type WgslLlmShaderSources } from './shaders';
export { PREFILL_ROWS, attentionChunk } from './recording';
export { hasSmallSubgroups } from './pipelines';

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
  /** shaders/llm/gemm_gguf.wgsl (default: the bundled one), their prefill GEMM. */
  ggufGemmShader?: string;
}

export class WgslDecoder implements LlmDecoder {
  readonly backend = 'wgsl/webgpu';
  readonly shape: DecoderShape;
  /** Bytes of weights a decode step reads (for the roofline in the bench). */
  readonly weightBytes: number;
  private readonly arch: LlamaWeights['arch'];
  private readonly layout: DecoderLayout;
  private readonly recording: Recording;

  private readonly rows: Row[] = [];
  private stateUpload: GPUBuffer | null = null;
  private stateScratch = new Uint32Array(64);
  private logitsRead: GPUBuffer | null = null;
  private idsRead: GPUBuffer;
  private lost: string | null = null;
  /** Rows of the last encoded step that were all padding (no token ran; their outputs are zero). */
  private readonly paddingRows = new Set<number>();

  /** Whether the GEMVs use their subgroup variants (see WgslDecoderOptions.subgroups). */
  subgroups = false;
  /** Prompts through the prefill kernels (true), or token by token like decode steps (false: benches compare both). */
  prefill = true;
  /** Tokens per prefill pass (PREFILL_ROWS, or less for a small cache). */
  readonly prefillRows: number;

  /** Uploads the weights and records the step (weights are not referenced afterwards). */
  private constructor(
    private readonly device: GPUDevice,
    private readonly res: GpuResources,
    weights: LlamaWeights,
    readonly capacity: number,
    private readonly ownsDevice: boolean,
  ) {
    const a = (this.arch = weights.arch);
    this.shape = { layers: a.layers, kvHeads: a.kvHeads, headDim: a.headDim, vocabSize: a.vocab };
    this.layout = allocateLayout(res, a, capacity);
    this.prefillRows = this.layout.prefillRows;
    this.idsRead = res.buffer(4 * 64, Usage.MAP_READ | Usage.COPY_DST);
    let bytes = 0;
    for (const w of [weights.lmHead, ...weights.layers.flatMap((l) => [l.q, l.k, l.v, l.o, l.gate, l.up, l.down])]) {
      bytes += w.kind !== 'q4' ? w.bytes.byteLength : w.q.byteLength + w.scales.byteLength + (w.zeroPoints?.byteLength ?? 0);
    }
    this.weightBytes = bytes;
    void device.lost.then((info) => { this.lost = info.message || String(info.reason); });
    this.recording = recordSteps(res, weights, this.layout);
    this.rows.push(newRow(res, this.recording, this.layout));
    // The file's bytes are on the GPU now: drop every reference to them.
    res.forgetUploads();
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
      const subgroups = options.subgroups !== false && hasSmallSubgroups(gpu);
      const pipelines = await compilePipelines(gpu, shaders, weights, subgroups, { gemv: options.ggufShader, gemm: options.ggufGemmShader });
      const capacity = Math.max(1, Math.min(options.capacity, weights.arch.maxPositions));
      const decoder = new WgslDecoder(gpu, new GpuResources(gpu, pipelines), weights, capacity, owns);
      decoder.subgroups = subgroups;
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
      if (all) enc.copyBufferToBuffer(this.layout.act.logits, 0, read, (b * tokens + t) * vocab * 4, vocab * 4);
      else if (isLast) enc.copyBufferToBuffer(this.layout.act.logits, 0, read, b * vocab * 4, vocab * 4);
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
      this.idsRead = this.res.buffer(batch * 8, Usage.MAP_READ | Usage.COPY_DST);
    }
    const read = this.idsRead;
    const encoder = this.encode(input, (enc, b, _t, isLast) => {
      if (isLast) enc.copyBufferToBuffer(this.layout.act.result, 0, read, b * 8, 8);
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
    this.res.destroy();
    if (this.ownsDevice) this.device.destroy();
  }

  // --- stepping -----------------------------------------------------------------------------------------------------

  private check(input: StepInput): { batch: number; tokens: number } {
    if (this.lost) throw unavailable(`The GPU device was lost: ${this.lost}`, 'device_lost');
    const batch = input.ids.length;
    const tokens = input.ids[0]?.length ?? 0;
    if (!batch || !tokens) throw new Error('WgslDecoder.step: empty input');
    while (this.rows.length < batch) this.rows.push(newRow(this.res, this.recording, this.layout));
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
      this.stateUpload = this.res.buffer(Math.max(need * 4, 256), Usage.COPY_SRC | Usage.COPY_DST);
    }
    const states = this.stateScratch;
    this.paddingRows.clear();
    const encoder = this.device.createCommandEncoder();
    let slot = 0;
    const vocab = this.shape.vocabSize;
    const argmaxIf = (pass: GPUComputePassEncoder, isLast: boolean, row: Row) => {
      if (head === 'logits' || !isLast) return;
      const d = head === 'argmax' ? this.recording.argmax : row.sample;
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
      if (this.prefill && !allPositions && real.length >= 2) {
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
        encoder.copyBufferToBuffer(this.layout.pre.x, (count - 1) * hidden, this.layout.act.x, 0, hidden);
        const pass = encoder.beginComputePass();
        for (const d of this.recording.tail) {
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
      if (this.logitsRead) this.res.free(this.logitsRead);
      this.logitsRead = this.res.buffer(bytes, Usage.MAP_READ | Usage.COPY_DST);
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

}

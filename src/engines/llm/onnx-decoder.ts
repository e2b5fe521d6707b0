/**
 * One step of a causal LM in the transformers.js / onnx-community ONNX layout: `input_ids`, `attention_mask`,
 * `position_ids`, `past_key_values.{i}.key|value` → `logits`, `present.{i}.key|value`. On WebGPU the KV cache stays on
 * the GPU between steps (`preferredOutputLocation: 'gpu-buffer'`); only logits are read back.
 */
import type * as OrtModule from 'onnxruntime-web';
import { internal } from '../../api/errors';
import type { DecoderShape, LlmDecoder, StepInput, StepOutput } from './decoder';

export type Ort = typeof OrtModule;

export type { DecoderShape, StepInput, StepOutput } from './decoder';

export class OnnxDecoder implements LlmDecoder {
  private past: Record<string, OrtModule.Tensor> | null = null;

  constructor(
    private readonly ort: Ort,
    private readonly session: OrtModule.InferenceSession,
    readonly shape: DecoderShape,
    readonly device: 'webgpu' | 'wasm',
  ) {}

  get backend(): string {
    return `onnx/${this.device}`;
  }

  static sessionOptions(device: 'webgpu' | 'wasm', shape: DecoderShape): OrtModule.InferenceSession.SessionOptions {
    const options: OrtModule.InferenceSession.SessionOptions = { executionProviders: [device], graphOptimizationLevel: 'all' };
    if (device === 'webgpu') {
      const keep: Record<string, 'gpu-buffer'> = {};
      for (let i = 0; i < shape.layers; i++) {
        keep[`present.${i}.key`] = 'gpu-buffer';
        keep[`present.${i}.value`] = 'gpu-buffer';
      }
      options.preferredOutputLocation = keep;
    }
    return options;
  }

  /** Forgets the KV cache (next step starts a new sequence batch). */
  reset(): void {
    if (this.past) for (const t of Object.values(this.past)) t.dispose();
    this.past = null;
  }

  async step(input: StepInput): Promise<StepOutput> {
    const { Tensor } = this.ort;
    const batch = input.ids.length;
    const tokens = input.ids[0].length;
    const total = input.mask[0].length;
    // A plain loop: BigInt64Array.from(rows.flat(), BigInt) took ~30 µs for a 200-long mask row, every step.
    const int64 = (rows: number[][], width: number) => {
      const data = new BigInt64Array(batch * width);
      for (let b = 0; b < batch; b++) {
        const row = rows[b];
        if (row.length !== width) throw new Error(`OnnxDecoder.step: row ${b} has ${row.length} entries, not ${width}`);
        for (let t = 0; t < width; t++) data[b * width + t] = BigInt(row[t]);
      }
      return new Tensor('int64', data, [batch, width]);
    };
    const feeds: Record<string, OrtModule.Tensor> = {
      input_ids: int64(input.ids, tokens),
      attention_mask: int64(input.mask, total),
      position_ids: int64(input.positions, tokens),
    };
    const { layers, kvHeads, headDim } = this.shape;
    for (let i = 0; i < layers; i++) {
      for (const kind of ['key', 'value'] as const) {
        feeds[`past_key_values.${i}.${kind}`] = this.past?.[`present.${i}.${kind}`]
          ?? new Tensor('float32', new Float32Array(0), [batch, kvHeads, 0, headDim]);
      }
    }
    if (!this.session.inputNames.includes('position_ids')) delete feeds.position_ids;
    const out = await this.session.run(feeds);
    const logitsTensor = out.logits;
    if (!logitsTensor) throw internal('The decoder produced no "logits" output', 'bad_model_output');
    const logits = (await logitsTensor.getData()) as Float32Array;
    logitsTensor.dispose();
    const old = this.past;
    this.past = {};
    for (const [name, tensor] of Object.entries(out)) if (name.startsWith('present.')) this.past[name] = tensor;
    if (old) for (const t of Object.values(old)) t.dispose();
    return { logits, tokens };
  }

  async release(): Promise<void> {
    this.reset();
    await this.session.release();
  }
}

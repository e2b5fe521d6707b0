/**
 * One step of a causal LM in the transformers.js / onnx-community ONNX layout: `input_ids`, `attention_mask`,
 * `position_ids`, `past_key_values.{i}.key|value` → `logits`, `present.{i}.key|value`. On WebGPU the KV cache stays on
 * the GPU between steps (`preferredOutputLocation: 'gpu-buffer'`); only logits are read back.
 * The KV cache and logits dtypes come from the session's metadata: fp32 exports and q4f16 ones (float16
 * `past_key_values`/`present`/`logits`, as onnx-community's `model_q4f16.onnx`) both work. The float16 cache is fed
 * back as it came out (on the GPU when kept there); only the logits are widened to float32, on the way out.
 */
import type * as OrtModule from 'onnxruntime-web';
import { internal, unavailable } from '../../core/errors';
import type { Ort } from '../../core/session';
import { float16ToFloat32 } from '../../util/float16';
import type { OrtDevice } from '../embeddings/types';
import type { DecoderShape, LlmDecoder, StepInput, StepOutput } from './decoder';

export type { Ort };

export type { DecoderShape, StepInput, StepOutput } from './decoder';

/** The element types a decoder's KV cache and logits may have. */
export type DecoderFloat = 'float32' | 'float16';

/** The declared element type of a session input or output, when it is a float tensor we can feed or read. */
export function floatTypeOf(metadata: readonly OrtModule.InferenceSession.ValueMetadata[], name: string): DecoderFloat {
  const value = metadata.find((m) => m.name === name);
  if (!value) throw internal(`The decoder has no "${name}" input or output`, 'bad_model_io');
  const type = value.isTensor ? value.type : 'not a tensor';
  if (type !== 'float32' && type !== 'float16') {
    throw internal(`The decoder's "${name}" is ${type}; only float32 and float16 KV caches and logits are supported`, 'bad_model_io');
  }
  return type;
}

export class OnnxDecoder implements LlmDecoder {
  private past: Record<string, OrtModule.Tensor> | null = null;
  /** Element type of `past_key_values.*` (and so of the empty first-step tensors). */
  readonly kvType: DecoderFloat;
  /** Element type of `logits` as the graph returns it (read back as float32 either way). */
  readonly logitsType: DecoderFloat;
  /** The step in flight, if any: steps run one at a time, and release() waits for it (never a release mid-run). */
  private running: Promise<unknown> | null = null;
  private released = false;

  constructor(
    private readonly ort: Ort,
    private readonly session: OrtModule.InferenceSession,
    readonly shape: DecoderShape,
    readonly device: OrtDevice,
  ) {
    this.kvType = shape.layers > 0 ? floatTypeOf(session.inputMetadata, 'past_key_values.0.key') : 'float32';
    this.logitsType = floatTypeOf(session.outputMetadata, 'logits');
  }

  get backend(): string {
    return `onnx/${this.device}`;
  }

  static sessionOptions(device: OrtDevice, shape: DecoderShape): OrtModule.InferenceSession.SessionOptions {
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

  /** Runs one step after any step in flight; a released decoder refuses (503) instead of touching a freed session. */
  async step(input: StepInput): Promise<StepOutput> {
    const previous = this.running;
    const mine = (async () => {
      await previous?.catch(() => undefined);
      if (this.released) throw unavailable('The model was unloaded while this request waited; retry', 'model_unloaded');
      return this.run(input);
    })();
    this.running = mine;
    try {
      return await mine;
    } finally {
      if (this.running === mine) this.running = null;
    }
  }

  private async run(input: StepInput): Promise<StepOutput> {
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
        feeds[`past_key_values.${i}.${kind}`] = this.past?.[`present.${i}.${kind}`] ?? (this.kvType === 'float16'
          ? new Tensor('float16', new Uint16Array(0), [batch, kvHeads, 0, headDim])
          : new Tensor('float32', new Float32Array(0), [batch, kvHeads, 0, headDim]));
      }
    }
    if (!this.session.inputNames.includes('position_ids')) delete feeds.position_ids;
    const out = await this.session.run(feeds);
    const logitsTensor = out.logits;
    if (!logitsTensor) throw internal('The decoder produced no "logits" output', 'bad_model_output');
    const data = await logitsTensor.getData();
    logitsTensor.dispose();
    const logits = logitsTensor.type === 'float16' ? float16ToFloat32(data as Uint16Array | ArrayLike<number>) : data as Float32Array;
    if (!(logits instanceof Float32Array)) throw internal(`The decoder's logits are ${logitsTensor.type}, not float32 or float16`, 'bad_model_output');
    const old = this.past;
    this.past = {};
    for (const [name, tensor] of Object.entries(out)) if (name.startsWith('present.')) this.past[name] = tensor;
    if (old) for (const t of Object.values(old)) t.dispose();
    return { logits, tokens };
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.running?.catch(() => undefined);
    this.reset();
    await this.session.release();
  }
}

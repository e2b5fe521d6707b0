/**
 * What the decoding loop (generate.ts) needs from a model runner, whichever backend it is: onnxruntime-web running
 * an ONNX decoder graph (onnx-decoder.ts) or our own WGSL kernels (wgsl/decoder.ts). One step feeds a left-padded
 * batch of tokens with its attention mask and positions, and returns logits — or, for greedy decoding on a backend
 * that can, only the chosen token ids.
 */
import type { SamplingParams } from './sampling';

export interface DecoderShape {
  layers: number;
  kvHeads: number;
  headDim: number;
  vocabSize: number;
}

export interface StepInput {
  /** [batch][tokens] of this step. */
  ids: number[][];
  /** [batch][past + tokens]: 1 for real tokens, 0 for left padding. */
  mask: number[][];
  /** [batch][tokens]. */
  positions: number[][];
}

export interface StepOptions {
  /** Logits of every position of the step (prompt logprobs); otherwise a backend may return only the last one. */
  allPositions?: boolean;
}

export interface StepOutput {
  /** Row-major [batch, tokens, vocab]: a new array each step, the caller's to modify. */
  logits: Float32Array;
  /** Positions per row in `logits`: the step's token count, or 1 when only the last position came back. */
  tokens: number;
}

/** One row's sampling for a decoder that samples on its device (see LlmDecoder.stepSample). */
export interface DeviceSampler {
  params: SamplingParams;
  /** The uniform draw in [0, 1) for this token from the choice's seeded generator (unused when greedy). */
  u: number;
  /** Prompt and output tokens (repetition penalty), or null when it is off. */
  seen: ReadonlySet<number> | null;
  /** Output token counts (frequency/presence penalties). */
  counts: ReadonlyMap<number, number>;
  /** Allowed-token bitmask (grammar), bit j & 31 of word j >> 5. */
  allowed?: Uint32Array;
  /** Never chosen (ignore_eos). */
  banned?: readonly number[];
}

export interface LlmDecoder {
  readonly shape: DecoderShape;
  /** What runs it, as reported in `x-hearth-backend`: 'onnx/webgpu', 'onnx/wasm', 'wgsl/webgpu'. */
  readonly backend: string;
  /** Forgets the KV cache (the next step starts a new sequence batch). */
  reset(): void;
  step(input: StepInput, options?: StepOptions): Promise<StepOutput>;
  /** Greedy decoding where the backend picks the argmax itself: the next token id of each row, no logits read back. */
  stepGreedy?(input: StepInput): Promise<number[]>;
  /**
   * Sampling on the device, with the semantics of sampleToken (sampling.ts) given the same draw: penalties, bias,
   * mask and ban included; only token ids come back. `fitsDeviceSampling` says which settings it implements.
   */
  stepSample?(input: StepInput, samplers: DeviceSampler[]): Promise<number[]>;
  fitsDeviceSampling?(params: SamplingParams, banned: number): boolean;
  release(): Promise<void>;
}

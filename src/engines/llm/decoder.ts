/**
 * What the decoding loop (generate.ts) needs from a model runner, whichever backend it is: onnxruntime-web running
 * an ONNX decoder graph (onnx-decoder.ts) or our own WGSL kernels (wgsl/decoder.ts). One step feeds a left-padded
 * batch of tokens with its attention mask and positions, and returns logits — or, for greedy decoding on a backend
 * that can, only the chosen token ids.
 */

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

export interface LlmDecoder {
  readonly shape: DecoderShape;
  /** What runs it, as reported in `x-hearth-backend`: 'onnx/webgpu', 'onnx/wasm', 'wgsl/webgpu'. */
  readonly backend: string;
  /** Forgets the KV cache (the next step starts a new sequence batch). */
  reset(): void;
  step(input: StepInput, options?: StepOptions): Promise<StepOutput>;
  /** Greedy decoding where the backend picks the argmax itself: the next token id of each row, no logits read back. */
  stepGreedy?(input: StepInput): Promise<number[]>;
  release(): Promise<void>;
}

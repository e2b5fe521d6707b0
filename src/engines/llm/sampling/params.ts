/** The sampling settings of a request (SamplingParams), their defaults and the logit_bias id check against the model. */

/** The sampling settings of a chat/completions request, already resolved (see `withSamplingDefaults` in src/api/sampling-fields.ts). */
export interface SamplingParams {
  /** 0 → greedy (argmax); otherwise logits are divided by it before top-k/top-p. Spec range [0, 2]. */
  temperature: number;
  /** Nucleus mass in (0, 1]; 1 disables the filter, ≤ 0 keeps only the most likely token. */
  topP: number;
  /** Keep only the k most likely tokens; null (or ≥ the vocabulary) disables the filter. */
  topK: number | null;
  frequencyPenalty: number;
  presencePenalty: number;
  /** min_p in [0, 1]: after top-p, keep the tokens with p ≥ minP · p_max. 0 disables the filter. */
  minP: number;
  /** typical_p in [0, 1]: locally typical sampling (HF's TypicalLogitsWarper) after min-p. 1 disables it. */
  typicalP: number;
  /**
   * CTRL-style penalty (> 0) for every token already in the prompt or the output (the caller applies it, see
   * `applyRepetitionPenalty`): logit / penalty if positive, logit · penalty if negative. 1 disables it.
   */
  repetitionPenalty: number;
  /** Mirostat v2 in place of top-k/top-p/min-p/typical-p (those are then ignored); null = off. */
  mirostat: MirostatParams | null;
  /**
   * logit_bias as [token id, bias] pairs in ascending id order (a plain array, so it survives JSON as well as
   * structured cloning). Added to the logits; bias ≤ -100 bans the token, bias ≥ 100 forces it (see `sampleToken`).
   */
  logitBias: LogitBias;
  /** ignore_eos: the caller bans the end-of-sequence tokens (`SampleOptions.banned`) unless a grammar is active. */
  ignoreEos: boolean;
}

/** Mirostat v2 (as llama.cpp implements it): target surprise τ (bits) and learning rate η. */
export interface MirostatParams {
  target: number;
  lr: number;
}

/** [token id, bias] pairs, ascending by id. */
export type LogitBias = ReadonlyArray<readonly [tokenId: number, bias: number]>;

/** A bias at or beyond these bans (never sampled) or forces (only forced tokens stay candidates) a token. */
export const LOGIT_BIAS_BAN = -100;
export const LOGIT_BIAS_FORCE = 100;

/** Mirostat's learning rate when a request sets mirostat_target without mirostat_lr (llama.cpp's default). */
export const DEFAULT_MIROSTAT_LR = 0.1;

/** The defaults: temperature 1, top_p 1, top_k null, penalties 0 (repetition 1), every other filter off. */
export const DEFAULT_SAMPLING_PARAMS: Readonly<SamplingParams> = Object.freeze({
  temperature: 1,
  topP: 1,
  topK: null,
  frequencyPenalty: 0,
  presencePenalty: 0,
  minP: 0,
  typicalP: 1,
  repetitionPenalty: 1,
  mirostat: null,
  logitBias: Object.freeze([]) as LogitBias,
  ignoreEos: false,
});

/** A request's sampling fields that cannot be honoured together: the field to name in a 400, and why. */
export interface SamplingProblem {
  param: string;
  message: string;
}

/**
 * logit_bias ids against the model's logits width: every id must be a non-negative integer below `vocabSize`.
 * The engine checks this when a job starts (it knows the width); exported for the API and other backends.
 */
export function checkLogitBiasIds(bias: LogitBias, vocabSize: number): SamplingProblem | null {
  for (const [id] of bias) {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      return {
        param: 'logit_bias',
        message: `"logit_bias" names token ${JSON.stringify(id)}, which is not a token id of this model (ids are 0 to ${vocabSize - 1})`,
      };
    }
  }
  return null;
}

/** Mirostat v2's per-choice state: the current maximum surprise mu (bits). */
export interface MirostatState {
  mu: number;
}

/** A choice's fresh Mirostat state (mu = 2τ, as llama.cpp starts it), or null when Mirostat is off. */
export function createMirostatState(params: SamplingParams): MirostatState | null {
  return params.mirostat ? { mu: 2 * params.mirostat.target } : null;
}

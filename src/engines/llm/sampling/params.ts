/** The sampling settings of a request (SamplingParams), their defaults and the checks of their combinations. */

/** The sampling settings of a chat/completions request, already resolved (see `withSamplingDefaults`). */
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

/** Request-shaped sampling fields, any of which may be missing or null (the spec makes them all nullable). */
export interface SamplingRequestFields {
  temperature?: number | null;
  top_p?: number | null;
  top_k?: number | null;
  frequency_penalty?: number | null;
  presence_penalty?: number | null;
  min_p?: number | null;
  typical_p?: number | null;
  repetition_penalty?: number | null;
  mirostat_target?: number | null;
  mirostat_lr?: number | null;
  /** Token id (a decimal string, as JSON object keys are) → bias in [-100, 100]. */
  logit_bias?: Record<string, number> | null;
  ignore_eos?: boolean | null;
}

/**
 * Resolves request fields to `SamplingParams`, applying the defaults to missing/null ones. logit_bias keys become
 * numbers as they are (`Number(key)`): ids that are not token ids of the model are refused by `checkLogitBiasIds`.
 */
export function withSamplingDefaults(fields: SamplingRequestFields): SamplingParams {
  const d = DEFAULT_SAMPLING_PARAMS;
  const bias = fields.logit_bias ? Object.entries(fields.logit_bias).map(([k, v]) => [Number(k), v] as const) : [];
  bias.sort((a, b) => a[0] - b[0]);
  return {
    temperature: fields.temperature ?? d.temperature,
    topP: fields.top_p ?? d.topP,
    topK: fields.top_k ?? d.topK,
    frequencyPenalty: fields.frequency_penalty ?? d.frequencyPenalty,
    presencePenalty: fields.presence_penalty ?? d.presencePenalty,
    minP: fields.min_p ?? d.minP,
    typicalP: fields.typical_p ?? d.typicalP,
    repetitionPenalty: fields.repetition_penalty ?? d.repetitionPenalty,
    mirostat: fields.mirostat_target == null ? null : { target: fields.mirostat_target, lr: fields.mirostat_lr ?? DEFAULT_MIROSTAT_LR },
    logitBias: bias.length ? bias : d.logitBias,
    ignoreEos: fields.ignore_eos ?? d.ignoreEos,
  };
}

/** A request's sampling fields that cannot be honoured together: the field to name in a 400, and why. */
export interface SamplingProblem {
  param: string;
  message: string;
}

/**
 * The checks on sampling fields that a JSON Schema of each field alone cannot express (ranges are the schema's):
 * Mirostat replaces top_k, top_p, min_p and typical_p, so a request setting `mirostat_target` and any of those to
 * something but its default (top_k null, top_p 1, min_p 0, typical_p 1) is refused, naming that field;
 * `mirostat_lr` without `mirostat_target` is refused; logit_bias keys must be token ids (non-negative integers
 * written in decimal). Returns null when the fields are fine.
 */
export function checkSamplingCombination(fields: SamplingRequestFields): SamplingProblem | null {
  if (fields.mirostat_lr != null && fields.mirostat_target == null) {
    return { param: 'mirostat_lr', message: '"mirostat_lr" needs "mirostat_target": Mirostat runs only with a target surprise' };
  }
  if (fields.mirostat_target != null) {
    const others: [keyof SamplingRequestFields, boolean][] = [
      ['top_k', fields.top_k != null],
      ['top_p', fields.top_p != null && fields.top_p !== 1],
      ['min_p', fields.min_p != null && fields.min_p !== 0],
      ['typical_p', fields.typical_p != null && fields.typical_p !== 1],
    ];
    const clash = others.find(([, set]) => set);
    if (clash) {
      return {
        param: clash[0],
        message: `"${clash[0]}" cannot be combined with "mirostat_target": Mirostat replaces top_k, top_p, min_p and ` +
          `typical_p (got ${clash[0]} ${JSON.stringify(fields[clash[0]])})`,
      };
    }
  }
  for (const key of Object.keys(fields.logit_bias ?? {})) {
    if (!/^(0|[1-9][0-9]*)$/.test(key) || !Number.isSafeInteger(Number(key))) {
      return { param: 'logit_bias', message: `"logit_bias" keys are token ids (non-negative integers); got ${JSON.stringify(key)}` };
    }
  }
  return null;
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

/**
 * The sampling fields of a chat/completions request as the API reads them: the request-shaped fields (all nullable,
 * as the spec makes them), their defaults resolved into the engine's `SamplingParams`, and the combinations a JSON
 * Schema of each field alone cannot refuse. The sampling itself is src/engines/llm/sampling/.
 */
import { DEFAULT_MIROSTAT_LR, DEFAULT_SAMPLING_PARAMS, type SamplingParams, type SamplingProblem } from '../engines/llm/sampling';

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

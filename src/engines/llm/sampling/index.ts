/**
 * Next-token selection for the LLM decoder: CTRL-style repetition penalty, OpenAI-style frequency/presence penalties,
 * logit_bias (±100 = ban/force), grammar masks (a bitmask of allowed tokens), the ignore_eos ban, log-probabilities for
 * `logprobs`, and greedy / temperature / top-k / top-p / min-p / typical-p / Mirostat v2 sampling with a seeded PRNG.
 * Written for large vocabularies (Llama-3: 128,256 tokens): requests without min_p, typical_p or Mirostat take a few
 * linear passes and no full sort of the vocabulary; those opt-in filters sort their candidates.
 * Pure TypeScript over Float32Arrays, so it runs the same in a worker, a page and Node tests.
 *
 * Split by concern: params.ts (settings, defaults, the logit_bias id check), token.ts (sampleToken), filters.ts (top-k, min-p,
 * typical-p, Mirostat), penalties.ts, exp.ts (fast exp, log-softmax).
 */
export { checkLogitBiasIds, createMirostatState, DEFAULT_MIROSTAT_LR, DEFAULT_SAMPLING_PARAMS, LOGIT_BIAS_BAN, LOGIT_BIAS_FORCE } from './params';
export type { LogitBias, MirostatParams, MirostatState, SamplingParams, SamplingProblem } from './params';
export { applyPenalties, applyRepetitionPenalty } from './penalties';
export { expNonPositive, logSoftmax } from './exp';
export { isGreedy, sampleToken } from './token';
export type { SampleOptions, SampleResult, TokenLogprob } from './token';

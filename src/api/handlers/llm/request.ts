/**
 * What chat and completions requests share: the body's generation fields turned into the engine's
 * GenerationParams (the spec's defaults applied), the model resolved, and the checks JSON Schema cannot express.
 */
import { randomSeed } from '../../../util/rng';
import { checkSamplingCombination, withSamplingDefaults, type SamplingRequestFields } from '../../sampling-fields';
import type { GenerationParams, ResponseFormat } from '../../../engines/llm/types';
import type { CatalogEntry } from '../../../models/types';
import { invalidRequest } from '../../errors';
import type { RequestContext } from '../../types';

export interface GenerationFields extends SamplingRequestFields {
  model: string;
  max_tokens?: number | null;
  /** OpenAI's name for max_tokens (live API surface). */
  max_completion_tokens?: number | null;
  n?: number | null;
  stop?: string | string[] | null;
  seed?: number | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean | null } | null;
  response_format?: RequestResponseFormat | null;
  context_length_exceeded_behavior?: 'truncate' | 'error';
  user?: string | null;
  /** Completions: 0–5 alternatives. Chat (live API): true/false (or a count, the older Fireworks form). */
  logprobs?: number | boolean | null;
  top_logprobs?: number | null;
  echo?: boolean | null;
  echo_last?: number | null;
  return_token_ids?: boolean | null;
  raw_output?: boolean | null;
  perf_metrics_in_response?: boolean | null;
}

type RequestResponseFormat =
  | { type: 'text' }
  | { type: 'json_object'; schema?: object | null }
  | { type: 'json_schema'; json_schema: { name: string; description?: string; schema?: object; strict?: boolean | null } }
  | { type: 'grammar'; grammar: string };

export function resolveLlm(ctx: RequestContext, body: GenerationFields): CatalogEntry {
  return ctx.deps.registry.resolve(body.model, 'llm');
}

/** The request's output format as the engine takes it: json_schema is json_object with that schema (strict either way). */
function responseFormatOf(format: RequestResponseFormat | null | undefined): ResponseFormat {
  switch (format?.type) {
    case undefined:
    case 'text':
      return { type: 'text' };
    case 'json_object':
      return format.schema ? { type: 'json_object', schema: format.schema } : { type: 'json_object' };
    case 'json_schema':
      return format.json_schema.schema ? { type: 'json_object', schema: format.json_schema.schema } : { type: 'json_object' };
    case 'grammar':
      return { type: 'grammar', grammar: format.grammar };
  }
}

/** Chat's `logprobs: true` + `top_logprobs` (OpenAI) → alternatives per token, or null; completions keep their integer. */
function logprobsOf(body: GenerationFields, kind: 'chat' | 'completion'): number | null {
  if (kind === 'completion') return typeof body.logprobs === 'number' ? body.logprobs : null;
  const on = body.logprobs === true || typeof body.logprobs === 'number';
  if (body.top_logprobs != null && !on) {
    throw invalidRequest('"top_logprobs" needs "logprobs": true', 'top_logprobs', 'invalid_value');
  }
  if (!on) return null;
  return body.top_logprobs ?? (typeof body.logprobs === 'number' ? body.logprobs : 0);
}

export function generationParams(body: GenerationFields, defaultMaxTokens: number, kind: 'chat' | 'completion'): GenerationParams {
  if (body.max_tokens != null && body.max_completion_tokens != null) {
    throw invalidRequest('Give "max_tokens" or "max_completion_tokens" (the same setting), not both', 'max_completion_tokens', 'invalid_value');
  }
  if (body.stream_options != null && !body.stream) {
    throw invalidRequest('"stream_options" needs "stream": true', 'stream_options', 'invalid_value');
  }
  const maxTokens = body.max_tokens ?? body.max_completion_tokens ?? defaultMaxTokens;
  if (maxTokens < 0) throw invalidRequest(`"max_tokens" must be >= 0 (got ${maxTokens})`, 'max_tokens');
  const stop = body.stop == null ? [] : typeof body.stop === 'string' ? [body.stop] : body.stop;
  const clash = checkSamplingCombination(body);
  if (clash) throw invalidRequest(clash.message, clash.param, 'invalid_value');
  if (body.echo_last != null && body.echo === false) {
    throw invalidRequest('"echo_last" echoes the prompt, but "echo" is false', 'echo_last', 'invalid_value');
  }
  return {
    maxTokens,
    stop: stop.filter((s) => s.length > 0),
    sampling: withSamplingDefaults(body),
    seed: body.seed == null ? randomSeed() : body.seed >>> 0,
    n: body.n ?? 1,
    logprobs: logprobsOf(body, kind),
    echo: body.echo === true || body.echo_last != null,
    echoLast: body.echo_last ?? null,
    returnTokenIds: body.return_token_ids === true,
    rawOutput: body.raw_output === true,
    responseFormat: responseFormatOf(body.response_format),
    contextLengthExceeded: body.context_length_exceeded_behavior ?? 'truncate',
  };
}

export const newId = (prefix: string) => {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `${prefix}-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
};

export const nowSeconds = () => Math.floor(Date.now() / 1000);

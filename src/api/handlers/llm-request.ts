/**
 * What chat and completions requests share: the body's generation fields turned into the engine's
 * GenerationParams (the spec's defaults applied), the model resolved, and the checks JSON Schema cannot express.
 */
import { randomSeed } from '../../util/rng';
import { withSamplingDefaults, type SamplingRequestFields } from '../../engines/llm/sampling';
import type { GenerationParams, ResponseFormat } from '../../engines/llm/types';
import type { CatalogEntry } from '../../models/types';
import { invalidRequest } from '../errors';
import type { RequestContext } from '../types';

export interface GenerationFields extends SamplingRequestFields {
  model: string;
  max_tokens?: number | null;
  n?: number | null;
  stop?: string | string[] | null;
  seed?: number | null;
  stream?: boolean | null;
  response_format?: { type: 'text' | 'json_object'; schema?: object | null } | null;
  context_length_exceeded_behavior?: 'truncate' | 'error';
  user?: string | null;
  logprobs?: number | null;
  echo?: boolean | null;
}

export function resolveLlm(ctx: RequestContext, body: GenerationFields): CatalogEntry {
  return ctx.deps.registry.resolve(body.model, 'llm');
}

export function generationParams(body: GenerationFields, defaultMaxTokens: number): GenerationParams {
  const maxTokens = body.max_tokens ?? defaultMaxTokens;
  if (maxTokens < 0) throw invalidRequest(`"max_tokens" must be >= 0 (got ${maxTokens})`, 'max_tokens');
  const stop = body.stop == null ? [] : typeof body.stop === 'string' ? [body.stop] : body.stop;
  const format = body.response_format;
  let responseFormat: ResponseFormat = { type: 'text' };
  if (format?.type === 'json_object') {
    responseFormat = format.schema ? { type: 'json_object', schema: format.schema } : { type: 'json_object' };
  } else if (format?.schema) {
    throw invalidRequest('"response_format.schema" needs "type": "json_object"', 'response_format.schema');
  }
  return {
    maxTokens,
    stop: stop.filter((s) => s.length > 0),
    sampling: withSamplingDefaults(body),
    seed: body.seed == null ? randomSeed() : body.seed >>> 0,
    n: body.n ?? 1,
    logprobs: body.logprobs ?? null,
    echo: body.echo ?? false,
    responseFormat,
    contextLengthExceeded: body.context_length_exceeded_behavior ?? 'truncate',
  };
}

export const newId = (prefix: string) => {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `${prefix}-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
};

export const nowSeconds = () => Math.floor(Date.now() / 1000);

/**
 * POST /completions: one or more prompts (text or token ids) → the LLM engine → a CreateCompletionResponse with
 * choices numbered prompt-major, optional logprobs (tokens, token_logprobs, top_logprobs, text_offset) and echo;
 * or with `stream: true` an SSE stream of completion chunks (usage in the last one, then [DONE]).
 */
import { kindRoutes } from '../kind-routes';
import type { LlmEvent, TokenLogprob } from '../../engines/llm/types';
import { invalidRequest } from '../errors';
import { jsonResponse } from '../http';
import { sseResponse } from '../sse-response';
import type { Handler } from '../types';
import { acceptRequest } from '../live-fields';
import { precheckCompletion } from '../precheck';
import { collectEvents, splitStart, usageOf } from './llm/events';
import { generationParams, newId, nowSeconds, resolveLlm, type GenerationFields } from './llm/request';
import { appendTokenIds, outputOptions, perfMetrics, promptTokenIds, rawOutput } from './llm/output';

interface CompletionBody extends GenerationFields {
  prompt: string | string[] | number[] | number[][];
  images?: string[];
}

export const createCompletion: Handler = async (ctx) => {
  const body = await ctx.json();
  acceptRequest(ctx, 'completions', body);
  precheckCompletion(body);
  const req = body as CompletionBody;
  const entry = resolveLlm(ctx, req);
  const params = generationParams(req, 16, 'completion');
  if (req.images?.length && !entry.llm?.vision) {
    throw invalidRequest(`Model ${req.model} does not accept images`, 'images', 'unsupported_parameter');
  }
  const prompts = normalisePrompts(req.prompt);
  const engine = await ctx.deps.engines.llm();
  const { start, rest: events } = await splitStart(await engine.run({
    kind: 'completion', entry, prompts, images: req.images ?? [], params,
  }, ctx.request.signal));
  const id = newId('cmpl');
  const created = nowSeconds();
  const headers = { 'x-hearth-seed': String(params.seed), 'x-hearth-backend': start.backend };
  const withLogprobs = params.logprobs !== null;
  const choiceCount = prompts.length * params.n;
  const show = outputOptions(params, req);
  const promptOf = (choice: number) => Math.floor(choice / params.n);
  const promptIds = show.tokenIds ? { prompt_token_ids: promptTokenIds(start) } : {};

  if (req.stream) {
    let finished = 0;
    let sentFirst = false;
    const tokenIds = new Map<number, number[]>();
    let pending: Extract<LlmEvent, { type: 'finish' }> | null = null;
    const openAiUsage = req.stream_options?.include_usage === true;
    const chunk = (choices: unknown[], extra: object = {}) => {
      const first = sentFirst ? {} : promptIds;
      sentFirst = true;
      return { id, object: 'text_completion', created, model: req.model, choices, ...first, ...extra };
    };
    const finishChoice = (e: Extract<LlmEvent, { type: 'finish' }>) => ({
      index: e.choice, text: '', logprobs: null, finish_reason: e.reason,
      ...(show.raw && { raw_output: rawOutput(start, promptOf(e.choice), e.raw ?? '', tokenIds.get(e.choice) ?? []) }),
    });
    return sseResponse(events, (e) => {
      if (e.type === 'delta') {
        if (e.tokenIds && show.raw) appendTokenIds(tokenIds, e.choice, e.tokenIds);
        const ids = show.tokenIds && e.tokenIds ? { token_ids: e.tokenIds } : {};
        if (!e.text && !e.logprobs && !('token_ids' in ids)) return [];
        return [chunk([{ index: e.choice, text: e.text ?? '', logprobs: withLogprobs ? shapeLogprobs(e.logprobs ?? []) : null, finish_reason: null, ...ids }])];
      }
      if (e.type === 'finish') {
        finished++;
        if (finished === choiceCount) {
          pending = e;
          return [];
        }
        return [chunk([finishChoice(e)])];
      }
      if (e.type === 'done') {
        const usage = usageOf(e);
        const perf = show.perf ? { perf_metrics: perfMetrics(start, e, choiceCount) } : {};
        const last = pending as Extract<LlmEvent, { type: 'finish' }> | null;
        if (openAiUsage) return [...(last ? [chunk([finishChoice(last)])] : []), chunk([], { usage, ...perf })];
        return [chunk(last ? [finishChoice(last)] : [], { usage, ...perf })];
      }
      return [];
    }, headers);
  }

  const result = await collectEvents(events, choiceCount, ctx.request.signal);
  return jsonResponse({
    id, object: 'text_completion', created, model: req.model,
    ...promptIds,
    choices: result.choices.map((c, index) => ({
      index,
      text: c.text,
      logprobs: withLogprobs ? shapeLogprobs(c.logprobs) : null,
      finish_reason: c.finishReason,
      ...(show.tokenIds && { token_ids: c.tokenIds }),
      ...(show.raw && { raw_output: rawOutput(start, promptOf(index), c.raw, c.tokenIds) }),
    })),
    usage: result.usage,
    ...(show.perf && { perf_metrics: perfMetrics(start, result.done, choiceCount) }),
  }, { headers });
};

/** The spec's four prompt shapes as a list of prompts (a flat integer array is one tokenised prompt). */
function normalisePrompts(prompt: CompletionBody['prompt']): (string | number[])[] {
  if (typeof prompt === 'string') return [prompt];
  if (prompt.every((p) => typeof p === 'number')) return [prompt as number[]];
  return prompt as (string | number[])[];
}

/** OpenAI's completions logprobs: parallel arrays; the first echoed prompt token has null logprob and no alternatives. */
function shapeLogprobs(entries: TokenLogprob[]) {
  return {
    tokens: entries.map((e) => e.token),
    token_logprobs: entries.map((e) => (Number.isNaN(e.logprob) ? null : e.logprob)),
    top_logprobs: entries.map((e) => (Number.isNaN(e.logprob) ? null : Object.fromEntries(e.top.map((t) => [t.token, t.logprob])))),
    text_offset: entries.map((e) => e.textOffset),
  };
}

/** The path it serves (an LLM route: src/api/routes.ts). */
export const routes = kindRoutes('llm', [
  { path: '/completions', method: 'POST', handler: createCompletion, operation: 'completions' },
]);

/**
 * The optional parts of chat and completion answers that the live API adds (spec/NOTES.md, "The live API surface"):
 * chat log-probabilities in OpenAI's `logprobs.content[]` shape, token ids (`return_token_ids`), the raw exchange
 * (`raw_output`) and Hearth's own timings (`perf_metrics_in_response`). Both handlers, streamed or not, build them here.
 */
import type { GenerationParams, LlmEvent, LlmTimings, TokenLogprob } from '../../../engines/llm/types';

type StartEvent = Extract<LlmEvent, { type: 'start' }>;
type DoneEvent = Extract<LlmEvent, { type: 'done' }>;

const utf8 = new TextEncoder();
const bytesOf = (text: string) => Array.from(utf8.encode(text));

/** OpenAI's chat logprobs: `{content: [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}]}`. */
export function chatLogprobs(entries: readonly TokenLogprob[]) {
  return {
    content: entries.map((e) => ({
      token: e.token, logprob: e.logprob, bytes: bytesOf(e.token),
      top_logprobs: e.top.map((t) => ({ token: t.token, logprob: t.logprob, bytes: bytesOf(t.token) })),
    })),
  };
}

/** What a request asked to see beyond the plain answer. */
export interface OutputOptions {
  tokenIds: boolean;
  raw: boolean;
  perf: boolean;
}

export const outputOptions = (params: GenerationParams, body: { perf_metrics_in_response?: boolean | null }): OutputOptions => ({
  tokenIds: params.returnTokenIds, raw: params.rawOutput, perf: body.perf_metrics_in_response === true,
});

/** `prompt_token_ids` of the response: one prompt's ids, or one list per prompt when there are several. */
export function promptTokenIds(start: StartEvent): number[] | number[][] {
  const ids = start.promptIds ?? [];
  return ids.length === 1 ? ids[0] : ids;
}

/** Appends a stream delta's token ids to its choice's list (in place: a long stream stays linear). */
export function appendTokenIds(lists: Map<number, number[]>, choice: number, ids: readonly number[]): void {
  let list = lists.get(choice);
  if (!list) lists.set(choice, (list = []));
  for (const id of ids) list.push(id);
}

/** Per choice `raw_output`: the prompt as the model saw it and the completion as it produced it, with token ids. */
export function rawOutput(start: StartEvent, prompt: number, completion: string, completionIds: readonly number[]) {
  return {
    prompt_fragments: [start.promptTexts?.[prompt] ?? ''],
    prompt_token_ids: start.promptIds?.[prompt] ?? [],
    completion,
    completion_token_ids: [...completionIds],
  };
}

/**
 * `perf_metrics`: where the time went, measured in the engine worker around the backend (the relay to the page is not
 * included). Time to first token = queue + prefill; decode speed counts the tokens after the first of each choice.
 */
export function perfMetrics(start: StartEvent, done: DoneEvent, choices: number) {
  const t: LlmTimings = done.timings ?? { queueMs: 0, prefillMs: 0, decodeMs: 0 };
  const decodedAfterFirst = Math.max(0, done.completionTokens - choices);
  const round = (x: number) => Math.round(x * 100) / 100;
  return {
    backend: start.backend,
    queue_ms: round(t.queueMs),
    prefill_ms: round(t.prefillMs),
    time_to_first_token_ms: round(t.queueMs + t.prefillMs),
    decode_ms: round(t.decodeMs),
    decode_tokens_per_second: t.decodeMs > 0 ? round((decodedAfterFirst * 1000) / t.decodeMs) : null,
    prompt_tokens: done.promptTokens,
    completion_tokens: done.completionTokens,
  };
}

/**
 * Folding the engine's event stream into whole choices (for non-streamed answers) and usage totals.
 */
import type { FinishReason, LlmEvent, TokenLogprob, ToolCall } from '../../../engines/llm/types';
import { restOf } from '../../../util/pull-stream';
import { readAll } from '../../http';

export interface CollectedChoice {
  text: string;
  logprobs: TokenLogprob[];
  toolCalls: ToolCall[];
  finishReason: FinishReason;
  /** Generated token ids (only when the job asked for them). */
  tokenIds: number[];
  /** The raw completion (only with raw output). */
  raw: string;
}

export interface Usage { prompt_tokens: number; completion_tokens: number; total_tokens: number }

export const usageOf = (e: Extract<LlmEvent, { type: 'done' }>): Usage => ({
  prompt_tokens: e.promptTokens, completion_tokens: e.completionTokens, total_tokens: e.promptTokens + e.completionTokens,
});

/** Folds the events after `start` into `choiceCount` choices; an aborted request cancels the generation (499). */
export async function collectEvents(stream: ReadableStream<LlmEvent>, choiceCount: number, signal?: AbortSignal) {
  const choices: CollectedChoice[] = [];
  const get = (i: number) => (choices[i] ??= { text: '', logprobs: [], toolCalls: [], finishReason: 'stop', tokenIds: [], raw: '' });
  for (let i = 0; i < choiceCount; i++) get(i);
  let usage: Usage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
  let done: Extract<LlmEvent, { type: 'done' }> = { type: 'done', promptTokens: 0, completionTokens: 0 };
  await readAll(stream, signal, (e) => {
    if (e.type === 'delta') {
      const c = get(e.choice);
      if (e.text) c.text += e.text;
      if (e.logprobs) c.logprobs.push(...e.logprobs);
      if (e.tokenIds) c.tokenIds.push(...e.tokenIds);
      for (const t of e.toolCalls ?? []) {
        c.toolCalls[t.index] = { id: t.id ?? '', type: 'function', function: { name: t.function.name ?? '', arguments: t.function.arguments ?? '' } };
      }
    } else if (e.type === 'finish') {
      get(e.choice).finishReason = e.reason;
      if (e.raw !== undefined) get(e.choice).raw = e.raw;
    } else if (e.type === 'done') {
      usage = usageOf(e);
      done = e;
    }
  });
  return { choices, usage, done };
}

/**
 * Reads the engine's first event (its `start`) before any response is made, so that failures found before
 * generation (context too long, a bad schema) become HTTP errors, and the backend is known for the headers.
 */
export async function splitStart(stream: ReadableStream<LlmEvent>): Promise<{ start: Extract<LlmEvent, { type: 'start' }>; rest: ReadableStream<LlmEvent> }> {
  const reader = stream.getReader();
  const first = await reader.read();
  if (first.done || first.value.type !== 'start') {
    await reader.cancel().catch(() => undefined);
    throw new Error('The LLM engine ended without starting');
  }
  return { start: first.value, rest: restOf(reader) };
}

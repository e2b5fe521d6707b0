/** web-llm's output → our events: WebLlmFold turns web-llm's chunks (or its non-streamed answer) into LlmEvents. */
import type { ChatCompletionChunk, ChatCompletionTokenLogprob, Completion, CompletionUsage } from '@mlc-ai/web-llm';
import { internal, unavailable } from '../../../core/errors';
import { StopMatcher } from '../stop';
import type { FinishReason, LlmEvent, TokenLogprob, ToolCallDelta } from '../types';
import type { WebLlmPlan, WebLlmRun } from './requests';

// web-llm's output → our events

interface RunState {
  begun: boolean;
  stop: StopMatcher;
  stopMatched: boolean;
  finishReason: ChatCompletionChunk.Choice['finish_reason'];
  toolCalls: ChatCompletionChunk.Choice.Delta.ToolCall[] | undefined;
  usage: CompletionUsage | undefined;
  finished: boolean;
}

export interface FoldStep {
  events: LlmEvent[];
  /** A stop string was found: web-llm should stop generating this run (engine.interruptGenerate()). */
  interrupt: boolean;
}

const newCallId = (): string => {
  const b = crypto.getRandomValues(new Uint8Array(12));
  return `call_${Array.from(b, (x) => x.toString(36).padStart(2, '0')).join('').slice(0, 24)}`;
};

/**
 * Folds web-llm's output, run by run, into one job's LlmEvents: `start` (backend "web-llm") before the first event,
 * the echoed prompt, text deltas through our stop matcher, tool calls (chat with tools: web-llm's raw JSON is held back
 * and its parsed calls become one tool-call delta with ids), each run's `finish` once web-llm's usage for it arrived
 * (finish reasons: stop / length / tool_calls; an empty list of calls is a plain "stop"; web-llm's "abort" is "stop"
 * when we interrupted it for a stop string and an error otherwise), and `done` with the summed usage.
 */
export class WebLlmFold {
  private started = false;
  private promptTokens = 0;
  private completionTokens = 0;
  private readonly runs = new Map<number, RunState>();

  constructor(readonly plan: WebLlmPlan, private readonly callId: () => string = newCallId) {}

  /** One streamed chunk (ChatCompletionChunk or streamed Completion) of `run`. */
  fromWebLlmChunk(run: WebLlmRun, chunk: ChatCompletionChunk | Completion): FoldStep {
    const s = this.state(run);
    const events: LlmEvent[] = [];
    this.begin(run, s, events);
    let interrupt = false;
    if (chunk.usage) s.usage = chunk.usage;
    for (const c of chunk.choices) {
      const text = 'delta' in c ? c.delta.content : c.text;
      if (text && !this.plan.toolMode && !s.stopMatched) {
        const { emit, stopped } = s.stop.push(text);
        if (emit) events.push({ type: 'delta', choice: run.choice, text: emit });
        if (stopped) s.stopMatched = interrupt = true;
      }
      if ('delta' in c && c.delta.tool_calls) s.toolCalls = c.delta.tool_calls;
      if (c.finish_reason) s.finishReason = c.finish_reason;
    }
    if (s.finishReason && s.usage && !s.finished) this.finish(run, s, events);
    return { events, interrupt };
  }

  /** The whole answer of a non-streamed run (completions with logprobs). */
  fromWebLlmCompletion(run: WebLlmRun, completion: Completion): LlmEvent[] {
    const s = this.state(run);
    const events: LlmEvent[] = [];
    this.begin(run, s, events);
    const c = completion.choices[0];
    if (!c) throw internal('web-llm answered without a choice', 'engine_error');
    const pushed = s.stop.push(c.text);
    const text = pushed.emit + (pushed.stopped ? '' : s.stop.flush());
    s.stopMatched = pushed.stopped;
    const logprobs = this.plan.logprobs === null ? undefined : toTokenLogprobs(c.logprobs?.content ?? [], this.plan.logprobs, run.echo.length, text.length);
    if (text || logprobs?.length) events.push({ type: 'delta', choice: run.choice, text, ...(logprobs && { logprobs }) });
    s.finishReason = c.finish_reason ?? 'stop';
    s.usage = completion.usage;
    if (!s.usage) throw internal('web-llm answered without usage', 'engine_error');
    this.finish(run, s, events);
    return events;
  }

  /** After `run`'s stream ended: it must have finished (web-llm always sends a finish reason and usage). */
  endRun(run: WebLlmRun): LlmEvent[] {
    const s = this.state(run);
    if (!s.finished) {
      throw internal(`web-llm's stream ended ${s.finishReason ? 'without its usage chunk' : 'before it finished'}`, 'engine_error');
    }
    return [];
  }

  /** The last event: usage summed over runs (each prompt's tokens once, as our ONNX backend counts them). */
  done(): LlmEvent[] {
    const events: LlmEvent[] = [];
    if (!this.started) events.push(this.startEvent());
    events.push({ type: 'done', promptTokens: this.promptTokens, completionTokens: this.completionTokens });
    return events;
  }

  private state(run: WebLlmRun): RunState {
    let s = this.runs.get(run.choice);
    if (!s) {
      s = { begun: false, stop: new StopMatcher(this.plan.stop), stopMatched: false, finishReason: null, toolCalls: undefined, usage: undefined, finished: false };
      this.runs.set(run.choice, s);
    }
    return s;
  }

  private startEvent(): LlmEvent {
    this.started = true;
    // web-llm counts the prompt only while prefilling and reports it at the end: `done` carries it.
    return { type: 'start', promptTokens: [], backend: 'web-llm', model: this.plan.model };
  }

  /** `start` once per job (after web-llm's first output, i.e. once the prompt was accepted), then the run's echo. */
  private begin(run: WebLlmRun, s: RunState, events: LlmEvent[]) {
    if (s.begun) return;
    s.begun = true;
    if (!this.started) events.push(this.startEvent());
    if (run.echo) events.push({ type: 'delta', choice: run.choice, text: run.echo });
  }

  private finish(run: WebLlmRun, s: RunState, events: LlmEvent[]) {
    const usage = s.usage!;
    let reason: FinishReason;
    if (s.stopMatched) {
      reason = 'stop';
    } else if (s.finishReason === 'abort') {
      throw unavailable('web-llm stopped generating without being asked to (was the GPU device lost?)', 'generation_interrupted');
    } else if (this.plan.toolMode) {
      const calls = s.finishReason === 'tool_calls' ? s.toolCalls ?? [] : [];
      if (calls.length) {
        events.push({ type: 'delta', choice: run.choice, toolCalls: calls.map((t, i): ToolCallDelta => ({
          index: t.index ?? i, id: this.callId(), type: 'function',
          function: { name: t.function?.name ?? '', arguments: t.function?.arguments ?? '{}' },
        })) });
      }
      // "tool_calls" with an empty list: the model chose to call nothing (web-llm's Hermes mode cannot answer in prose).
      reason = calls.length ? 'tool_calls' : s.finishReason === 'length' ? 'length' : 'stop';
    } else {
      const rest = s.stop.flush();
      if (rest) events.push({ type: 'delta', choice: run.choice, text: rest });
      reason = s.finishReason === 'length' ? 'length' : 'stop';
    }
    s.finished = true;
    this.completionTokens += usage.completion_tokens;
    if (run.countsPrompt) this.promptTokens += usage.prompt_tokens;
    events.push({ type: 'finish', choice: run.choice, reason, completionTokens: usage.completion_tokens });
  }
}

/**
 * web-llm's per-token logprobs → ours: alternatives cut to what was asked (web-llm records none unless it computes at
 * least one), offsets from the tokens' text lengths after the echoed prompt (clamped to the returned text, which our
 * stop matcher may have cut).
 */
function toTokenLogprobs(content: ChatCompletionTokenLogprob[], top: number, base: number, textLength: number): TokenLogprob[] {
  let offset = 0;
  return content.map((t) => {
    const entry: TokenLogprob = {
      token: t.token, logprob: t.logprob, textOffset: base + Math.min(offset, textLength),
      top: t.top_logprobs.slice(0, top).map((a) => ({ token: a.token, logprob: a.logprob })),
    };
    offset += t.token.length;
    return entry;
  });
}

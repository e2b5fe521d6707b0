/**
 * The decoding loop of our LLM decoders (onnxruntime-web's and Hearth's WGSL one, see decoder.ts): prompts
 * (templated chat or completion prompts) → left-padded batch of prompts × n choices → chunked prefill →
 * token-by-token decode with penalties (repetition, frequency, presence), logit_bias, grammar masks (JSON mode, tool
 * calls), ignore_eos, seeded sampling (per-choice Mirostat state), stop strings across token boundaries, EOS and
 * max_tokens → a stream of LlmEvents. Cancelling the stream stops the loop before the next model step.
 */
import { invalidRequest } from '../../core/errors';
import type { ConstraintFactory, TokenConstraint } from './constraint';
import { IncrementalDecoder } from './detokenize';
import type { LlmDecoder } from './decoder';
import { createRng, type Rng } from '../../util/rng';
import {
  applyPenalties, applyRepetitionPenalty, checkLogitBiasIds, createMirostatState, isGreedy, logSoftmax, sampleToken,
  type MirostatState, type SampleResult, type SamplingParams,
} from './sampling';
import { StopMatcher } from './stop';
import type { LlmTokenizer } from './tokenizer';
import { parseToolCall, type ToolFormat } from './tool-calls';
import type { ChatJob, CompletionJob, FinishReason, LlmEvent, LlmJob, LlmStats, TokenLogprob, ToolDefinition } from './types';
import type { ChatTemplate } from './chat-template';
import { pullStream } from '../../util/pull-stream';
import { fitMessages } from './prompt-fit';

/** Floats of logits one prefill chunk may produce (batch × tokens × vocab): bounds memory on long prompts. */
const PREFILL_LOGIT_BUDGET = 16 * 1024 * 1024;

/** A loaded model as the decoding loop sees it, whichever backend's decoder runs it. */
export interface LlmModel {
  id: string;
  decoder: LlmDecoder;
  tokenizer: LlmTokenizer;
  template: ChatTemplate | null;
  eosIds: number[];
  contextLength: number;
  toolFormat: ToolFormat | null;
  constraints(): Promise<ConstraintFactory>;
}

/** The former name of LlmModel (from when only the ONNX decoder existed). */
export type OnnxLlm = LlmModel;

interface Prompt {
  ids: number[];
  /** The prompt as text (decoded, special tokens skipped): what echo shows. */
  text: string;
  /** The prompt as the model saw it (the rendered chat template, special tokens included): what raw_output shows. */
  rendered: string;
  maxTokens: number;
}

class Choice {
  readonly generated: number[] = [];
  readonly counts = new Map<number, number>();
  /** Tokens of the prompt and the output so far, for repetition_penalty (null when the penalty is off). */
  readonly seen: Set<number> | null;
  /** Mirostat's mu for this choice (null when Mirostat is off). */
  readonly mirostat: MirostatState | null;
  readonly detok: IncrementalDecoder;
  readonly stop: StopMatcher;
  text = '';
  finished: FinishReason | null = null;
  /** Set once the choice is generating a tool call (forced, or the model opened one). */
  toolMode = false;
  /** A stop string ended the choice (the matcher already cut the text). */
  stopMatched = false;
  /** The job asked for raw output (the finish event then carries the raw completion). */
  wantRaw = false;

  constructor(
    readonly index: number,
    readonly prompt: Prompt,
    readonly rng: Rng,
    readonly tokenizer: LlmTokenizer,
    stop: string[],
    public constraint: TokenConstraint | null,
    /** Characters already in the choice's text before generation (the echoed prompt). */
    readonly offsetBase: number,
    sampling: SamplingParams,
  ) {
    this.seen = sampling.repetitionPenalty !== 1 ? new Set(prompt.ids) : null;
    this.mirostat = createMirostatState(sampling);
    // The prompt's last tokens are decoding context: a SentencePiece decoder strips the leading space of the first
    // token it decodes, so the first generated token ("▁time") would otherwise lose its space.
    this.detok = new IncrementalDecoder((ids) => tokenizer.decode(ids), { contextIds: prompt.ids });
    this.stop = new StopMatcher(stop);
  }
}

export function generate(model: LlmModel, job: LlmJob, stats?: LlmStats): ReadableStream<LlmEvent> {
  let cancelled = false;
  const events = run(model, job, () => cancelled, stats);
  return pullStream(events, {
    onCancel: async () => {
      cancelled = true;
      await events.return(undefined);
    },
  });
}

async function* run(model: LlmModel, job: LlmJob, isCancelled: () => boolean, stats?: LlmStats): AsyncGenerator<LlmEvent> {
  const { params } = job;
  const badBias = checkLogitBiasIds(params.sampling.logitBias, model.decoder.shape.vocabSize);
  if (badBias) throw invalidRequest(badBias.message, badBias.param);
  const prompts = job.kind === 'chat' ? [chatPrompt(model, job)] : completionPrompts(model, job);
  const wantIds = params.returnTokenIds || params.rawOutput;
  yield {
    type: 'start', promptTokens: prompts.map((p) => p.ids.length), backend: model.decoder.backend, model: model.id,
    ...(wantIds && { promptIds: prompts.map((p) => p.ids) }),
    ...(params.rawOutput && { promptTexts: prompts.map((p) => p.rendered) }),
  };

  const tools = job.kind === 'chat' && job.toolChoice !== 'none' ? selectTools(job) : [];
  const forceTool = job.kind === 'chat' && tools.length > 0 && job.toolChoice !== 'auto';
  const factory = params.responseFormat.type !== 'text' || tools.length ? await model.constraints() : null;
  const grammar = params.responseFormat.type === 'grammar' ? await factory!.grammar(params.responseFormat.grammar) : null;
  const newConstraint = (): TokenConstraint | null => {
    if (forceTool) return factory!.toolCall(tools, model.toolFormat?.argumentsKey ?? 'arguments');
    if (grammar) return grammar();
    if (params.responseFormat.type === 'json_object') {
      try {
        return factory!.jsonObject(params.responseFormat.schema);
      } catch (e) {
        throw invalidRequest(`response_format.schema cannot be used: ${(e as Error).message}`, 'response_format.schema', 'invalid_schema');
      }
    }
    return null;
  };

  const choices: Choice[] = [];
  prompts.forEach((prompt, p) => {
    const echoText = job.kind === 'completion' && params.echo ? echoOf(model, prompt, params.echoLast) : '';
    for (let j = 0; j < params.n; j++) {
      const index = p * params.n + j;
      const choice = new Choice(index, prompt, createRng((params.seed + index * 0x9e3779b1) >>> 0), model.tokenizer,
        params.stop, newConstraint(), echoText.length, params.sampling);
      choice.toolMode = forceTool;
      choice.wantRaw = params.rawOutput;
      choices.push(choice);
    }
  });

  try {
    const decoder = model.decoder;
    decoder.reset();
    const width = Math.max(...prompts.map((p) => p.ids.length));
    const padded = choices.map((c) => [...new Array(width - c.prompt.ids.length).fill(0), ...c.prompt.ids]);
    const mask = choices.map((c) => [...new Array(width - c.prompt.ids.length).fill(0), ...new Array(c.prompt.ids.length).fill(1)]);
    const positions = choices.map((c) => [...new Array(width - c.prompt.ids.length).fill(0), ...c.prompt.ids.map((_, i) => i)]);
    const vocab = decoder.shape.vocabSize;
    const chunk = Math.max(1, Math.floor(PREFILL_LOGIT_BUDGET / (choices.length * vocab)));
    const wantPromptLogprobs = job.kind === 'completion' && params.echo && params.logprobs !== null;
    const promptLogprobs: TokenLogprob[][] = choices.map(() => []);
    let last: Float32Array[] = [];
    for (let start = 0; start < width; start += chunk) {
      const end = Math.min(width, start + chunk);
      const out = await decoder.step({
        ids: padded.map((r) => r.slice(start, end)),
        mask: mask.map((r) => r.slice(0, end)),
        positions: positions.map((r) => r.slice(start, end)),
      }, { allPositions: wantPromptLogprobs });
      if (isCancelled()) return;
      // Without prompt logprobs a decoder may return only each row's last position (out.tokens = 1).
      const tokens = out.tokens;
      const row = (b: number, t: number) => out.logits.subarray((b * tokens + t) * vocab, (b * tokens + t + 1) * vocab);
      if (wantPromptLogprobs) {
        // Logits at position t predict the token at t + 1.
        choices.forEach((c, b) => {
          const pad = width - c.prompt.ids.length;
          for (let t = Math.max(start, pad); t < end && t + 1 < width; t++) {
            promptLogprobs[b].push(tokenLogprob(model, row(b, t - start), padded[b][t + 1], params.logprobs!));
          }
        });
      }
      last = choices.map((_, b) => row(b, tokens - 1).slice());
    }
    // The echo goes out once the prompt has run, so the first event after `start` marks the end of prefill (timings).
    if (job.kind === 'completion' && params.echo) {
      for (const c of choices) {
        const text = echoOf(model, c.prompt, params.echoLast);
        if (text) yield { type: 'delta', choice: c.index, text };
      }
    }
    if (wantPromptLogprobs) yield* emitPromptLogprobs(model, choices, promptLogprobs, params.echoLast);

    let stepPositions = choices.map((c) => c.prompt.ids.length);
    // Greedy with nothing that needs the logits (penalties, grammar, logprobs, tools): a decoder that can pick the
    // argmax itself (the WGSL one, on the GPU) returns only token ids.
    const greedyOnDevice = decoder.stepGreedy !== undefined && !factory && params.logprobs === null
      && !params.sampling.frequencyPenalty && !params.sampling.presencePenalty && params.sampling.repetitionPenalty === 1
      && params.sampling.logitBias.length === 0 && !params.sampling.ignoreEos && isGreedy(params.sampling, vocab);
    // Otherwise, without logprobs or tool calls (whose first token is re-drawn from the logits), a decoder that samples
    // on its device (the WGSL one) gets each choice's settings, penalty state, mask and one draw of its generator — the
    // draw sampleToken would make — and returns only token ids.
    const greedy = isGreedy(params.sampling, vocab);
    const banned = params.sampling.ignoreEos ? model.eosIds : undefined;
    const sampleOnDevice = !greedyOnDevice && decoder.stepSample !== undefined && params.logprobs === null && !tools.length
      && decoder.fitsDeviceSampling?.(params.sampling, banned?.length ?? 0) === true;
    let picked: number[] | null = null;
    for (;;) {
      const next: number[] = [];
      for (let b = 0; b < choices.length; b++) {
        const c = choices[b];
        if (c.finished) {
          next.push(c.generated.at(-1) ?? model.eosIds[0]);
          continue;
        }
        const before = c.generated.length;
        const events = decideToken(model, c, picked ? picked[b] : last[b], job, tools, factory);
        if (stats) stats.generatedTokens += c.generated.length - before;
        for (const e of events) yield e;
        next.push(c.generated.at(-1) ?? model.eosIds[0]);
      }
      if (choices.every((c) => c.finished) || isCancelled()) break;
      for (const row of mask) row.push(1);
      const input = { ids: next.map((id) => [id]), mask, positions: stepPositions.map((p) => [p]) };
      if (greedyOnDevice) {
        picked = await decoder.stepGreedy!(input);
        if (isCancelled()) return;
        stepPositions = stepPositions.map((p) => p + 1);
        continue;
      }
      if (sampleOnDevice) {
        picked = await decoder.stepSample!(input, choices.map((c) => ({
          params: params.sampling,
          u: c.finished || greedy ? 0 : c.rng.next(),
          seen: c.seen,
          counts: c.counts,
          allowed: c.finished ? undefined : c.constraint?.nextTokenMask(),
          banned: c.constraint ? undefined : banned,
        })));
        if (isCancelled()) return;
        stepPositions = stepPositions.map((p) => p + 1);
        continue;
      }
      const out = await decoder.step(input);
      if (isCancelled()) return;
      stepPositions = stepPositions.map((p) => p + 1);
      // Views, not copies (a copy was 0.5 MB per token at a 128k vocabulary): each step's logits array is fresh and
      // ours (see OnnxDecoder.step), and each choice only touches its own row (penalties are applied in place).
      last = choices.map((_, b) => out.logits.subarray(b * vocab, (b + 1) * vocab));
    }
    const promptTokens = prompts.reduce((s, p) => s + p.ids.length * params.n, 0) / params.n;
    const completionTokens = choices.reduce((s, c) => s + c.generated.length, 0);
    yield { type: 'done', promptTokens, completionTokens };
  } finally {
    for (const c of choices) c.constraint?.dispose();
  }
}

/**
 * Chooses one choice's next token — from its logits, or as already picked on the device (`next` a token id, greedy
 * with no penalties, grammar or logprobs) — and returns the events it produces (text, logprobs, tool calls, finish).
 */
function decideToken(model: LlmModel, c: Choice, next: Float32Array | number, job: LlmJob, tools: ToolDefinition[],
  factory: ConstraintFactory | null): LlmEvent[] {
  const { params } = job;
  const sampling = params.sampling;
  const topLogprobs = params.logprobs ?? 0;
  const logprob = params.logprobs !== null;
  // ignore_eos bans the end-of-sequence tokens; under a grammar they stay as its mask allows them (its own end).
  const banned = () => (sampling.ignoreEos && !c.constraint ? model.eosIds : undefined);
  const mu = c.mirostat?.mu;
  let pick: SampleResult;
  if (typeof next === 'number') pick = { id: next, logprob: Number.NaN, top: [] };
  else {
    if (c.seen) applyRepetitionPenalty(next, c.seen, sampling.repetitionPenalty);
    if (sampling.frequencyPenalty || sampling.presencePenalty) {
      applyPenalties(next, c.counts, sampling.frequencyPenalty, sampling.presencePenalty);
    }
    pick = sampleToken(next, sampling, c.rng,
      { allowed: c.constraint?.nextTokenMask(), banned: banned(), topLogprobs, logprob, mirostat: c.mirostat });
  }
  const logits = next;

  // tool_choice "auto": the model opens a tool call with "{" as its first token; from then on the call is grammar-bound,
  // so a malformed call can never come out as content.
  if (!c.toolMode && tools.length && c.generated.length === 0 && factory && opensToolCall(model, pick.id)) {
    c.constraint?.dispose();
    c.constraint = factory.toolCall(tools, model.toolFormat?.argumentsKey ?? 'arguments');
    c.toolMode = true;
    if (typeof logits === 'number') throw new Error('decideToken: a tool call needs logits');
    if (c.mirostat) c.mirostat.mu = mu!; // the first draw is discarded: so is its Mirostat update
    pick = sampleToken(logits, sampling, c.rng,
      { allowed: c.constraint.nextTokenMask(), banned: banned(), topLogprobs, logprob, mirostat: c.mirostat });
  }

  const events: LlmEvent[] = [];
  const isEos = model.eosIds.includes(pick.id);
  if (isEos && (!c.constraint || c.constraint.isTerminated())) return finish(c, 'stop', events);

  c.generated.push(pick.id);
  c.counts.set(pick.id, (c.counts.get(pick.id) ?? 0) + 1);
  c.seen?.add(pick.id);
  if (c.constraint && !c.constraint.accept(pick.id)) throw new Error(`Grammar refused token ${pick.id} that its own mask allowed`);
  const piece = c.detok.push(pick.id);

  const tokenIds = job.params.returnTokenIds || job.params.rawOutput ? [pick.id] : undefined;
  if (c.toolMode) {
    c.text += piece;
    if (tokenIds) events.push({ type: 'delta', choice: c.index, tokenIds });
    if (c.constraint?.isTerminated()) return finishToolCall(c, events);
    if (c.generated.length >= c.prompt.maxTokens) return finish(c, 'length', events);
    return events;
  }

  const { emit, stopped } = c.stop.push(piece);
  const offset = c.offsetBase + c.text.length;
  c.text += emit;
  const logprobs = logprob
    ? [{ token: model.tokenizer.tokenText(pick.id), logprob: pick.logprob, textOffset: offset,
      top: pick.top.map((t) => ({ token: model.tokenizer.tokenText(t.id), logprob: t.logprob })) }]
    : undefined;
  if (emit || logprobs || tokenIds) events.push({ type: 'delta', choice: c.index, text: emit, logprobs, ...(tokenIds && { tokenIds }) });
  if (stopped) {
    c.stopMatched = true;
    return finish(c, 'stop', events);
  }
  if (c.constraint?.isTerminated()) return finish(c, 'stop', events);
  if (c.generated.length >= c.prompt.maxTokens) return finish(c, 'length', events);
  return events;
}

function finish(c: Choice, reason: FinishReason, events: LlmEvent[]): LlmEvent[] {
  if (c.toolMode && reason !== 'length') return finishToolCall(c, events);
  if (!c.toolMode && !c.stopMatched) {
    // Text the detokenizer or the stop matcher still held goes out now (unless it completes a stop string).
    const tail = c.stop.push(c.detok.flush());
    const rest = tail.emit + (tail.stopped ? '' : c.stop.flush());
    if (rest) {
      c.text += rest;
      events.push({ type: 'delta', choice: c.index, text: rest });
    }
  }
  c.finished = reason;
  events.push({ type: 'finish', choice: c.index, reason, completionTokens: c.generated.length, ...rawOf(c) });
  return events;
}

/** With raw output: every generated token, special tokens and stop strings included. */
function rawOf(c: Choice): { raw?: string } {
  return c.wantRaw ? { raw: c.tokenizer.decodeRaw(c.generated) } : {};
}

function finishToolCall(c: Choice, events: LlmEvent[]): LlmEvent[] {
  c.text += c.detok.flush();
  const call = parseToolCall(c.text);
  c.finished = 'tool_calls';
  if (call) {
    events.push({ type: 'delta', choice: c.index, toolCalls: [{ index: 0, id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } }] });
    events.push({ type: 'finish', choice: c.index, reason: 'tool_calls', completionTokens: c.generated.length, ...rawOf(c) });
  } else {
    // Unreachable with a grammar-bound call; kept so a malformed call ends the choice instead of leaking as text.
    events.push({ type: 'finish', choice: c.index, reason: 'stop', completionTokens: c.generated.length, ...rawOf(c) });
  }
  return events;
}

function opensToolCall(model: LlmModel, id: number): boolean {
  if (!model.toolFormat) return false;
  return model.tokenizer.decode([id]).trimStart().startsWith('{');
}

function selectTools(job: ChatJob): ToolDefinition[] {
  if (typeof job.toolChoice === 'object') {
    const name = job.toolChoice.function.name;
    const tool = job.tools.filter((t) => t.function.name === name);
    if (!tool.length) throw invalidRequest(`tool_choice names "${name}", which is not in tools`, 'tool_choice');
    return tool;
  }
  return job.tools;
}

function tokenLogprob(model: LlmModel, logits: Float32Array, id: number, top: number): TokenLogprob {
  const lp = logSoftmax(logits);
  const best = topIds(lp, top);
  return {
    token: model.tokenizer.tokenText(id), logprob: lp[id], textOffset: 0,
    top: best.map((j) => ({ token: model.tokenizer.tokenText(j), logprob: lp[j] })),
  };
}

function topIds(lp: Float32Array, k: number): number[] {
  const best: number[] = [];
  for (let j = 0; j < lp.length; j++) {
    if (best.length < k) {
      best.push(j);
      best.sort((a, b) => lp[b] - lp[a] || a - b);
    } else if (k > 0 && lp[j] > lp[best[k - 1]]) {
      best[k - 1] = j;
      best.sort((a, b) => lp[b] - lp[a] || a - b);
    }
  }
  return best;
}

/** Echo with logprobs: the prompt's tokens, the first with a null logprob as OpenAI reports it. */
function* emitPromptLogprobs(model: LlmModel, choices: Choice[], perChoice: TokenLogprob[][], echoLast: number | null): Generator<LlmEvent> {
  for (let b = 0; b < choices.length; b++) {
    const c = choices[b];
    // Offsets as the prompt's text reads in context (a SentencePiece token decoded alone loses its leading space).
    const detok = new IncrementalDecoder((ids) => model.tokenizer.decode(ids));
    for (const id of c.prompt.ids) detok.push(id);
    const offsets = detok.textOffsets;
    const firstText = model.tokenizer.tokenText(c.prompt.ids[0]);
    const entries: TokenLogprob[] = [{ token: firstText, logprob: Number.NaN, textOffset: 0, top: [] }];
    perChoice[b].forEach((e, i) => entries.push({ ...e, textOffset: offsets[i + 1] }));
    // echo_last n: the last n prompt tokens, offsets counted from the start of the echoed text.
    const kept = echoLast === null ? entries : entries.slice(Math.max(0, entries.length - echoLast));
    const base = echoLast === null || kept.length === entries.length ? 0 : kept[0].textOffset;
    yield { type: 'delta', choice: c.index, logprobs: kept.map((e) => ({ ...e, textOffset: e.textOffset - base })) };
  }
}

/** The echoed prompt text: the whole prompt, or with `echo_last` n its last n tokens decoded. */
function echoOf(model: LlmModel, prompt: Prompt, echoLast: number | null): string {
  if (echoLast === null || echoLast >= prompt.ids.length) return prompt.text;
  return model.tokenizer.decode(prompt.ids.slice(prompt.ids.length - echoLast));
}

function chatPrompt(model: LlmModel, job: ChatJob): Prompt {
  if (!model.template) throw invalidRequest(`Model ${job.entry.id} has no chat template; use /completions`, 'model', 'no_chat_template');
  if (job.tools.length && !job.entry.llm?.tools) {
    throw invalidRequest(`Model ${job.entry.id} does not support tools`, 'tools', 'unsupported_parameter');
  }
  let messages = fitMessages(job.messages, {
    truncateLen: job.promptTruncateLen, contextLength: model.contextLength, longestPiece: model.tokenizer.longestPiece,
    countTokens: (text) => model.tokenizer.encodeChat(text).length,
  });
  let rendered = model.template.render(messages, job.toolChoice === 'none' ? [] : job.tools);
  let ids = model.tokenizer.encodeChat(rendered);
  if (job.promptTruncateLen !== null) {
    // Evict the earliest non-system messages (never the last one) until the prompt fits.
    while (ids.length > job.promptTruncateLen) {
      const victim = messages.findIndex((m, i) => m.role !== 'system' && i < messages.length - 1);
      if (victim < 0) break;
      messages = messages.filter((_, i) => i !== victim);
      rendered = model.template.render(messages, job.toolChoice === 'none' ? [] : job.tools);
      ids = model.tokenizer.encodeChat(rendered);
    }
  }
  const text = model.tokenizer.decode(ids);
  return { ids, text, rendered, maxTokens: budget(model, ids.length, job.params, 'messages') };
}

function completionPrompts(model: LlmModel, job: CompletionJob): Prompt[] {
  return job.prompts.map((p, i) => {
    const param = job.prompts.length > 1 ? `prompt[${i}]` : 'prompt';
    if (typeof p === 'string' && p.length > model.contextLength * model.tokenizer.longestPiece) {
      throw invalidRequest(`The prompt is ${p.length} characters, more than the model's ${model.contextLength}-token context can hold`,
        param, 'context_length_exceeded');
    }
    const ids = typeof p === 'string' ? model.tokenizer.encode(p) : model.tokenizer.checkIds(p, param);
    if (!ids.length) throw invalidRequest('The prompt is empty', param);
    const text = typeof p === 'string' ? p : model.tokenizer.decode(ids);
    return { ids, text, rendered: model.tokenizer.decodeRaw(ids), maxTokens: budget(model, ids.length, job.params, param) };
  });
}

/** max_tokens after the context check: lowered to fit (truncate) or refused (error). */
function budget(model: LlmModel, promptLength: number, params: LlmJob['params'], param: string): number {
  const room = model.contextLength - promptLength;
  if (room <= 0) {
    throw invalidRequest(`The prompt is ${promptLength} tokens, which does not fit the model's ${model.contextLength}-token context`,
      param, 'context_length_exceeded');
  }
  if (params.maxTokens > room && params.contextLengthExceeded === 'error') {
    throw invalidRequest(`The prompt (${promptLength} tokens) plus max_tokens (${params.maxTokens}) exceeds the model's ${model.contextLength}-token context`,
      'max_tokens', 'context_length_exceeded');
  }
  return Math.min(params.maxTokens, room);
}

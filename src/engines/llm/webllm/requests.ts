/** Our normalised chat/completion jobs → web-llm's OpenAI-style requests (every field mapped on purpose), and a job as
 * the sequence of web-llm requests it runs as (planWebLlmJob). */
import type { ChatCompletionContentPart, ChatCompletionMessageParam, ChatCompletionRequestStreaming, ChatCompletionTool, CompletionCreateParamsNonStreaming, CompletionCreateParamsStreaming, FunctionParameters, ResponseFormat as WebLlmResponseFormat } from '@mlc-ai/web-llm';
import { invalidRequest } from '../../../core/errors';
import { JSON_OBJECT_EBNF, normalizeSchema } from '../constraint';
import { checkLogitBiasIds } from '../sampling';
import type { ChatJob, ChatMessage, CompletionJob, GenerationParams, LlmJob, ToolCall, ToolDefinition } from '../types';
import type { WebLlmTarget } from './model';
import { refuse, supportsWebLlmTools } from './unsupported';

/** Seed of choice `index` (prompt-major), as our ONNX backend derives it: choice 0 uses the request's seed. */
export const choiceSeed = (seed: number, index: number) => (seed + index * 0x9e3779b1) >>> 0;

type SamplingFields = 'temperature' | 'top_p' | 'frequency_penalty' | 'presence_penalty' | 'repetition_penalty';
type WebLlmSampling = Required<{ [K in SamplingFields]: number }> & { logit_bias?: Record<string, number> };

/**
 * temperature, top_p, both penalties (defaults already applied) and logit_bias (only when given); greedy spellings
 * web-llm lacks become temperature 0; the filters web-llm lacks are refused by name.
 */
function toWebLlmSampling(params: GenerationParams, target: WebLlmTarget): WebLlmSampling {
  const { temperature, topP, topK, frequencyPenalty, presencePenalty } = params.sampling;
  const { minP, typicalP, mirostat, repetitionPenalty, ignoreEos, logitBias } = params.sampling;
  if (topK !== null && topK !== 1) throw refuse('top_k');
  if (minP !== 0) throw refuse('min_p');
  if (typicalP !== 1) throw refuse('typical_p');
  if (mirostat !== null) throw refuse('mirostat');
  if (repetitionPenalty !== 1) throw refuse('repetition_penalty');
  if (ignoreEos) throw refuse('ignore_eos');
  const badId = target.vocabSize === undefined ? null : checkLogitBiasIds(logitBias, target.vocabSize);
  if (badId) throw invalidRequest(badId.message, badId.param);
  // top_k 1 and top_p ≤ 0 mean "the most likely token": web-llm requires top_p > 0, and samples greedily at temperature 0.
  const greedy = topK === 1 || !(topP > 0);
  return {
    temperature: greedy ? 0 : temperature,
    top_p: greedy ? 1 : topP,
    frequency_penalty: frequencyPenalty,
    presence_penalty: presencePenalty,
    // 1 disables it, whatever the model's mlc-chat-config says (other values are refused above).
    repetition_penalty: 1,
    ...(logitBias.length && { logit_bias: Object.fromEntries(logitBias.map(([id, bias]) => [String(id), bias])) }),
  };
}

function checkMaxTokens(params: GenerationParams) {
  if (params.maxTokens < 1) throw refuse('max_tokens_zero');
}

/**
 * `context_length_exceeded_behavior: "error"` is honoured when the prompt provably fits (`promptBound` + max_tokens ≤
 * window) and when it provably cannot (max_tokens alone fills the window); between the two only a tokenizer could tell.
 */
function checkContextBehaviour(params: GenerationParams, target: WebLlmTarget, promptBound: number) {
  if (params.contextLengthExceeded !== 'error') return; // "truncate": web-llm stops at the window with "length"
  const window = target.contextWindow;
  if (params.maxTokens >= window) {
    throw invalidRequest(`max_tokens (${params.maxTokens}) leaves no room for the prompt in the model's ${window}-token context ` +
      'on the web-llm backend', 'max_tokens', 'context_length_exceeded');
  }
  if (promptBound + params.maxTokens > window) {
    throw refuse('context_length_exceeded_behavior', 'context_length_exceeded_behavior',
      ` The prompt may take up to ${promptBound} tokens, and with max_tokens ${params.maxTokens} that may exceed the ` +
      `${window}-token context.`);
  }
}

// Prompt length before web-llm prefills it: the messages' text measured by web-llm's tokenizer when the backend has
// it, else by UTF-8 bytes (byte-level BPE — Llama-3, Qwen, GPT-2 style — and SentencePiece with byte fallback never
// make a token out of less than one byte of text, so bytes bound tokens); the chat template adds special tokens per
// message and around the conversation, bounded by the constants below (MLC conv templates: ≤ 5 tokens of role markup
// per message, BOS and the assistant header, a default system prompt when the request has none).
const TOKENS_PER_MESSAGE = 8;
const TEMPLATE_TOKENS = 32;
const DEFAULT_SYSTEM_PROMPT_TOKENS = 128;
/** web-llm's Hermes function-calling system prompt without the tools' JSON (616 bytes of text, see the unit test). */
export const HERMES_PROMPT_TOKENS = 768;

const encoder = new TextEncoder();
const bytes = (s: string) => encoder.encode(s).length;

/** An upper bound of a chat prompt's tokens as web-llm renders it (Infinity with images: their token cost is the model's). */
export function chatPromptTokenBound(job: ChatJob, toolMode: boolean, measure: (text: string) => number = bytes): number {
  let total = TEMPLATE_TOKENS;
  if (!job.messages.some((m) => m.role === 'system')) total += DEFAULT_SYSTEM_PROMPT_TOKENS;
  if (toolMode) total += HERMES_PROMPT_TOKENS + measure(JSON.stringify(job.tools));
  for (const m of job.messages) {
    if (Array.isArray(m.content) && m.content.some((p) => p.type === 'image_url')) return Infinity;
    total += TOKENS_PER_MESSAGE + measure(textOf(m)) + (m.name ? measure(m.name) : 0);
    if (m.tool_calls?.length) total += measure(hermesToolCallsText(m.tool_calls));
  }
  return total;
}

/** An upper bound of a completion prompt's tokens (its text measured, plus BOS and the like). */
export const completionPromptTokenBound = (prompt: string, measure: (text: string) => number = bytes) => measure(prompt) + TEMPLATE_TOKENS;

/** Text parts joined (as our chat template does); image parts are not text. */
function textOf(m: ChatMessage): string {
  if (typeof m.content === 'string') return m.content;
  if (m.content === null) return '';
  return m.content.filter((p) => p.type === 'text').map((p) => (p as { text: string }).text).join('');
}

/**
 * An assistant turn that called tools, as web-llm's Hermes mode has the model write it (and as its history holds it):
 * the JSON list `[{"arguments": {...}, "name": "..."}]` that web-llm parses into tool_calls.
 */
export function hermesToolCallsText(calls: ToolCall[]): string {
  return JSON.stringify(calls.map((c) => ({ arguments: parseArguments(c.function.arguments), name: c.function.name })));
}

function parseArguments(args: string): unknown {
  try {
    return JSON.parse(args);
  } catch {
    return args;
  }
}

/** Whether the chat job calls tools on web-llm (refusing what web-llm cannot do with them). */
function toolMode(job: ChatJob, target: WebLlmTarget): boolean {
  if (!job.tools.length || job.toolChoice === 'none') return false; // "none": the model is not shown the tools at all
  if (job.toolChoice !== 'auto') throw refuse('tool_choice');
  if (!supportsWebLlmTools(target.mlcModelId)) {
    throw refuse('tools_model', 'tools', ` "${target.mlcModelId}" is not one of them.`);
  }
  if (job.params.responseFormat.type !== 'text') throw refuse('tools_response_format');
  const system = job.messages.findIndex((m) => m.role === 'system');
  if (system >= 0) throw refuse('tools_system', `messages[${system}].role`);
  return true;
}

function toWebLlmMessages(job: ChatJob, target: WebLlmTarget): ChatCompletionMessageParam[] {
  const last = job.messages.length - 1;
  return job.messages.map((m, i): ChatCompletionMessageParam => {
    const at = `messages[${i}]`;
    if (m.role === 'system' && i !== 0) throw refuse('system_not_first', `${at}.role`);
    if (i === last && m.role !== 'user' && m.role !== 'tool') throw refuse('last_message_role', `${at}.role`);
    if (m.name && (m.role === 'system' || m.role === 'tool')) throw refuse('message_name', `${at}.name`);
    switch (m.role) {
      case 'system':
        return { role: 'system', content: textOnly(m, at) };
      case 'user':
        return userMessage(m, at, target);
      case 'assistant': {
        const text = textOnly(m, at);
        const calls = m.tool_calls ?? [];
        if (calls.length && text) throw refuse('assistant_text_and_tool_calls', `${at}.content`);
        // web-llm requires assistant content to be a string and keeps tool_calls out of the prompt: calls go in as text.
        return { role: 'assistant', content: calls.length ? hermesToolCallsText(calls) : text, ...(m.name && { name: m.name }) };
      }
      case 'tool':
        // web-llm's conversation keeps the content only; tool_call_id is required by its type and otherwise unused.
        return { role: 'tool', content: textOnly(m, at), tool_call_id: m.tool_call_id ?? '' };
    }
  });
}

function textOnly(m: ChatMessage, at: string): string {
  if (Array.isArray(m.content)) {
    const image = m.content.findIndex((p) => p.type === 'image_url');
    if (image >= 0) throw refuse('image_role', `${at}.content[${image}]`);
  }
  return textOf(m);
}

function userMessage(m: ChatMessage, at: string, target: WebLlmTarget): ChatCompletionMessageParam {
  const name = m.name ? { name: m.name } : {};
  if (!Array.isArray(m.content) || !m.content.some((p) => p.type === 'image_url')) {
    return { role: 'user', content: textOf(m), ...name };
  }
  // web-llm takes at most one text part per message: the text parts, joined, go where the first one was.
  const parts: ChatCompletionContentPart[] = [];
  let textPlaced = false;
  m.content.forEach((p, j) => {
    if (p.type === 'text') {
      if (!textPlaced) parts.push({ type: 'text', text: textOf(m) });
      textPlaced = true;
      return;
    }
    const path = `${at}.content[${j}]`;
    if (!target.vision) throw refuse('images_not_vision', path, ` "${target.mlcModelId}" is not a vision model.`);
    const { url, detail } = p.image_url;
    if (detail !== undefined && detail !== 'auto') throw refuse('image_detail', `${path}.image_url.detail`);
    if (!url.startsWith('data:image') && !/^https?:/i.test(url)) throw refuse('image_url', `${path}.image_url.url`);
    parts.push({ type: 'image_url', image_url: { url } });
  });
  return { role: 'user', content: parts, ...name };
}

/**
 * Any JSON object, as our ONNX backend's JSON mode without a schema (constraint/factory.ts): web-llm 0.2.86 compiles a
 * `json_object` response format without a schema as a schema of `undefined` (which fails), so it gets this grammar.
 */
export const JSON_OBJECT_GRAMMAR = JSON_OBJECT_EBNF;

/**
 * JSON mode: the schema is checked and normalised exactly as for our ONNX backend (both compile it with xgrammar
 * 0.1.27 in strict mode) and handed to web-llm as the JSON *string* it requires; without a schema, any JSON object.
 */
function toWebLlmResponseFormat(params: GenerationParams): WebLlmResponseFormat | undefined {
  const format = params.responseFormat;
  if (format.type === 'text') return undefined;
  if (format.type === 'grammar') return { type: 'grammar', grammar: format.grammar };
  if (!format.schema) return { type: 'grammar', grammar: JSON_OBJECT_GRAMMAR };
  return { type: 'json_object', schema: JSON.stringify(normalizeSchema(format.schema, 'response_format.schema').schema) };
}

/** Fields web-llm cannot honour on any request. */
function checkOutputFields(params: GenerationParams) {
  if (params.returnTokenIds) throw refuse('return_token_ids');
  if (params.rawOutput) throw refuse('raw_output');
  if (params.echoLast !== null) throw refuse('echo_last');
}

function checkChatOnlyFields(job: ChatJob) {
  checkOutputFields(job.params);
  if (job.params.logprobs !== null) throw refuse('chat_logprobs');
  if (job.params.echo) throw invalidRequest('"echo" is only available on /completions', 'echo');
}

function checkPromptTruncation(job: ChatJob, promptBound: number) {
  if (job.promptTruncateLen === null) return;
  // Our ONNX backend evicts the earliest non-system message that is not the last one: nothing to evict, nothing to refuse.
  const evictable = job.messages.some((m, i) => m.role !== 'system' && i < job.messages.length - 1);
  if (!evictable || promptBound <= job.promptTruncateLen) return;
  throw refuse('prompt_truncate_len', 'prompt_truncate_len',
    ` This conversation may take up to ${Number.isFinite(promptBound) ? promptBound : 'an unknown number of'} tokens ` +
    `(images count as the model decides), over prompt_truncate_len ${job.promptTruncateLen}.`);
}

function toWebLlmTool(t: ToolDefinition): ChatCompletionTool {
  const { name, description, parameters } = t.function;
  return {
    type: 'function',
    function: { name, ...(description !== undefined && { description }), ...(parameters && { parameters: { ...parameters } as FunctionParameters }) },
  };
}

/**
 * The web-llm request of one choice of a chat job. Every field: messages (text parts joined, images for vision builds,
 * tool calls of earlier turns as Hermes JSON), sampling (see toWebLlmSampling), max_tokens, stop (ours: null, see the
 * module comment), n 1 and the choice's seed, logprobs off (chat has none in the API), response_format (schema as a
 * JSON string), tools (Hermes models only; tool_choice is not sent: web-llm ignores it), streaming with usage.
 */
export function toWebLlmChatRequest(job: ChatJob, target: WebLlmTarget, choice = 0): ChatCompletionRequestStreaming {
  checkChatOnlyFields(job);
  checkMaxTokens(job.params);
  const sampling = toWebLlmSampling(job.params, target);
  const tools = toolMode(job, target);
  const messages = toWebLlmMessages(job, target);
  const bound = chatPromptTokenBound(job, tools, target.countTokens);
  checkPromptTruncation(job, bound);
  checkContextBehaviour(job.params, target, bound);
  const responseFormat = toWebLlmResponseFormat(job.params);
  return {
    messages,
    stream: true,
    stream_options: { include_usage: true },
    n: 1,
    ...sampling,
    max_tokens: job.params.maxTokens,
    stop: null,
    seed: choiceSeed(job.params.seed, choice),
    logprobs: false,
    ignore_eos: false,
    ...(responseFormat && { response_format: responseFormat }),
    ...(tools && { tools: job.tools.map(toWebLlmTool) }),
  };
}

/**
 * The web-llm request of one choice (prompt `prompt`, sample `sample`) of a completion job: text prompt only, echo
 * done by us (never sent), logprobs → web-llm `logprobs` + `top_logprobs` ≥ 1 (web-llm records none at 0; extra
 * alternatives are dropped) on a non-streamed request; otherwise streamed with usage.
 */
export function toWebLlmCompletionRequest(job: CompletionJob, target: WebLlmTarget, prompt = 0, sample = 0):
  CompletionCreateParamsStreaming | CompletionCreateParamsNonStreaming {
  const { params } = job;
  checkMaxTokens(params);
  const sampling = toWebLlmSampling(params, target);
  checkOutputFields(params);
  if (job.images.length) throw refuse('completion_images');
  if (params.responseFormat.type !== 'text') throw refuse('completion_response_format');
  if (params.logprobs !== null && params.echo) throw refuse('echo_logprobs');
  if (params.logprobs !== null && sampling.temperature !== 1) throw refuse('logprobs_temperature');
  const param = job.prompts.length > 1 ? `prompt[${prompt}]` : 'prompt';
  const text = job.prompts[prompt];
  if (typeof text !== 'string') throw refuse('token_prompts', param);
  if (!text) throw invalidRequest('The prompt is empty', param);
  checkContextBehaviour(params, target, completionPromptTokenBound(text, target.countTokens));
  const common = {
    prompt: text,
    echo: false,
    n: 1,
    ...sampling,
    max_tokens: params.maxTokens,
    seed: choiceSeed(params.seed, prompt * params.n + sample),
    ignore_eos: false,
  };
  if (params.logprobs !== null) {
    return { ...common, stream: false, stop: params.stop.length ? params.stop : null, logprobs: true, top_logprobs: Math.max(1, params.logprobs) };
  }
  return { ...common, stream: true, stream_options: { include_usage: true }, stop: null, logprobs: false };
}

// ---------------------------------------------------------------------------------------------------------------
// A job as web-llm requests

export type WebLlmRequest =
  | { api: 'chat'; body: ChatCompletionRequestStreaming }
  | { api: 'completion-stream'; body: CompletionCreateParamsStreaming }
  | { api: 'completion-whole'; body: CompletionCreateParamsNonStreaming };

export interface WebLlmRun {
  /** Our choice index (prompt-major: prompt p, sample j → p * n + j). */
  choice: number;
  prompt: number;
  /** The first sample of its prompt: its prompt tokens count once in usage. */
  countsPrompt: boolean;
  /** Completions `echo`: the prompt, sent before the generated text. */
  echo: string;
  request: WebLlmRequest;
}

export interface WebLlmPlan {
  kind: LlmJob['kind'];
  model: string;
  runs: WebLlmRun[];
  /** Chat with tools: web-llm's output is a JSON list of calls, reported as tool calls, never as text. */
  toolMode: boolean;
  stop: string[];
  /** Completions: top alternatives per token (0–5), or null. */
  logprobs: number | null;
}

/** Maps a whole job (throwing its 400s before anything runs): one web-llm request per choice. */
export function planWebLlmJob(job: LlmJob, target: WebLlmTarget): WebLlmPlan {
  const runs: WebLlmRun[] = [];
  const { n } = job.params;
  if (job.kind === 'chat') {
    for (let j = 0; j < n; j++) {
      runs.push({ choice: j, prompt: 0, countsPrompt: j === 0, echo: '', request: { api: 'chat', body: toWebLlmChatRequest(job, target, j) } });
    }
  } else {
    job.prompts.forEach((p, i) => {
      for (let j = 0; j < n; j++) {
        const body = toWebLlmCompletionRequest(job, target, i, j);
        runs.push({
          choice: i * n + j, prompt: i, countsPrompt: j === 0, echo: job.params.echo ? (p as string) : '',
          request: body.stream ? { api: 'completion-stream', body } : { api: 'completion-whole', body },
        });
      }
    });
  }
  const tools = runs[0]?.request.api === 'chat' && Boolean(runs[0].request.body.tools);
  return {
    kind: job.kind, model: job.entry.id, runs, toolMode: tools, stop: job.params.stop,
    logprobs: job.kind === 'completion' ? job.params.logprobs : null,
  };
}

/**
 * The web-llm (MLC, @mlc-ai/web-llm 0.2.86) backend's boundary, as pure functions: our normalised chat/completion
 * jobs → web-llm's OpenAI-style requests (every field mapped on purpose; what web-llm cannot honour is refused by
 * name with a spec-shaped 400, listed once in WEBLLM_UNSUPPORTED), web-llm's chunks → our LlmEvents (WebLlmFold),
 * web-llm's errors (told apart by `.name`) → HearthErrors, and a catalog variant → web-llm's AppConfig.
 * Only web-llm's *types* are imported: the ~6 MB library itself loads lazily in webllm-backend.ts.
 *
 * Decisions (see also WEBLLM_UNSUPPORTED):
 * - Requests always run with web-llm `n: 1`, one web-llm request per choice, sequentially (web-llm has no batching
 *   and refuses `n > 1` when streaming). Choice i (prompt-major, as in our ONNX backend) uses seed
 *   `(seed + i * 0x9e3779b1) >>> 0`, the same derivation as generate.ts, so choice 0 runs with the request's seed.
 * - Chat and plain completions stream from web-llm (`stream: true`, `stream_options.include_usage`), so tokens reach
 *   the client as they are made and cancelling stops the GPU work (interruptGenerate). Completions with `logprobs`
 *   run non-streamed: web-llm's streamed chunks keep only the last token's logprob when a chunk was held back for
 *   an incomplete UTF-8 character, its non-streamed answer has all of them.
 * - Stop strings are matched here (StopMatcher, the same semantics as our ONNX backend) and web-llm is interrupted on
 *   a match: web-llm's own streamed stop handling has already sent the start of a stop string before it cuts it.
 *   Non-streamed runs pass `stop` to web-llm (its whole-answer cut is right) and run the matcher over its answer too.
 * - `repetition_penalty: 1` and `ignore_eos: false` are sent explicitly so the model's mlc-chat-config defaults never
 *   change sampling behind the API's back; temperature, top_p and both penalties are always sent (defaults applied).
 *   repetition_penalty other than 1 and ignore_eos are refused (web-llm's differ from the API's, see WEBLLM_UNSUPPORTED).
 * - `logit_bias` is passed through: web-llm adds it to the logits after the grammar mask, so bias ±100 makes a token
 *   e^100 times less / more likely rather than our ONNX backend's hard ban / force — the same draws in practice.
 *   Token ids at or past the model's vocabulary are refused when the target knows its size (`vocabSize`).
 * - web-llm counts prompt tokens only as it prefills, so the `start` event carries no prompt lengths (`[]`); `done`
 *   carries web-llm's own usage. The engine's chat state is reset before every request (webllm-backend.ts), so
 *   web-llm never reuses a previous conversation's KV cache and `prompt_tokens` is always the whole prompt.
 */
import type {
  AppConfig,
  ChatCompletionChunk,
  ChatCompletionContentPart,
  ChatCompletionMessageParam,
  ChatCompletionRequestStreaming,
  ChatCompletionTokenLogprob,
  ChatCompletionTool,
  ChatOptions,
  Completion,
  CompletionCreateParamsNonStreaming,
  CompletionCreateParamsStreaming,
  CompletionUsage,
  FunctionParameters,
  ModelRecord,
  ResponseFormat as WebLlmResponseFormat,
} from '@mlc-ai/web-llm';
import { HearthError, insufficientStorage, internal, invalidRequest, notFound, unavailable } from '../../core/errors';
import type { CatalogEntry, LlmVariant } from '../../models/types';
import { JSON_OBJECT_EBNF, normalizeSchema } from './constraint';
import { checkLogitBiasIds } from './sampling';
import { StopMatcher } from './stop';
import type {
  ChatJob, ChatMessage, CompletionJob, FinishReason, GenerationParams, LlmEvent, LlmJob, TokenLogprob, ToolCall, ToolCallDelta,
  ToolDefinition,
} from './types';

export type WebLlmVariant = Extract<LlmVariant, { backend: 'web-llm' }>;
export type WebLlmCacheBackend = NonNullable<AppConfig['cacheBackend']>;

// ---------------------------------------------------------------------------------------------------------------
// What web-llm 0.2.86 cannot do

export interface WebLlmUnsupported {
  /** The request field the refusal names (its `param` is this, or the exact path in the request). */
  field: string;
  /** When the field is refused (other values are honoured). */
  when: string;
  /** Why web-llm cannot honour it. */
  reason: string;
}

/**
 * Every request feature the web-llm backend refuses, after web-llm's own `*UnsupportedFields` lists: a request that
 * uses one gets a 400 `unsupported_parameter` naming the field, never a silently different answer.
 */
export const WEBLLM_UNSUPPORTED = {
  top_k: {
    field: 'top_k', when: 'set to anything but null or 1 (top_k 1 is greedy and runs as temperature 0)',
    reason: 'web-llm samples with temperature and top_p only; it has no top-k filter',
  },
  max_tokens_zero: {
    field: 'max_tokens', when: 'set to 0',
    reason: 'web-llm requires max_tokens > 0 (its MinValueError)',
  },
  context_length_exceeded_behavior: {
    field: 'context_length_exceeded_behavior', when: '"error", unless the prompt provably fits with max_tokens',
    reason: 'web-llm counts prompt tokens only while prefilling, so it cannot refuse prompt + max_tokens > context ' +
      'before generating; it always stops at its context window with finish_reason "length" (the "truncate" behaviour)',
  },
  prompt_truncate_len: {
    field: 'prompt_truncate_len', when: 'the conversation might be longer than it, so that earlier messages would be evicted',
    reason: 'web-llm neither truncates conversations nor exposes its tokenizer to measure them first; send ' +
      '"prompt_truncate_len": null to send the whole conversation (web-llm refuses prompts over its context window), or shorten it',
  },
  echo_logprobs: {
    field: 'echo', when: 'true together with logprobs',
    reason: 'web-llm does not score prompt tokens',
  },
  logprobs_temperature: {
    field: 'logprobs', when: 'set while temperature is not 1 (or while sampling is greedy through top_p 0 or top_k 1)',
    reason: 'web-llm reports log-probabilities of the temperature-scaled distribution it samples from; the API ' +
      "reports the model's own (temperature 1), which web-llm matches only at temperature 1",
  },
  token_prompts: {
    field: 'prompt', when: 'given as token ids',
    reason: 'web-llm takes text prompts only, and does not expose its tokenizer to decode ids',
  },
  completion_images: {
    field: 'images', when: 'non-empty',
    reason: "web-llm's completions API takes text only",
  },
  completion_response_format: {
    field: 'response_format', when: '"json_object" on /completions',
    reason: "web-llm's completions API has no response_format",
  },
  images_not_vision: {
    field: 'messages[].content[].image_url', when: "the model's MLC build is not a vision model (ModelType.VLM)",
    reason: 'web-llm passes images only to vision models',
  },
  image_detail: {
    field: 'messages[].content[].image_url.detail', when: '"low" or "high" ("auto", the default, is accepted)',
    reason: 'web-llm refuses image_url.detail (its UnsupportedDetailError)',
  },
  image_url: {
    field: 'messages[].content[].image_url.url', when: 'neither a data:image URL nor an http(s) URL',
    reason: 'web-llm loads images only from data:image URLs and http(s) (its UnsupportedImageURLError)',
  },
  image_role: {
    field: 'messages[].content[]', when: 'an image part is outside a user message',
    reason: "web-llm's system, assistant and tool messages are text only",
  },
  system_not_first: {
    field: 'messages[].role', when: '"system" anywhere but the first message',
    reason: 'web-llm takes one system prompt, as the first message (its SystemMessageOrderError)',
  },
  last_message_role: {
    field: 'messages[].role', when: 'the last message is not from "user" or "tool"',
    reason: 'web-llm generates only in reply to a user or tool message (its MessageOrderError)',
  },
  message_name: {
    field: 'messages[].name', when: 'set on a system or tool message',
    reason: "web-llm's conversation has no place for it (names of user and assistant messages are kept)",
  },
  assistant_text_and_tool_calls: {
    field: 'messages[].content', when: 'an assistant message has both text and tool_calls',
    reason: "a Hermes tool-call turn is the JSON list of calls alone, which is how web-llm's history holds it",
  },
  tools_model: {
    field: 'tools', when: "used with a model outside web-llm's function-calling list (Hermes-2-Pro / Hermes-3 builds)",
    reason: 'web-llm 0.2.86 implements tools only for the models in its functionCallingModelIds (UnsupportedModelIdError)',
  },
  tools_system: {
    field: 'messages[].role', when: '"system" together with tools',
    reason: 'web-llm writes its own Hermes system prompt listing the tools (its CustomSystemPromptError)',
  },
  tools_response_format: {
    field: 'response_format', when: 'set together with tools',
    reason: 'web-llm constrains tool calls with its own JSON schema (its CustomResponseFormatError)',
  },
  chat_logprobs: {
    field: 'logprobs', when: 'set on /chat/completions',
    reason: "web-llm's chat log-probabilities are those of the temperature-scaled distribution it samples from, and " +
      'it reports them only on whole answers; Hearth does not map them yet (our ONNX backend honours them)',
  },
  return_token_ids: {
    field: 'return_token_ids', when: 'true',
    reason: 'web-llm does not expose the token ids it reads or generates',
  },
  raw_output: {
    field: 'raw_output', when: 'true',
    reason: 'web-llm does not expose its templated prompt or token ids',
  },
  echo_last: {
    field: 'echo_last', when: 'set',
    reason: 'web-llm does not expose its tokenizer, so the last n prompt tokens cannot be told apart',
  },
  min_p: {
    field: 'min_p', when: 'set to anything but 0',
    reason: 'web-llm samples with temperature and top_p only; it has no min-p filter',
  },
  typical_p: {
    field: 'typical_p', when: 'set to anything but 1',
    reason: 'web-llm samples with temperature and top_p only; it has no typical-p filter',
  },
  mirostat: {
    field: 'mirostat_target', when: 'set',
    reason: 'web-llm has no Mirostat sampler',
  },
  repetition_penalty: {
    field: 'repetition_penalty', when: 'set to anything but 1',
    reason: 'web-llm penalises only the tokens it has generated, not the prompt\'s (the API penalises both), and ' +
      'applies the penalty after logit_bias rather than before',
  },
  ignore_eos: {
    field: 'ignore_eos', when: 'true',
    reason: 'web-llm still samples the end-of-sequence token (it only stops no longer on it, so the token would appear ' +
      'in the output) and also ignores every stop string; the API bans the token instead',
  },
  tool_choice: {
    field: 'tool_choice', when: '"required" (or "any") or a named function',
    reason: 'web-llm ignores tool_choice: its tool-call grammar allows an empty list of calls and any function ' +
      'name, so neither can be guaranteed ("auto" and "none" are honoured)',
  },
} as const satisfies Record<string, WebLlmUnsupported>;

export type WebLlmUnsupportedKey = keyof typeof WEBLLM_UNSUPPORTED;

function refuse(key: WebLlmUnsupportedKey, param: string = WEBLLM_UNSUPPORTED[key].field, detail = ''): HearthError {
  const u = WEBLLM_UNSUPPORTED[key];
  return invalidRequest(`"${u.field}" is not supported by the web-llm backend when ${u.when}: ${u.reason}.${detail}`,
    param, 'unsupported_parameter');
}

/**
 * web-llm's `functionCallingModelIds` (config.ts), the only model ids it accepts `tools` for; its function calling is
 * hard-wired to the Hermes-2-Pro / Hermes-3 prompt format. Copied (this module imports no web-llm code); a unit test
 * checks it against the package.
 */
export const WEBLLM_FUNCTION_CALLING_MODEL_IDS: readonly string[] = Object.freeze([
  'Hermes-2-Pro-Llama-3-8B-q4f16_1-MLC',
  'Hermes-2-Pro-Llama-3-8B-q4f32_1-MLC',
  'Hermes-2-Pro-Mistral-7B-q4f16_1-MLC',
  'Hermes-3-Llama-3.1-8B-q4f32_1-MLC',
  'Hermes-3-Llama-3.1-8B-q4f16_1-MLC',
]);

export const supportsWebLlmTools = (mlcModelId: string) => WEBLLM_FUNCTION_CALLING_MODEL_IDS.includes(mlcModelId);

// ---------------------------------------------------------------------------------------------------------------
// The model: a catalog variant → web-llm's AppConfig

/** What the request mapping needs to know of the loaded MLC model. */
export interface WebLlmTarget {
  mlcModelId: string;
  /** Tokens of the KV cache web-llm was loaded with (prompt + completion); web-llm stops there with "length". */
  contextWindow: number;
  /** The MLC build takes images (ModelRecord.model_type is ModelType.VLM). */
  vision: boolean;
  /**
   * Tokens of a text by web-llm's own tokenizer, when the backend can reach it: the prompt bound then counts the
   * messages' text exactly (else by UTF-8 bytes, a looser bound) and adds only the template's markup.
   */
  countTokens?: (text: string) => number;
  /** Width of the model's logits (mlc-chat-config `vocab_size`), when the backend knows it: logit_bias ids are checked. */
  vocabSize?: number;
}

/** web-llm's `ModelType.VLM` (an enum value; this module imports no web-llm code; a unit test checks it). */
export const WEBLLM_MODEL_TYPE_VLM = 2;

/** KV-cache size for self-hosted builds without their own override (what web-llm's prebuilt records use). */
export const DEFAULT_WEBLLM_CONTEXT_WINDOW = 4096;

export interface WebLlmModelSetup {
  appConfig: AppConfig;
  /** Passed to `engine.reload(mlcModelId, chatOpts)`. */
  chatOpts: ChatOptions;
  target: WebLlmTarget;
}

/**
 * The AppConfig that loads one catalog variant: web-llm's prebuilt record for `mlcModelId`, with the variant's
 * self-hosted `modelUrl` / `modelLibUrl` (resolved against `baseUrl`: web-llm 0.2.86 itself fails on a relative
 * model URL) in place of the prebuilt ones. web-llm appends `resolve/main/` to a model URL that has no
 * `/resolve/<rev>/` in it, so self-hosted weights live in a Hugging Face-like layout. The KV cache is fixed to the
 * record's `context_window_size` (else min(catalog context, 4096)) without a sliding window, so that the context
 * the mapping reasons about is the one web-llm allocates.
 */
export function webLlmModelSetup(entry: CatalogEntry, variant: WebLlmVariant, prebuilt: readonly ModelRecord[],
  options: { baseUrl: string; cacheBackend: WebLlmCacheBackend }): WebLlmModelSetup {
  const id = variant.mlcModelId;
  const known = prebuilt.find((r) => r.model_id === id);
  const abs = (url: string) => new URL(url, options.baseUrl).href;
  const model = variant.modelUrl ? abs(variant.modelUrl) : known?.model;
  const modelLib = variant.modelLibUrl ? abs(variant.modelLibUrl) : known?.model_lib;
  if (!model || !modelLib) {
    throw notFound(`web-llm 0.2.86 has no prebuilt model "${id}" (catalog entry ${entry.id}, variant ${variant.name}); ` +
      `its catalog variant needs ${!model && !modelLib ? 'modelUrl and modelLibUrl' : !model ? 'modelUrl' : 'modelLibUrl'}`,
    'model', 'model_not_found');
  }
  const selfHosted = Boolean(variant.modelUrl || variant.modelLibUrl);
  const features = new Set(known?.required_features ?? []);
  if (variant.requiresF16) features.add('shader-f16');
  const record: ModelRecord = {
    model,
    model_id: id,
    model_lib: modelLib,
    ...(known?.overrides && { overrides: known.overrides }),
    ...(known?.model_type !== undefined && { model_type: known.model_type }),
    ...(known?.vram_required_MB !== undefined && { vram_required_MB: known.vram_required_MB }),
    ...(known?.low_resource_required !== undefined && { low_resource_required: known.low_resource_required }),
    ...(known?.buffer_size_required_bytes !== undefined && { buffer_size_required_bytes: known.buffer_size_required_bytes }),
    // Checksums and manifests describe the prebuilt files; self-hosted files are other files.
    ...(!selfHosted && known?.integrity && { integrity: known.integrity }),
    ...(!selfHosted && known?.model_manifest && { model_manifest: known.model_manifest }),
    ...(features.size && { required_features: [...features] }),
  };
  const catalogContext = entry.llm?.contextLength ?? DEFAULT_WEBLLM_CONTEXT_WINDOW;
  const override = known?.overrides?.context_window_size;
  const contextWindow = Math.min(catalogContext, override && override > 0 ? override : DEFAULT_WEBLLM_CONTEXT_WINDOW);
  return {
    appConfig: { model_list: [record], cacheBackend: options.cacheBackend },
    chatOpts: { context_window_size: contextWindow, sliding_window_size: -1 },
    target: { mlcModelId: id, contextWindow, vision: record.model_type === WEBLLM_MODEL_TYPE_VLM },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Requests

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
 * Any JSON object, as our ONNX backend's JSON mode without a schema (constraint.ts): web-llm 0.2.86 compiles a
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

// ---------------------------------------------------------------------------------------------------------------
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

// ---------------------------------------------------------------------------------------------------------------
// Errors

export interface WebLlmErrorContext {
  /** Which request was running: names `messages` or `prompt` in context-length errors. */
  kind?: LlmJob['kind'];
}

type ErrorMapper = (message: string, context: WebLlmErrorContext, thrown: unknown) => HearthError;

const badRequest = (param: string | null, code = 'unsupported_parameter'): ErrorMapper =>
  (message) => invalidRequest(`web-llm: ${message}`, param, code);
const down = (code: string): ErrorMapper => (message, _c, thrown) => unavailable(`web-llm: ${message}`, code, thrown);
const broken = (code: string): ErrorMapper => (message, _c, thrown) => internal(`web-llm: ${message}`, code, thrown);

/** The parameter a web-llm ConfigValueError is about ("Make sure `max_tokens` > 0.", "Make sure 0 < top_p <= 1."). */
const CONFIG_PARAMS = ['max_tokens', 'top_p', 'temperature', 'frequency_penalty', 'presence_penalty', 'repetition_penalty', 'top_logprobs', 'logprobs', 'logit_bias', 'seed', 'n'];
const configValue: ErrorMapper = (message) => {
  const param = CONFIG_PARAMS.map((p) => ({ p, at: message.search(new RegExp(`\\b${p}\\b`)) })).filter((x) => x.at >= 0)
    .sort((a, b) => a.at - b.at)[0]?.p ?? null;
  return invalidRequest(`web-llm: ${message}`, param, 'invalid_value');
};

/**
 * web-llm 0.2.86's error classes by `.name` (lib/error.d.ts; the classes are not exported, so `.name` is the contract;
 * note MissingModelWasmError is named "MissingModelError", ToolCallOutputMissingFieldsError "JSONFieldError", and its
 * RangeError shares the built-in's name) → status, param and code.
 */
export const WEBLLM_ERRORS: Readonly<Record<string, ErrorMapper>> = Object.freeze({
  // The request: 400s (most are refused before web-llm sees them; these catch what slips through).
  ContextWindowSizeExceededError: (message, context) => invalidRequest(`web-llm: ${message}`,
    context.kind === 'completion' ? 'prompt' : 'messages', 'context_length_exceeded'),
  UnsupportedFieldsError: (message) => {
    const fields = message.split('\n').slice(1).join('').split(',').map((f) => f.trim()).filter(Boolean);
    return invalidRequest(`web-llm: ${message}`, fields[0] ?? null, 'unsupported_parameter');
  },
  StreamingCountError: badRequest('n'),
  SeedTypeError: badRequest('seed', 'invalid_value'),
  InvalidResponseFormatError: badRequest('response_format', 'invalid_value'),
  InvalidResponseFormatGrammarError: badRequest('response_format', 'invalid_value'),
  InvalidResponseFormatStructuralTagError: badRequest('response_format', 'invalid_value'),
  GrammarMatcherInitError: badRequest('response_format.schema', 'invalid_schema'),
  CustomResponseFormatError: badRequest('response_format'),
  CustomSystemPromptError: badRequest('messages'),
  UnsupportedModelIdError: badRequest('tools'),
  InvalidToolChoiceError: badRequest('tool_choice'),
  UnsupportedToolChoiceTypeError: badRequest('tool_choice'),
  FunctionNotFoundError: badRequest('tool_choice'),
  UnsupportedToolTypeError: badRequest('tools'),
  MessageOrderError: badRequest('messages'),
  SystemMessageOrderError: badRequest('messages'),
  ContentTypeError: badRequest('messages'),
  UnsupportedRoleError: badRequest('messages'),
  UserMessageContentErrorForNonVLM: badRequest('messages'),
  UnsupportedContentPartError: badRequest('messages'),
  UnsupportedDetailError: badRequest('messages'),
  UnsupportedImageURLError: badRequest('messages'),
  MultipleTextContentError: badRequest('messages'),
  CannotFindImageEmbedError: badRequest('messages'),
  PrefillChunkSizeSmallerThanImageError: badRequest('messages'),
  AudioInputError: badRequest('messages'),
  ConfigValueError: configValue,
  MinValueError: configValue,
  RangeError: configValue, // only web-llm's ("Make sure …"); the built-in RangeError falls through to 500
  NonNegativeError: configValue,
  InvalidNumberStringError: configValue,
  DependencyError: configValue,
  // The device: 503s (the client may retry elsewhere or later; LlmService reloads after a 5xx).
  WebGPUNotAvailableError: down('webgpu_unavailable'),
  WebGPUNotFoundError: down('webgpu_unavailable'),
  ShaderF16SupportError: down('shader_f16_unsupported'),
  FeatureSupportError: down('gpu_feature_unsupported'),
  DeviceLostError: down('device_lost'),
  ModelNotLoadedError: down('model_not_loaded'),
  WorkerEngineModelNotLoadedError: down('model_not_loaded'),
  EngineNotLoadedError: down('model_not_loaded'),
  ConfigurationNotInitializedError: down('model_not_loaded'),
  IntegrityError: down('download_failed'),
  // The model's configuration: a catalog / AppConfig problem.
  ModelNotFoundError: (message) => notFound(`web-llm: ${message}`, 'model', 'model_not_found'),
  MissingModelError: broken('model_config_error'),
  ArtifactManifestError: broken('model_config_error'),
  UnsupportedTokenizerFilesError: broken('model_config_error'),
  WindowSizeConfigurationError: broken('model_config_error'),
  AttentionSinkSizeError: broken('model_config_error'),
  WindowSizeSpecificationError: broken('model_config_error'),
  // The model's output: web-llm could not parse its own (grammar-bound) tool calls.
  ToolCallOutputParseError: broken('tool_call_parse_error'),
  ToolCallOutputInvalidTypeError: broken('tool_call_parse_error'),
  JSONFieldError: broken('tool_call_parse_error'),
});

/** Messages of failed downloads: browsers' fetch TypeErrors, web-llm's and tvmjs's cache errors. */
const DOWNLOAD_FAILURE = /failed to fetch|networkerror|network error|load failed|fetch failed|cannot fetch|unable to fetch|failed to store|network response was not ok|request failed/i;

/** Any error web-llm threw (or a fetch under it) → the HearthError the API reports. */
export function fromWebLlmError(thrown: unknown, context: WebLlmErrorContext = {}): HearthError {
  if (thrown instanceof HearthError) return thrown;
  const name = typeof thrown === 'object' && thrown !== null && typeof (thrown as { name?: unknown }).name === 'string'
    ? (thrown as { name: string }).name : '';
  const message = thrown instanceof Error || (typeof thrown === 'object' && thrown !== null && typeof (thrown as { message?: unknown }).message === 'string')
    ? (thrown as { message: string }).message : String(thrown);
  const mapper = Object.hasOwn(WEBLLM_ERRORS, name) ? WEBLLM_ERRORS[name] : undefined;
  if (mapper && !(name === 'RangeError' && !message.startsWith('Make sure'))) return mapper(message, context, thrown);
  if (name === 'QuotaExceededError') {
    return insufficientStorage(`Not enough storage for the model's files: ${message}`, 'storage_quota_exceeded', thrown);
  }
  if (name === 'AbortError') return unavailable(`web-llm: loading was aborted: ${message}`, 'load_aborted', thrown);
  if (DOWNLOAD_FAILURE.test(message)) {
    return unavailable(`Downloading the model's files failed: ${message}`, 'download_failed', thrown);
  }
  return internal(`web-llm: ${message || name || 'unknown failure'}`, 'engine_error', thrown);
}

/** What web-llm 0.2.86 cannot do, listed once (WEBLLM_UNSUPPORTED): each is refused by name with a spec-shaped 400. */
import { HearthError, invalidRequest } from '../../../core/errors';

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

export function refuse(key: WebLlmUnsupportedKey, param: string = WEBLLM_UNSUPPORTED[key].field, detail = ''): HearthError {
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

/**
 * The web-llm (MLC, @mlc-ai/web-llm 0.2.86) backend (backend.ts) and its boundary, as pure functions: our normalised chat/completion
 * jobs → web-llm's OpenAI-style requests (every field mapped on purpose; what web-llm cannot honour is refused by
 * name with a spec-shaped 400, listed once in WEBLLM_UNSUPPORTED), web-llm's chunks → our LlmEvents (WebLlmFold),
 * web-llm's errors (told apart by `.name`) → HearthErrors, and a catalog variant → web-llm's AppConfig.
 * Only web-llm's *types* are imported: the ~6 MB library itself loads lazily in backend.ts. The mapping is split by
 * concern: unsupported.ts (what is refused), model.ts (variant → AppConfig), requests.ts (jobs → requests), fold.ts
 * (chunks → events), errors.ts (web-llm errors → HearthErrors).
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
 *   carries web-llm's own usage. The engine's chat state is reset before every request (backend.ts), so
 *   web-llm never reuses a previous conversation's KV cache and `prompt_tokens` is always the whole prompt.
 */
export { supportsWebLlmTools, WEBLLM_FUNCTION_CALLING_MODEL_IDS, WEBLLM_UNSUPPORTED } from './unsupported';
export type { WebLlmUnsupported, WebLlmUnsupportedKey } from './unsupported';
export { DEFAULT_WEBLLM_CONTEXT_WINDOW, WEBLLM_MODEL_TYPE_VLM, webLlmModelSetup } from './model';
export type { WebLlmCacheBackend, WebLlmModelSetup, WebLlmTarget, WebLlmVariant } from './model';
export { chatPromptTokenBound, choiceSeed, completionPromptTokenBound, HERMES_PROMPT_TOKENS, hermesToolCallsText, JSON_OBJECT_GRAMMAR, planWebLlmJob, toWebLlmChatRequest, toWebLlmCompletionRequest } from './requests';
export type { WebLlmPlan, WebLlmRequest, WebLlmRun } from './requests';
export { WebLlmFold } from './fold';
export type { FoldStep } from './fold';
export { fromWebLlmError, WEBLLM_ERRORS } from './errors';
export type { WebLlmErrorContext } from './errors';
export { createWebLlmBackend, importWebLlm, webLlmStream, webLlmTokenCounter } from './backend';
export type { WebLlmBackendOptions, WebLlmEngine, WebLlmLoadProgress, WebLlmModule } from './backend';

/** web-llm's errors, told apart by `.name`, → HearthErrors (WEBLLM_ERRORS, fromWebLlmError). */
import { HearthError, insufficientStorage, internal, invalidRequest, notFound, unavailable } from '../../../core/errors';
import type { LlmJob } from '../types';

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

/**
 * The catalogue of Hearth's error codes (data, not code): each code's spec `type`, the HTTP status it answers with
 * when src/api turns it into an ErrorResponse, and the message used when the thrower gives none.
 * Engines, models and the runtime throw codes (`hearthError('cancelled')`); they never choose a status.
 * A new code goes here first: `tests/unit/core-errors.test.ts` fails on a code thrown in src/ that is not listed.
 */

export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_denied'
  | 'not_found_error'
  | 'method_not_allowed'
  | 'request_too_large'
  | 'internal_server_error'
  | 'not_implemented'
  | 'service_unavailable'
  | 'insufficient_storage';

/** The HTTP status of each error type, used for every code that does not name its own. */
export const STATUS_OF_TYPE: Readonly<Record<ErrorType, number>> = {
  invalid_request_error: 400,
  authentication_error: 401,
  permission_denied: 403,
  not_found_error: 404,
  method_not_allowed: 405,
  request_too_large: 413,
  internal_server_error: 500,
  not_implemented: 501,
  service_unavailable: 503,
  insufficient_storage: 507,
};

export interface ErrorCodeEntry {
  type: ErrorType;
  /** Only where it differs from the type's status. */
  status?: number;
  /** The message when the thrower gives none; `{name}` is filled from the error's details. */
  message?: string;
}

const invalid = (message?: string): ErrorCodeEntry => ({ type: 'invalid_request_error', message });
const missing = (message?: string): ErrorCodeEntry => ({ type: 'not_found_error', message });
const refused = (message?: string): ErrorCodeEntry => ({ type: 'permission_denied', message });
const busy = (message?: string): ErrorCodeEntry => ({ type: 'service_unavailable', message });
const broken = (message?: string): ErrorCodeEntry => ({ type: 'internal_server_error', message });

export const ERROR_CODES = {
  // The request itself (400 unless noted).
  invalid_value: invalid('Invalid value for {param}'),
  invalid_type: invalid(),
  invalid_json: invalid(),
  invalid_path: invalid(),
  invalid_multipart: invalid(),
  missing_required_field: invalid(),
  unknown_field: invalid(),
  unsupported_parameter: invalid(),
  unsupported_content_type: invalid(),
  limit_exceeded: invalid(),
  context_length_exceeded: invalid(),
  template_error: invalid(),
  template_limit_exceeded: invalid(),
  invalid_gguf: invalid(),
  unsupported_gguf_type: invalid(),
  unsupported_gguf_model: invalid(),
  model_exists: invalid(),
  no_chat_template: invalid(),
  invalid_grammar: invalid(),
  invalid_schema: invalid(),
  wrong_model_kind: invalid(),
  invalid_image: invalid(),
  image_too_large: invalid(),
  unsupported_resolution: invalid(),
  invalid_remote: invalid(),
  invalid_lora: invalid(),
  unsupported_lora: invalid(),
  lora_mismatch: invalid(),
  lora_not_found: invalid(),
  lora_file_ambiguous: invalid(),
  lora_access_denied: invalid(),
  lora_unsupported_model: invalid(),
  /** The client went away; nobody reads this answer (nginx's 499). */
  cancelled: { type: 'invalid_request_error', status: 499, message: 'The client aborted the request' },
  request_too_large: { type: 'request_too_large' },
  method_not_allowed: { type: 'method_not_allowed' },
  missing_api_key: { type: 'authentication_error' },
  invalid_api_key: { type: 'authentication_error' },
  // Not found (404).
  not_found: missing(),
  model_not_found: missing('The model {model} does not exist'),
  unknown_route: missing(),
  // Refused by origin (403).
  forbidden: refused(),
  cross_origin: refused(),
  navigation_refused: refused(),
  // Cannot serve now (503): retry, download, or pick another model.
  service_unavailable: busy(),
  no_host: busy(),
  deadline_exceeded: busy(),
  engine_restarted: busy(),
  engine_stopped: busy(),
  api_worker_restarted: busy(),
  not_host: busy(),
  host_gone: busy(),
  host_changed: busy(),
  no_backend: busy(),
  webgpu_unavailable: busy(),
  model_not_downloaded: busy(),
  model_file_missing: busy(),
  model_unloaded: busy(),
  model_too_large: busy(),
  load_aborted: busy(),
  download_failed: busy(),
  lora_download_failed: busy(),
  storage_quota_exceeded: { type: 'insufficient_storage' },
  generation_interrupted: busy(),
  // Hearth or the model failed (500).
  engine_error: broken('Unknown engine failure'),
  device_lost: busy(),
  bad_catalog_entry: broken(),
  bad_model_config: broken(),
  bad_model_io: broken(),
  bad_model_output: broken(),
  bad_token: broken(),
  context_overflow: broken(),
  no_controlnet: broken(),
  no_vae_encoder: broken(),
} as const satisfies Record<string, ErrorCodeEntry>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The catalogue's entry for a code, or undefined for a code it does not list (e.g. one a remote sent). */
export function errorCodeEntry(code: string | null | undefined): ErrorCodeEntry | undefined {
  return code != null && Object.hasOwn(ERROR_CODES, code) ? (ERROR_CODES as Record<string, ErrorCodeEntry>)[code] : undefined;
}

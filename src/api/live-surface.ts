/**
 * The live Fireworks API surface beyond the 0.0.1 file (spec/NOTES.md, "The live API surface"), as ONE table:
 * every field the service and its clients (AI SDK, openai, LangChain, LiteLLM) send that the file lacks, with its
 * kind — `implemented` (honoured here), `ignored` (accepted with no local effect, reported in `x-hearth-ignored`)
 * — the operations that take it and its JSON Schema. Anything not in the file or in this table is refused by name.
 *
 * scripts/build-validators.mjs reads this module at build time (so it imports nothing at run time) and folds each
 * field's schema into the generated validators; entries without a schema are changes to an existing field, applied
 * by the patch of the same `name` there. src/api/live-fields.ts uses it at run time (ignored fields, the header).
 * README.md's "Fields beyond the 0.0.1 spec" table is checked against it by tests/unit/live-surface.test.ts.
 */

export type LiveOperation = 'chat.completions' | 'completions' | 'embeddings' | 'images.generate' |
  'images.image_to_image' | 'images.control_net';

export type LiveFieldKind = 'implemented' | 'ignored';

export interface LiveField {
  /** The request field (top level), or for `patch` entries a name for the change (e.g. `role "developer"`). */
  name: string;
  kind: LiveFieldKind;
  operations: readonly LiveOperation[];
  /** JSON Schema of a new top-level field; absent for `patch` entries (changes to fields the file already has). */
  schema?: Readonly<Record<string, unknown>>;
  /** True for an entry that changes an existing field; scripts/build-validators.mjs has a patch of this name. */
  patch?: true;
  /** What it does here (README wording). */
  meaning: string;
}

const LLM: readonly LiveOperation[] = ['chat.completions', 'completions'];
const CHAT: readonly LiveOperation[] = ['chat.completions'];
const COMPLETIONS: readonly LiveOperation[] = ['completions'];
const IMAGE_JSON: readonly LiveOperation[] = ['images.generate'];

const nullable = (schema: Record<string, unknown>) => ({ ...schema, type: [schema.type as string, 'null'] });
const probability = nullable({ type: 'number', minimum: 0, maximum: 1 });
const flag = nullable({ type: 'boolean' });

export const LIVE_SURFACE: readonly LiveField[] = Object.freeze([
  // --- implemented: sampling ---
  { name: 'min_p', kind: 'implemented', operations: LLM, schema: probability,
    meaning: 'keep tokens with p ≥ min_p · p_max (after temperature, top_k, top_p)' },
  { name: 'typical_p', kind: 'implemented', operations: LLM, schema: probability,
    meaning: 'locally typical sampling: the smallest set of tokens closest to the entropy with this much mass' },
  { name: 'repetition_penalty', kind: 'implemented', operations: LLM, schema: nullable({ type: 'number', exclusiveMinimum: 0, maximum: 10 }),
    meaning: 'CTRL-style: logit ÷ penalty if positive, × penalty if negative, for tokens in the prompt or output' },
  { name: 'mirostat_target', kind: 'implemented', operations: LLM, schema: nullable({ type: 'number', minimum: 0, maximum: 100 }),
    meaning: 'Mirostat v2 target surprise τ (replaces top_k/top_p/min_p/typical_p, which must then be left unset)' },
  { name: 'mirostat_lr', kind: 'implemented', operations: LLM, schema: nullable({ type: 'number', exclusiveMinimum: 0, maximum: 1 }),
    meaning: 'Mirostat v2 learning rate η (default 0.1; needs mirostat_target)' },
  { name: 'logit_bias', kind: 'implemented', operations: LLM,
    schema: { type: ['object', 'null'], maxProperties: 1024, propertyNames: { pattern: '^(0|[1-9][0-9]{0,8})$' },
      additionalProperties: { type: 'number', minimum: -100, maximum: 100 } },
    meaning: 'token id → bias added to its logit; −100 bans the token, +100 forces it' },
  { name: 'ignore_eos', kind: 'implemented', operations: LLM, schema: flag,
    meaning: 'end-of-sequence tokens are banned: generation runs to max_tokens (a JSON/tool grammar still ends it)' },
  // --- implemented: output ---
  { name: 'max_completion_tokens', kind: 'implemented', operations: LLM, schema: nullable({ type: 'integer', minimum: 0 }),
    meaning: "OpenAI's name for max_tokens (giving both is a 400)" },
  { name: 'stream_options', kind: 'implemented', operations: LLM,
    schema: { type: ['object', 'null'], additionalProperties: false, properties: { include_usage: flag } },
    meaning: 'include_usage: true adds a last chunk with `choices: []` and `usage` (OpenAI); needs stream: true' },
  { name: 'logprobs', kind: 'implemented', operations: CHAT, schema: { type: ['boolean', 'integer', 'null'], minimum: 0, maximum: 20 },
    meaning: "chat: true gives OpenAI's choices[].logprobs.content[] ({token, logprob, bytes, top_logprobs})" },
  { name: 'top_logprobs', kind: 'implemented', operations: CHAT, schema: nullable({ type: 'integer', minimum: 0, maximum: 20 }),
    meaning: 'chat: alternatives per token, 0–20 (needs logprobs: true)' },
  { name: 'echo_last', kind: 'implemented', operations: COMPLETIONS, schema: nullable({ type: 'integer', minimum: 1 }),
    meaning: 'echo only the last n prompt tokens (with their logprobs when asked)' },
  { name: 'return_token_ids', kind: 'implemented', operations: LLM, schema: flag,
    meaning: '`prompt_token_ids` on the response, `token_ids` on each choice and stream chunk' },
  { name: 'raw_output', kind: 'implemented', operations: LLM, schema: flag,
    meaning: 'per choice `raw_output`: {prompt_fragments, prompt_token_ids, completion, completion_token_ids}' },
  { name: 'perf_metrics_in_response', kind: 'implemented', operations: LLM, schema: flag,
    meaning: "`perf_metrics` on the response (or last chunk): Hearth's own queue, prefill, first-token and decode timings" },
  { name: 'response_format', kind: 'implemented', operations: LLM, patch: true,
    meaning: 'also {type: "json_schema", json_schema: {name, schema, strict}} (as json_object + schema) and {type: "grammar", grammar} (GBNF)' },
  { name: 'parallel_tool_calls', kind: 'implemented', operations: CHAT, schema: flag,
    meaning: 'false: at most one tool call (Hearth emits one call per turn either way)' },
  { name: 'role "developer"', kind: 'implemented', operations: CHAT, patch: true,
    meaning: 'a system message' },
  // --- implemented: images ---
  { name: 'prompt', kind: 'implemented', operations: IMAGE_JSON, schema: { type: 'string', minLength: 1 },
    meaning: 'text_prompts shorthand, weight 1 (both forms at once: 400)' },
  { name: 'negative_prompt', kind: 'implemented', operations: IMAGE_JSON, schema: { type: 'string' },
    meaning: 'text_prompts shorthand, weight −1' },
  { name: 'aspect_ratio', kind: 'implemented', operations: IMAGE_JSON, schema: { type: 'string', pattern: '^[1-9][0-9]{0,3}:[1-9][0-9]{0,3}$' },
    meaning: "e.g. \"16:9\": the model's listed resolution nearest that ratio (not with width/height)" },
  { name: 'numeric strings', kind: 'implemented', operations: IMAGE_JSON, patch: true,
    meaning: 'width, height, steps, seed, samples, cfg_scale as JSON strings ("1024"), as the AI SDK sends them' },
  // --- accepted, no local effect ---
  { name: 'user', kind: 'ignored', operations: [...LLM, 'embeddings'], schema: nullable({ type: 'string' }),
    meaning: 'end-user id for abuse tracking: nobody else sees a local request' },
  { name: 'service_tier', kind: 'ignored', operations: LLM, schema: nullable({ type: 'string' }),
    meaning: 'one local device, one tier' },
  { name: 'prompt_cache_key', kind: 'ignored', operations: LLM, schema: nullable({ type: 'string' }),
    meaning: 'no cross-request prompt cache yet' },
  { name: 'prompt_cache_isolation_key', kind: 'ignored', operations: LLM, schema: nullable({ type: 'string' }),
    meaning: 'no cross-request prompt cache yet' },
  { name: 'metadata', kind: 'ignored', operations: LLM, schema: { type: ['object', 'null'], maxProperties: 64, additionalProperties: { type: 'string' } },
    meaning: 'nothing is stored' },
  { name: 'store', kind: 'ignored', operations: LLM, schema: flag,
    meaning: 'nothing is stored' },
  { name: 'safe_tokenization', kind: 'ignored', operations: LLM, schema: flag,
    meaning: 'special-token text in prompts is already tokenised as text' },
  { name: 'speculation', kind: 'ignored', operations: LLM, schema: { type: ['string', 'array', 'null'], items: { type: 'integer' } },
    meaning: 'no speculative decoding' },
  { name: 'prediction', kind: 'ignored', operations: LLM, schema: { type: ['object', 'null'] },
    meaning: 'no speculative decoding' },
  { name: 'reasoning_effort', kind: 'ignored', operations: LLM, schema: { type: ['string', 'integer', 'boolean', 'null'] },
    meaning: 'no built-in model reasons' },
  { name: 'thinking', kind: 'ignored', operations: LLM, schema: { type: ['object', 'null'] },
    meaning: 'no built-in model reasons' },
  { name: 'reasoning_history', kind: 'ignored', operations: LLM, schema: { type: ['string', 'null'] },
    meaning: 'no built-in model reasons' },
] satisfies LiveField[]);

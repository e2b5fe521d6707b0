/**
 * Hearth's limits as data, in one place: what a request may ask for before any heavy work starts. The service worker,
 * the API and the cheap pre-checks (src/api/precheck.ts) read them from here, so a limit is changed in one line and
 * every check that enforces it follows.
 */
import { TEMPLATE_LIMITS } from '../engines/llm/template-limits';

export const LIMITS = Object.freeze({
  /** Request bodies (JSON or multipart), enforced by the service worker before relaying and again by the API. */
  maxBodyBytes: 8 * 1024 * 1024,
  /** Nesting of a whole JSON body (a JSON Schema inside a request included). */
  maxBodyDepth: 64,
  /** Chat: messages in one request. */
  maxMessages: 2048,
  /** Chat: parts of one message's array content. */
  maxContentParts: 64,
  /** Tools offered in one request. */
  maxTools: 128,
  /** Stop sequences and the characters of each. */
  maxStopSequences: 4,
  maxStopChars: 256,
  /** Completions: prompts in one batch, and prompts × n (choices generated). */
  maxPrompts: 256,
  maxChoices: 256,
  /** JSON values in requests (response_format.schema, tool parameters): nesting depth and total nodes. */
  maxJsonDepth: 32,
  maxJsonNodes: 10_000,
  /** Chat templates: characters a rendering may produce, and the wall time it may take (the LLM engine's own caps). */
  maxTemplateChars: TEMPLATE_LIMITS.maxChars,
  maxTemplateMs: TEMPLATE_LIMITS.maxMs,
  /** Image uploads: pixels per side are capped at the model's largest resolution × this factor (read from the header). */
  imageUploadSideFactor: 4,
});

export type Limits = typeof LIMITS;

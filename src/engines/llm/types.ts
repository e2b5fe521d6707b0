/**
 * The LLM engine's boundary: normalised chat and completion jobs in, a stream of events out, whichever backend
 * (our ONNX decoder or web-llm) runs them. The API layer fills defaults and validates; engines never see raw JSON.
 */
import type { CatalogEntry } from '../../models/types';
import type { LoadedModelInfo, ModelStats, StreamingEngine } from '../contract';
import type { SamplingParams } from './sampling';

export type Role = 'system' | 'user' | 'assistant' | 'tool';

export interface TextPart { type: 'text'; text: string }
export interface ImagePart { type: 'image_url'; image_url: { url: string; detail?: string } }

export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ChatMessage {
  role: Role;
  content: string | (TextPart | ImagePart)[] | null;
  name?: string;
  tool_calls?: ToolCall[];
  tool_call_id?: string;
}

export interface ToolDefinition {
  type: 'function';
  function: { name: string; description?: string; parameters?: object };
}

/** `tool_choice` (an extension the live service accepts): let the model decide, forbid, require, or name one. */
export type ToolChoice = 'auto' | 'none' | 'required' | { type: 'function'; function: { name: string } };

export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object'; schema?: object }
  /** A GBNF / xgrammar EBNF grammar (root rule `root`) the output must match. */
  | { type: 'grammar'; grammar: string };

export interface GenerationParams {
  /** Tokens to generate at most per choice (defaults already applied: 200 chat, 16 completions). */
  maxTokens: number;
  stop: string[];
  sampling: SamplingParams;
  /** The seed actually used (random when the request gave none). */
  seed: number;
  /** Choices per prompt. */
  n: number;
  /** How many top alternatives to report per token (completions 0–5, chat 0–20), or null for no logprobs. */
  logprobs: number | null;
  /** Completions only: prepend the prompt to the text (and its logprobs when asked). */
  echo: boolean;
  /** Completions only, with `echo`: echo only the last this many prompt tokens (null: the whole prompt). */
  echoLast: number | null;
  /** Report token ids: the prompt's on `start` (`promptIds`), the generated ones on deltas (`tokenIds`). */
  returnTokenIds: boolean;
  /** Report the raw exchange: the templated prompt text on `start` (`promptTexts`), the raw completion on `finish`. */
  rawOutput: boolean;
  responseFormat: ResponseFormat;
  contextLengthExceeded: 'truncate' | 'error';
}

export interface ChatJob {
  kind: 'chat';
  entry: CatalogEntry;
  messages: ChatMessage[];
  tools: ToolDefinition[];
  toolChoice: ToolChoice;
  /** Evict the earliest non-system messages until the prompt fits this many tokens. */
  promptTruncateLen: number | null;
  params: GenerationParams;
}

export interface CompletionJob {
  kind: 'completion';
  entry: CatalogEntry;
  /** One or more prompts, each text or token ids; choices are numbered prompt-major (prompt i, sample j → i*n+j). */
  prompts: (string | number[])[];
  /** Data URLs of images for vision models. */
  images: string[];
  params: GenerationParams;
}

export type LlmJob = ChatJob | CompletionJob;

export interface TokenLogprob {
  token: string;
  logprob: number;
  /** Character offset of this token's text in the choice's full text (echoed prompt included). */
  textOffset: number;
  top: { token: string; logprob: number }[];
}

export interface ToolCallDelta {
  index: number;
  id?: string;
  type?: 'function';
  function: { name?: string; arguments?: string };
}

export type FinishReason = 'stop' | 'length' | 'tool_calls';

export type LlmEvent =
  /** First event: the real prompt length per prompt (after templating and truncation) and the backend used. */
  | {
    type: 'start'; promptTokens: number[]; backend: string; model: string;
    /** With `returnTokenIds` or `rawOutput`: each prompt's token ids (after templating and truncation). */
    promptIds?: number[][];
    /** With `rawOutput`: each prompt as the model saw it (the rendered chat template, special tokens included). */
    promptTexts?: string[];
  }
  | { type: 'delta'; choice: number; text?: string; logprobs?: TokenLogprob[]; toolCalls?: ToolCallDelta[]; tokenIds?: number[] }
  | {
    type: 'finish'; choice: number; reason: FinishReason; completionTokens: number;
    /** With `rawOutput`: every generated token decoded, special tokens and stop strings included. */
    raw?: string;
  }
  | { type: 'done'; promptTokens: number; completionTokens: number; timings?: LlmTimings };

/** Where a job's time went, measured by the engine around the backend (any backend), in milliseconds. */
export interface LlmTimings {
  /** Waiting for the model's earlier jobs (and loading it). */
  queueMs: number;
  /** From the job's start to its first generated token: templating, tokenising, prefill, the first step. */
  prefillMs: number;
  /** From the first generated token to the end. */
  decodeMs: number;
}

/** Counters per loaded model: how many jobs ran, how many the caller cancelled, tokens generated. */
export type LlmStats = ModelStats;

/** A loaded LLM as its backend describes it: the common info, always with its variant and counters. */
export interface LoadedLlmInfo extends LoadedModelInfo {
  variant: string;
  stats: LlmStats;
}

/**
 * Runs a job as a stream of events; the stream's cancel() stops generation before the next token. A job whose
 * `signal` has aborted while it waited for its turn is dropped before it starts (499 `cancelled`).
 */
export type LlmEngine = StreamingEngine<LlmJob, LlmEvent>;

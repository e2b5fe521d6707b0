/**
 * The web-llm (MLC) LLM backend: runs a catalog entry's `web-llm` variants with @mlc-ai/web-llm 0.2.86 inside our LLM
 * worker. The library (~6 MB) is imported only when an MLC variant is first tried; each loaded model gets its own
 * MLCEngine (created directly: we already are in a worker). Jobs become web-llm requests and web-llm's chunks become
 * our events through the mapping in this folder (index.ts); cancelling a job's stream interrupts web-llm before its next token.
 */
import type {
  AppConfig, ChatCompletionChunk, ChatCompletionRequestStreaming, ChatOptions, Completion,
  CompletionCreateParamsNonStreaming, CompletionCreateParamsStreaming, InitProgressReport, MLCEngineConfig,
} from '@mlc-ai/web-llm';
import { unavailable } from '../../../core/errors';
import type { CatalogEntry, LlmVariant } from '../../../models/types';
import type { ExternalLlmBackend, RunnableLlm } from '../backend-registry';
import type { LlmEvent, LlmJob, LlmStats } from '../types';
import { pullStream } from '../../../util/pull-stream';
import { fromWebLlmError } from './errors';
import { WebLlmFold } from './fold';
import { webLlmModelSetup, type WebLlmCacheBackend, type WebLlmVariant } from './model';
import { planWebLlmJob, type WebLlmPlan } from './requests';

/** The part of an MLCEngine this backend uses, as exactly typed calls. */
export interface WebLlmEngine {
  reload(modelId: string, chatOpts: ChatOptions): Promise<void>;
  chat(request: ChatCompletionRequestStreaming): Promise<AsyncIterable<ChatCompletionChunk>>;
  completeStreaming(request: CompletionCreateParamsStreaming): Promise<AsyncIterable<Completion>>;
  complete(request: CompletionCreateParamsNonStreaming): Promise<Completion>;
  /** Stops the running generation before its next token (web-llm then finishes it with "abort"). */
  interrupt(): void;
  /** Forgets the conversation and its KV cache. */
  resetChat(): Promise<void>;
  unload(): Promise<void>;
  /** Token counts by the loaded model's own tokenizer, when it can be reached. */
  tokenCounter?(modelId: string): ((text: string) => number) | undefined;
}

/** What this backend needs of the web-llm package. */
export interface WebLlmModule {
  createEngine(config: MLCEngineConfig): WebLlmEngine;
  prebuiltAppConfig: AppConfig;
}

/** Loads the real package (its own lazily loaded chunk in the build). */
export async function importWebLlm(): Promise<WebLlmModule> {
  const webllm = await import('@mlc-ai/web-llm');
  return {
    prebuiltAppConfig: webllm.prebuiltAppConfig,
    createEngine(config) {
      const engine = new webllm.MLCEngine(config);
      return {
        reload: (modelId, chatOpts) => engine.reload(modelId, chatOpts),
        chat: (request) => engine.chatCompletion(request),
        completeStreaming: (request) => engine.completion(request),
        complete: (request) => engine.completion(request),
        interrupt: () => void engine.interruptGenerate(),
        resetChat: () => engine.resetChat(true),
        unload: () => engine.unload(),
        tokenCounter: (modelId) => webLlmTokenCounter(engine, modelId),
      };
    },
  };
}

/**
 * The tokenizer web-llm loaded for a model. web-llm 0.2.86 keeps it private (MLCEngine.loadedModelIdToPipeline →
 * LLMChatPipeline.tokenizer, a @mlc-ai/web-tokenizers Tokenizer with `encode(text): Int32Array`); the package version is
 * pinned exactly, and when the shape is not there this returns undefined and prompts are measured in bytes instead.
 */
export function webLlmTokenCounter(engine: object, modelId: string): ((text: string) => number) | undefined {
  const pipelines = (engine as { loadedModelIdToPipeline?: unknown }).loadedModelIdToPipeline;
  if (!(pipelines instanceof Map)) return undefined;
  const tokenizer = (pipelines.get(modelId) as { tokenizer?: { encode?: unknown } } | undefined)?.tokenizer;
  if (!tokenizer || typeof tokenizer.encode !== 'function') return undefined;
  const encode = tokenizer.encode.bind(tokenizer) as (text: string) => ArrayLike<number>;
  return (text) => (text ? encode(text).length : 0);
}

export interface WebLlmLoadProgress extends InitProgressReport {
  entry: string;
  variant: string;
}

export interface WebLlmBackendOptions {
  /** Where web-llm keeps weights and model libraries (its AppConfig.cacheBackend). Default 'cache' (Cache API). */
  cacheBackend?: WebLlmCacheBackend;
  /** What relative `modelUrl` / `modelLibUrl` resolve against (the worker's modelBase). Default: this global's location. */
  baseUrl?: string;
  /** web-llm's download / compile progress while a model loads (kept for the model manager to show). */
  onProgress?(progress: WebLlmLoadProgress): void;
  /** The package loader; tests pass a fake. Default: the dynamic import of @mlc-ai/web-llm. */
  importWebLlm?(): Promise<WebLlmModule>;
  /** The WebGPU entry point. Default: `navigator.gpu`. */
  gpu?(): GPU | undefined;
}

export function createWebLlmBackend(options: WebLlmBackendOptions = {}): ExternalLlmBackend {
  let module: Promise<WebLlmModule> | undefined;
  const gpu = options.gpu ?? (() => (globalThis.navigator as Navigator | undefined)?.gpu);
  return {
    name: 'web-llm',
    async load(entry: CatalogEntry, variant: LlmVariant): Promise<RunnableLlm> {
      if (variant.backend !== 'web-llm') throw new Error(`Variant ${variant.name} of ${entry.id} is not a web-llm build`);
      // web-llm downloads the model's config and library before it looks for a GPU: look first.
      const webgpu = gpu();
      if (!webgpu) throw unavailable('web-llm needs WebGPU, which this environment does not offer (no navigator.gpu)', 'webgpu_unavailable');
      if (!(await webgpu.requestAdapter())) throw unavailable('web-llm needs WebGPU, but no WebGPU adapter is available', 'webgpu_unavailable');
      let webllm: WebLlmModule;
      try {
        webllm = await (module ??= (options.importWebLlm ?? importWebLlm)());
      } catch (e) {
        module = undefined;
        throw fromWebLlmError(e);
      }
      return loadModel(webllm, entry, variant, options);
    },
  };
}

async function loadModel(webllm: WebLlmModule, entry: CatalogEntry, variant: WebLlmVariant, options: WebLlmBackendOptions): Promise<RunnableLlm> {
  const setup = webLlmModelSetup(entry, variant, webllm.prebuiltAppConfig.model_list, {
    baseUrl: options.baseUrl ?? globalThis.location?.href ?? 'http://localhost/',
    cacheBackend: options.cacheBackend ?? 'cache',
  });
  const engine = webllm.createEngine({
    appConfig: setup.appConfig,
    initProgressCallback: (report) => options.onProgress?.({ ...report, entry: entry.id, variant: variant.name }),
    logLevel: 'WARN',
  });
  try {
    await engine.reload(variant.mlcModelId, setup.chatOpts);
  } catch (e) {
    await engine.unload().catch(() => undefined);
    throw fromWebLlmError(e);
  }
  const countTokens = engine.tokenCounter?.(variant.mlcModelId);
  const target = countTokens ? { ...setup.target, countTokens } : setup.target;
  const info: RunnableLlm['info'] = {
    id: entry.id, backend: 'web-llm', variant: variant.name, device: 'webgpu', skipped: [],
    stats: { requests: 0, cancelled: 0, generatedTokens: 0 },
  };
  return {
    info,
    generate(job) {
      const plan = planWebLlmJob(job, target); // the request's 400s, before anything runs
      return webLlmStream(engine, plan, job.kind, info.stats);
    },
    release: () => engine.unload(),
  };
}

/** Runs a planned job on the engine, one web-llm request per choice; cancel() interrupts web-llm. */
export function webLlmStream(engine: WebLlmEngine, plan: WebLlmPlan, kind: LlmJob['kind'], stats?: LlmStats): ReadableStream<LlmEvent> {
  let cancelled = false;
  const events = run(engine, plan, () => cancelled, stats);
  return pullStream(events, {
    mapError: (e) => fromWebLlmError(e, { kind }),
    onCancel: async () => {
      cancelled = true;
      engine.interrupt();
      await events.return(undefined);
    },
  });
}

async function* run(engine: WebLlmEngine, plan: WebLlmPlan, isCancelled: () => boolean, stats?: LlmStats): AsyncGenerator<LlmEvent> {
  const fold = new WebLlmFold(plan);
  const count = (e: LlmEvent) => {
    if (stats && e.type === 'finish') stats.generatedTokens += e.completionTokens;
    return e;
  };
  for (const r of plan.runs) {
    if (isCancelled()) return;
    // No KV cache carried over from an earlier request: usage counts the whole prompt, and a seed reproduces its answer.
    await engine.resetChat();
    if (r.request.api === 'completion-whole') {
      const whole = await engine.complete(r.request.body);
      for (const e of fold.fromWebLlmCompletion(r, whole)) yield count(e);
    } else {
      const chunks = r.request.api === 'chat' ? await engine.chat(r.request.body) : await engine.completeStreaming(r.request.body);
      for await (const chunk of chunks) {
        const { events, interrupt } = fold.fromWebLlmChunk(r, chunk);
        if (interrupt) engine.interrupt(); // a stop string: web-llm ends the run with "abort" and its usage
        for (const e of events) yield count(e);
      }
    }
    yield* fold.endRun(r);
  }
  yield* fold.done();
}

// The web-llm backend's boundary (src/engines/llm/webllm/) in Node, where web-llm itself
// cannot run: every request mapping rule and refusal (checked against web-llm 0.2.86's own request validators), the
// error mapping for each of its error names (real error instances where the package can make them), chunk folding of
// realistic web-llm streams, and the backend's load / stream / cancel plumbing on a fake engine.
import * as webllm from '@mlc-ai/web-llm';
import type { ChatCompletionChunk, ChatCompletionRequest, Completion, CompletionCreateParams } from '@mlc-ai/web-llm';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HearthError } from '../../src/api/errors';
import { loadXGrammar, normalizeSchema } from '../../src/engines/llm/constraint';
import { DEFAULT_SAMPLING_PARAMS, type SamplingParams } from '../../src/engines/llm/sampling';
import { LlmService } from '../../src/engines/llm/service';
import type { ChatJob, ChatMessage, CompletionJob, GenerationParams, LlmEvent, ToolDefinition } from '../../src/engines/llm/types';
import { createWebLlmBackend, importWebLlm, webLlmTokenCounter, type WebLlmEngine, type WebLlmModule } from '../../src/engines/llm/webllm';
import {
  chatPromptTokenBound, choiceSeed, fromWebLlmError, HERMES_PROMPT_TOKENS, JSON_OBJECT_GRAMMAR, planWebLlmJob, toWebLlmChatRequest,
  toWebLlmCompletionRequest, WEBLLM_ERRORS, WEBLLM_FUNCTION_CALLING_MODEL_IDS, WEBLLM_MODEL_TYPE_VLM, WEBLLM_UNSUPPORTED,
  WebLlmFold, webLlmModelSetup, type WebLlmPlan, type WebLlmRun, type WebLlmTarget, type WebLlmUnsupportedKey,
} from '../../src/engines/llm/webllm';
import { CATALOG } from '../../src/models/catalog';
import type { CatalogEntry, LlmVariant } from '../../src/models/types';

// ---------------------------------------------------------------------------------------------------------------
// Fixtures

const LLAMA: WebLlmTarget = { mlcModelId: 'Llama-3.2-1B-Instruct-q4f32_1-MLC', contextWindow: 4096, vision: false };
const HERMES: WebLlmTarget = { mlcModelId: 'Hermes-3-Llama-3.1-8B-q4f16_1-MLC', contextWindow: 4096, vision: false };
const VISION: WebLlmTarget = { mlcModelId: 'Phi-3.5-vision-instruct-q4f16_1-MLC', contextWindow: 4096, vision: true };

const mlc = (name: string, mlcModelId: string, extra: Partial<Extract<LlmVariant, { backend: 'web-llm' }>> = {}) =>
  ({ backend: 'web-llm', name, mlcModelId, requiresF16: false, ...extra }) as Extract<LlmVariant, { backend: 'web-llm' }>;

const entry: CatalogEntry = {
  id: 'test/llama', aliases: [], kind: 'llm', backend: 'web-llm', ownedBy: 'test', description: '', builtIn: false,
  files: [], created: 0,
  llm: { contextLength: 131072, variants: [mlc('q4f32_1', LLAMA.mlcModelId)], tools: true, vision: true },
};

function params(over: Partial<GenerationParams> = {}, sampling: Partial<SamplingParams> = {}): GenerationParams {
  return {
    maxTokens: 64, stop: [], seed: 1234, n: 1, logprobs: null, echo: false, responseFormat: { type: 'text' },
    contextLengthExceeded: 'truncate', echoLast: null, returnTokenIds: false, rawOutput: false,
    ...over,
    sampling: { ...DEFAULT_SAMPLING_PARAMS, temperature: 0.7, topP: 0.9, topK: null, frequencyPenalty: 0.1, presencePenalty: -0.2, ...sampling },
  };
}

const user = (content: ChatMessage['content'], extra: Partial<ChatMessage> = {}): ChatMessage => ({ role: 'user', content, ...extra });

function chatJob(over: Partial<ChatJob> = {}, p: Partial<GenerationParams> = {}, s: Partial<SamplingParams> = {}): ChatJob {
  return {
    kind: 'chat', entry, messages: [user('Hello')], tools: [], toolChoice: 'auto', promptTruncateLen: 1500,
    ...over, params: params(p, s),
  };
}

function completionJob(over: Partial<CompletionJob> = {}, p: Partial<GenerationParams> = {}, s: Partial<SamplingParams> = {}): CompletionJob {
  return { kind: 'completion', entry, prompts: ['The sky is'], images: [], ...over, params: params(p, s) };
}

const WEATHER: ToolDefinition = {
  type: 'function',
  function: { name: 'get_weather', description: 'Weather of a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
};

/** web-llm's own request checks (they mutate, so they get a copy). */
function webLlmAcceptsChat(request: ChatCompletionRequest, target: WebLlmTarget) {
  const copy = structuredClone(request);
  webllm.postInitAndCheckFieldsChatCompletion(copy, target.mlcModelId, target.vision ? webllm.ModelType.VLM : webllm.ModelType.LLM);
  return copy;
}
const webLlmAcceptsCompletion = (request: CompletionCreateParams) => webllm.postInitAndCheckFieldsCompletion(structuredClone(request), LLAMA.mlcModelId);

function caught(f: () => unknown): HearthError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(HearthError);
    return e as HearthError;
  }
  throw new Error('expected a throw');
}

function thrownBy(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected web-llm to throw');
}

// ---------------------------------------------------------------------------------------------------------------

describe('facts copied from web-llm 0.2.86', () => {
  it('the function-calling model ids and ModelType.VLM match the package', () => {
    expect(webllm.prebuiltAppConfig.model_list.length).toBeGreaterThan(100);
    expect([...WEBLLM_FUNCTION_CALLING_MODEL_IDS]).toEqual(webllm.functionCallingModelIds);
    expect(WEBLLM_MODEL_TYPE_VLM).toBe(webllm.ModelType.VLM);
  });

  it('the JSON-object grammar is the ONNX backend\'s (constraint.ts)', () => {
    const source = readFileSync('src/engines/llm/constraint/factory.ts', 'utf8');
    const start = source.indexOf('const JSON_OBJECT_EBNF = [');
    const block = source.slice(start, source.indexOf('].join', start));
    const lines = [...block.matchAll(/^\s+'(.*)',$/gm)].map((m) => m[1].replace(/\\\\/g, '\\'));
    expect(lines.join('\n')).toBe(JSON_OBJECT_GRAMMAR);
  });
});

describe('webLlmModelSetup: a catalog variant → web-llm AppConfig', () => {
  const prebuilt = webllm.prebuiltAppConfig.model_list;
  const base = { baseUrl: 'https://hearth.example/app/', cacheBackend: 'indexeddb' as const };

  it('takes web-llm\'s prebuilt record, fixes the KV cache to its context window and adds shader-f16 for f16 variants', () => {
    const f16 = mlc('q4f16_1', 'Llama-3.2-1B-Instruct-q4f16_1-MLC', { requiresF16: true });
    const setup = webLlmModelSetup(entry, f16, prebuilt, base);
    const known = prebuilt.find((r) => r.model_id === f16.mlcModelId)!;
    expect(setup.appConfig.cacheBackend).toBe('indexeddb');
    expect(setup.appConfig.model_list).toHaveLength(1);
    const record = setup.appConfig.model_list[0];
    expect(record).toMatchObject({ model_id: f16.mlcModelId, model: known.model, model_lib: known.model_lib, overrides: { context_window_size: 4096 } });
    // web-llm's own record lacks it; with it web-llm reports ShaderF16SupportError instead of failing to compile.
    expect(known.required_features).toBeUndefined();
    expect(record.required_features).toEqual(['shader-f16']);
    expect(setup.chatOpts).toEqual({ context_window_size: 4096, sliding_window_size: -1 });
    expect(setup.target).toEqual({ mlcModelId: f16.mlcModelId, contextWindow: 4096, vision: false });
  });

  it('resolves self-hosted URLs against the base (web-llm fails on relative model URLs) and drops prebuilt checksums', () => {
    const v = mlc('custom', 'Llama-3.2-1B-Instruct-q4f32_1-MLC', { modelUrl: '/mlc/llama/resolve/main/', modelLibUrl: 'libs/llama.wasm' });
    const record = webLlmModelSetup(entry, v, prebuilt, base).appConfig.model_list[0];
    expect(record.model).toBe('https://hearth.example/mlc/llama/resolve/main/');
    expect(record.model_lib).toBe('https://hearth.example/app/libs/llama.wasm');
    expect(record.integrity).toBeUndefined();
    expect(record.overrides).toEqual({ context_window_size: 4096 });
  });

  it('a self-hosted build web-llm does not know gets min(catalog context, 4096); an unknown id without URLs is a clear 404', () => {
    const own = mlc('own', 'My-Model-q4f32_1-MLC', { modelUrl: 'https://cdn.example/m/', modelLibUrl: 'https://cdn.example/m.wasm' });
    expect(webLlmModelSetup(entry, own, prebuilt, base).target.contextWindow).toBe(4096);
    expect(webLlmModelSetup({ ...entry, llm: { ...entry.llm!, contextLength: 2048 } }, own, prebuilt, base).target.contextWindow).toBe(2048);
    const e = caught(() => webLlmModelSetup(entry, mlc('x', 'Nope-MLC'), prebuilt, base));
    expect([e.status, e.code, e.param]).toEqual([404, 'model_not_found', 'model']);
    expect(e.message).toContain('Nope-MLC');
    expect(e.message).toContain('modelUrl and modelLibUrl');
    expect(caught(() => webLlmModelSetup(entry, mlc('x', 'Nope-MLC', { modelUrl: 'https://a/' }), prebuilt, base)).message)
      .toMatch(/needs modelLibUrl$/);
  });

  it('marks vision builds, and every web-llm variant of the catalog exists in web-llm 0.2.86', () => {
    expect(webLlmModelSetup(entry, mlc('v', VISION.mlcModelId), prebuilt, base).target.vision).toBe(true);
    const variants = CATALOG.flatMap((e) => (e.llm?.variants ?? []).filter((v) => v.backend === 'web-llm').map((v) => ({ e, v })));
    expect(variants.length).toBeGreaterThan(0);
    for (const { e, v } of variants) {
      expect(() => webLlmModelSetup(e, v as Extract<LlmVariant, { backend: 'web-llm' }>, prebuilt, base), v.name).not.toThrow();
    }
  });
});

describe('toWebLlmChatRequest', () => {
  it('maps every field explicitly and passes web-llm\'s own checks', () => {
    const job = chatJob({
      messages: [
        { role: 'system', content: 'Be brief.' },
        user([{ type: 'text', text: 'Hello, ' }, { type: 'text', text: 'world' }], { name: 'ann' }),
        { role: 'assistant', content: 'Hi!', name: 'bot' },
        user('Again'),
      ],
    }, { maxTokens: 77, seed: 99 });
    const r = toWebLlmChatRequest(job, LLAMA);
    expect(r).toEqual({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hello, world', name: 'ann' },
        { role: 'assistant', content: 'Hi!', name: 'bot' },
        { role: 'user', content: 'Again' },
      ],
      stream: true, stream_options: { include_usage: true }, n: 1,
      temperature: 0.7, top_p: 0.9, frequency_penalty: 0.1, presence_penalty: -0.2, repetition_penalty: 1,
      max_tokens: 77, stop: null, seed: 99, logprobs: false, ignore_eos: false,
    });
    webLlmAcceptsChat(r, LLAMA);
  });

  it('derives choice seeds as the ONNX backend does (choice 0 = the request seed)', () => {
    expect(toWebLlmChatRequest(chatJob({}, { seed: 7 }), LLAMA, 0).seed).toBe(7);
    expect(toWebLlmChatRequest(chatJob({}, { seed: 7 }), LLAMA, 2).seed).toBe(choiceSeed(7, 2));
    expect(choiceSeed(7, 2)).toBe((7 + 2 * 0x9e3779b1) >>> 0);
    expect(choiceSeed(0xffffffff, 1)).toBeLessThan(2 ** 32);
  });

  it('logit_bias is passed as web-llm\'s {"id": bias}; web-llm accepts it; ids past a known vocabulary are refused', () => {
    const logitBias = [[5, -100], [17, 2.5], [300, 100]] as const;
    const chat = toWebLlmChatRequest(chatJob({}, {}, { logitBias }), LLAMA);
    expect(chat.logit_bias).toEqual({ 5: -100, 17: 2.5, 300: 100 });
    webLlmAcceptsChat(chat, LLAMA);
    const completion = toWebLlmCompletionRequest(completionJob({}, {}, { logitBias }), { ...LLAMA, vocabSize: 301 });
    expect(completion.logit_bias).toEqual({ 5: -100, 17: 2.5, 300: 100 });
    webLlmAcceptsCompletion(completion);
    expect('logit_bias' in toWebLlmChatRequest(chatJob(), LLAMA)).toBe(false); // nothing sent when none is given
    const e = caught(() => toWebLlmChatRequest(chatJob({}, {}, { logitBias }), { ...LLAMA, vocabSize: 300 }));
    expect([e.status, e.param]).toEqual([400, 'logit_bias']);
    expect(e.message).toContain('300');
  });

  it('greedy spellings web-llm lacks (top_k 1, top_p 0) become temperature 0', () => {
    for (const s of [{ topK: 1 }, { topP: 0 }]) {
      const r = toWebLlmChatRequest(chatJob({}, {}, s), LLAMA);
      expect([r.temperature, r.top_p]).toEqual([0, 1]);
      webLlmAcceptsChat(r, LLAMA);
    }
  });

  it('JSON mode: the normalised schema as the JSON string web-llm needs; without a schema, any JSON object', () => {
    const schema = { type: 'object', properties: { a: { type: 'integer', minimum: 1 } }, required: ['a', 'b'] };
    const r = toWebLlmChatRequest(chatJob({}, { responseFormat: { type: 'json_object', schema } }), LLAMA);
    expect(typeof r.response_format?.schema).toBe('string');
    expect(r.response_format).toEqual({ type: 'json_object', schema: JSON.stringify(normalizeSchema(schema, 'response_format.schema').schema) });
    webLlmAcceptsChat(r, LLAMA);
    const any = toWebLlmChatRequest(chatJob({}, { responseFormat: { type: 'json_object' } }), LLAMA);
    expect(any.response_format).toEqual({ type: 'grammar', grammar: JSON_OBJECT_GRAMMAR });
    webLlmAcceptsChat(any, LLAMA);
    const bad = caught(() => toWebLlmChatRequest(chatJob({}, { responseFormat: { type: 'json_object', schema: { type: 'object', required: 'a' } } }), LLAMA));
    expect([bad.status, bad.param]).toEqual([400, 'response_format.schema']);
  });

  it('a grammar (response_format type "grammar") goes to web-llm as its own grammar format', () => {
    const grammar = 'root ::= "yes" | "no"';
    const r = toWebLlmChatRequest(chatJob({}, { responseFormat: { type: 'grammar', grammar } }), LLAMA);
    expect(r.response_format).toEqual({ type: 'grammar', grammar });
    webLlmAcceptsChat(r, LLAMA);
  });

  it('xgrammar 0.1.27 (web-llm\'s too) rejects web-llm\'s schema-less json_object and compiles what we send instead', async () => {
    const xg = await loadXGrammar();
    const info = await xg.TokenizerInfo.createTokenizerInfo(['{', '}', '"', 'a', ':', '1', ' ', '</s>'], 'raw', false, 8, [7]);
    const compiler = await xg.GrammarCompiler.createGrammarCompiler(info);
    // What web-llm 0.2.86 does with {type: "json_object"} and no schema: compileJSONSchema(undefined).
    await expect(compiler.compileJSONSchema(undefined as unknown as string)).rejects.toBeDefined();
    (await compiler.compileGrammar(JSON_OBJECT_GRAMMAR)).dispose();
    const schema = toWebLlmChatRequest(chatJob({}, { responseFormat: { type: 'json_object', schema: { type: 'object', properties: { a: { type: 'integer' } } } } }), LLAMA).response_format?.schema;
    (await compiler.compileJSONSchema(schema!)).dispose();
    compiler.dispose();
    info.dispose();
  });

  it('tools on a Hermes model: sent as is, tool_choice left out; web-llm then adds its Hermes prompt and schema', () => {
    const r = toWebLlmChatRequest(chatJob({ tools: [WEATHER], messages: [user('Weather in Paris?')] }), HERMES);
    expect(r.tools).toEqual([WEATHER]);
    expect(r).not.toHaveProperty('tool_choice');
    expect(r).not.toHaveProperty('response_format');
    const checked = webLlmAcceptsChat(r, HERMES);
    expect(checked.messages[0].role).toBe('system');
    expect(checked.response_format?.type).toBe('json_object');
    // The prompt bound's allowance for web-llm's Hermes system prompt holds.
    const system = String(checked.messages[0].content);
    expect(new TextEncoder().encode(system).length - new TextEncoder().encode(JSON.stringify([WEATHER])).length).toBeLessThan(HERMES_PROMPT_TOKENS);
  });

  it('tool_choice "none": the tools are not shown at all (so any model runs it)', () => {
    const r = toWebLlmChatRequest(chatJob({ tools: [WEATHER], toolChoice: 'none' }), LLAMA);
    expect(r).not.toHaveProperty('tools');
    webLlmAcceptsChat(r, LLAMA);
  });

  it('earlier tool calls go in as the Hermes JSON list web-llm\'s history holds; tool results as tool messages', () => {
    const r = toWebLlmChatRequest(chatJob({
      tools: [WEATHER],
      messages: [
        user('Weather in Paris?'),
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', content: '18°C', tool_call_id: 'call_1' },
      ],
    }), HERMES);
    expect(r.messages[1]).toEqual({ role: 'assistant', content: '[{"arguments":{"city":"Paris"},"name":"get_weather"}]' });
    expect(r.messages[2]).toEqual({ role: 'tool', content: '18°C', tool_call_id: 'call_1' });
    webLlmAcceptsChat(r, HERMES);
  });

  it('images for vision builds: one joined text part where the first was, detail "auto" dropped', () => {
    const img = 'data:image/png;base64,iVBORw0KGgo=';
    const r = toWebLlmChatRequest(chatJob({
      messages: [user([
        { type: 'text', text: 'What is ' }, { type: 'image_url', image_url: { url: img, detail: 'auto' } },
        { type: 'text', text: 'this?' }, { type: 'image_url', image_url: { url: 'https://x.example/a.jpg' } },
      ])],
      promptTruncateLen: null,
    }), VISION);
    expect(r.messages[0]).toEqual({ role: 'user', content: [
      { type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: img } },
      { type: 'image_url', image_url: { url: 'https://x.example/a.jpg' } },
    ] });
    webLlmAcceptsChat(r, VISION);
  });

  it('prompt_truncate_len: nothing to evict or a provably short conversation is honoured', () => {
    const long = 'x'.repeat(5000);
    expect(() => toWebLlmChatRequest(chatJob({ messages: [{ role: 'system', content: long }, user(long)] }), LLAMA)).not.toThrow();
    const turns = [user('a'), { role: 'assistant' as const, content: 'b' }, user('c')];
    expect(() => toWebLlmChatRequest(chatJob({ messages: turns }), LLAMA)).not.toThrow();
    expect(() => toWebLlmChatRequest(chatJob({ messages: [user(long), { role: 'assistant', content: 'b' }, user('c')], promptTruncateLen: null }), LLAMA)).not.toThrow();
    expect(chatPromptTokenBound(chatJob({ messages: turns }), false)).toBeLessThan(1500);
  });

  it('with web-llm\'s tokenizer the prompt bound is tight: long conversations pass when they provably fit', () => {
    const turns = [user('word '.repeat(400)), { role: 'assistant' as const, content: 'ok' }, user('and?')];
    expect(() => toWebLlmChatRequest(chatJob({ messages: turns }), LLAMA)).toThrow(/prompt_truncate_len/);
    const counted: WebLlmTarget = { ...LLAMA, countTokens: (t) => t.split(/\s+/).filter(Boolean).length };
    expect(chatPromptTokenBound(chatJob({ messages: turns }), false, counted.countTokens)).toBe(32 + 128 + 3 * 8 + 400 + 1 + 1);
    expect(() => toWebLlmChatRequest(chatJob({ messages: turns }), counted)).not.toThrow();
    expect(() => toWebLlmChatRequest(chatJob({ messages: turns, promptTruncateLen: 500 }), counted)).toThrow(/prompt_truncate_len/);
    expect(() => toWebLlmChatRequest(chatJob({ messages: turns }, { contextLengthExceeded: 'error', maxTokens: 3000 }), counted)).not.toThrow();
  });

  it('context_length_exceeded_behavior "error" is honoured when the answer is certain', () => {
    expect(() => toWebLlmChatRequest(chatJob({}, { contextLengthExceeded: 'error', maxTokens: 1000 }), LLAMA)).not.toThrow();
    const e = caught(() => toWebLlmChatRequest(chatJob({}, { contextLengthExceeded: 'error', maxTokens: 4096 }), LLAMA));
    expect([e.status, e.param, e.code]).toEqual([400, 'max_tokens', 'context_length_exceeded']);
    // "truncate": any max_tokens, web-llm stops at its window with "length".
    expect(toWebLlmChatRequest(chatJob({}, { maxTokens: 100000 }), LLAMA).max_tokens).toBe(100000);
  });
});

describe('toWebLlmCompletionRequest', () => {
  it('streams text prompts with usage; echo is ours, never web-llm\'s', () => {
    const r = toWebLlmCompletionRequest(completionJob({}, { echo: true, stop: ['\n'] }), LLAMA);
    expect(r).toEqual({
      prompt: 'The sky is', echo: false, n: 1, temperature: 0.7, top_p: 0.9, frequency_penalty: 0.1, presence_penalty: -0.2,
      repetition_penalty: 1, max_tokens: 64, seed: 1234, ignore_eos: false,
      stream: true, stream_options: { include_usage: true }, stop: null, logprobs: false,
    });
    webLlmAcceptsCompletion(r);
  });

  it('logprobs (temperature 1): non-streamed, top_logprobs at least 1, web-llm cuts at the stop strings', () => {
    const r = toWebLlmCompletionRequest(completionJob({}, { logprobs: 0, stop: ['.'] }, { temperature: 1 }), LLAMA);
    expect(r).toMatchObject({ stream: false, logprobs: true, top_logprobs: 1, stop: ['.'] });
    expect(r).not.toHaveProperty('stream_options');
    webLlmAcceptsCompletion(r);
    expect(toWebLlmCompletionRequest(completionJob({}, { logprobs: 5 }, { temperature: 1 }), LLAMA)).toMatchObject({ top_logprobs: 5 });
  });

  it('seeds are prompt-major across several prompts', () => {
    const job = completionJob({ prompts: ['a', 'b'] }, { n: 3, seed: 5 });
    expect(toWebLlmCompletionRequest(job, LLAMA, 1, 2).seed).toBe(choiceSeed(5, 5));
    expect(toWebLlmCompletionRequest(job, LLAMA, 1, 2).prompt).toBe('b');
    const e = caught(() => toWebLlmCompletionRequest(completionJob({ prompts: [''] }), LLAMA));
    expect([e.status, e.param]).toEqual([400, 'prompt']);
  });
});

describe('refusals: each WEBLLM_UNSUPPORTED entry is a 400 unsupported_parameter naming the field', () => {
  const long = 'word '.repeat(400);
  const cases: { key: WebLlmUnsupportedKey; param: string; run: () => unknown }[] = [
    { key: 'top_k', param: 'top_k', run: () => toWebLlmChatRequest(chatJob({}, {}, { topK: 40 }), LLAMA) },
    { key: 'max_tokens_zero', param: 'max_tokens', run: () => toWebLlmCompletionRequest(completionJob({}, { maxTokens: 0 }), LLAMA) },
    { key: 'context_length_exceeded_behavior', param: 'context_length_exceeded_behavior',
      run: () => toWebLlmChatRequest(chatJob({ messages: [user(long.repeat(4))] }, { contextLengthExceeded: 'error', maxTokens: 3000 }), LLAMA) },
    { key: 'context_length_exceeded_behavior', param: 'context_length_exceeded_behavior',
      run: () => toWebLlmCompletionRequest(completionJob({ prompts: [long.repeat(4)] }, { contextLengthExceeded: 'error', maxTokens: 3000 }), LLAMA) },
    { key: 'prompt_truncate_len', param: 'prompt_truncate_len',
      run: () => toWebLlmChatRequest(chatJob({ messages: [user(long), { role: 'assistant', content: long }, user('and?')] }), LLAMA) },
    { key: 'prompt_truncate_len', param: 'prompt_truncate_len',
      run: () => toWebLlmChatRequest(chatJob({ messages: [user([{ type: 'image_url', image_url: { url: 'data:image/png;base64,AA' } }]), { role: 'assistant', content: 'a cat' }, user('sure?')] }), VISION) },
    { key: 'echo_logprobs', param: 'echo', run: () => toWebLlmCompletionRequest(completionJob({}, { echo: true, logprobs: 1 }, { temperature: 1 }), LLAMA) },
    { key: 'logprobs_temperature', param: 'logprobs', run: () => toWebLlmCompletionRequest(completionJob({}, { logprobs: 2 }), LLAMA) },
    { key: 'logprobs_temperature', param: 'logprobs', run: () => toWebLlmCompletionRequest(completionJob({}, { logprobs: 2 }, { temperature: 1, topK: 1 }), LLAMA) },
    { key: 'token_prompts', param: 'prompt', run: () => toWebLlmCompletionRequest(completionJob({ prompts: [[1, 2, 3]] }), LLAMA) },
    { key: 'token_prompts', param: 'prompt[1]', run: () => planWebLlmJob(completionJob({ prompts: ['a', [1, 2]] }), LLAMA) },
    { key: 'completion_images', param: 'images', run: () => toWebLlmCompletionRequest(completionJob({ images: ['data:image/png;base64,AA'] }), VISION) },
    { key: 'completion_response_format', param: 'response_format',
      run: () => toWebLlmCompletionRequest(completionJob({}, { responseFormat: { type: 'json_object' } }), LLAMA) },
    { key: 'images_not_vision', param: 'messages[0].content[1]',
      run: () => toWebLlmChatRequest(chatJob({ messages: [user([{ type: 'text', text: 'hi' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AA' } }])] }), LLAMA) },
    { key: 'image_detail', param: 'messages[0].content[0].image_url.detail',
      run: () => toWebLlmChatRequest(chatJob({ messages: [user([{ type: 'image_url', image_url: { url: 'data:image/png;base64,AA', detail: 'high' } }])] }), VISION) },
    { key: 'image_url', param: 'messages[0].content[0].image_url.url',
      run: () => toWebLlmChatRequest(chatJob({ messages: [user([{ type: 'image_url', image_url: { url: 'ftp://x/a.png' } }])] }), VISION) },
    { key: 'image_role', param: 'messages[0].content[0]',
      run: () => toWebLlmChatRequest(chatJob({ messages: [{ role: 'system', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,AA' } }] }, user('hi')] }), VISION) },
    { key: 'system_not_first', param: 'messages[1].role',
      run: () => toWebLlmChatRequest(chatJob({ messages: [user('a'), { role: 'system', content: 'b' }, user('c')] }), LLAMA) },
    { key: 'last_message_role', param: 'messages[1].role',
      run: () => toWebLlmChatRequest(chatJob({ messages: [user('a'), { role: 'assistant', content: 'The answer is' }] }), LLAMA) },
    { key: 'message_name', param: 'messages[2].name',
      run: () => toWebLlmChatRequest(chatJob({ messages: [user('a'), { role: 'assistant', content: 'b' }, { role: 'tool', content: 'c', name: 'x' }] }), LLAMA) },
    { key: 'assistant_text_and_tool_calls', param: 'messages[1].content',
      run: () => toWebLlmChatRequest(chatJob({ tools: [WEATHER], messages: [user('a'), { role: 'assistant', content: 'Let me look.', tool_calls: [{ id: 'c', type: 'function', function: { name: 'get_weather', arguments: '{}' } }] }, { role: 'tool', content: 'x' }] }), HERMES) },
    { key: 'tools_model', param: 'tools', run: () => toWebLlmChatRequest(chatJob({ tools: [WEATHER] }), LLAMA) },
    { key: 'tools_system', param: 'messages[0].role',
      run: () => toWebLlmChatRequest(chatJob({ tools: [WEATHER], messages: [{ role: 'system', content: 's' }, user('a')] }), HERMES) },
    { key: 'tools_response_format', param: 'response_format',
      run: () => toWebLlmChatRequest(chatJob({ tools: [WEATHER] }, { responseFormat: { type: 'json_object' } }), HERMES) },
    { key: 'chat_logprobs', param: 'logprobs', run: () => toWebLlmChatRequest(chatJob({}, { logprobs: 1 }), LLAMA) },
    { key: 'return_token_ids', param: 'return_token_ids', run: () => toWebLlmChatRequest(chatJob({}, { returnTokenIds: true }), LLAMA) },
    { key: 'return_token_ids', param: 'return_token_ids', run: () => toWebLlmCompletionRequest(completionJob({}, { returnTokenIds: true }), LLAMA) },
    { key: 'raw_output', param: 'raw_output', run: () => toWebLlmCompletionRequest(completionJob({}, { rawOutput: true }), LLAMA) },
    { key: 'echo_last', param: 'echo_last', run: () => toWebLlmCompletionRequest(completionJob({}, { echo: true, echoLast: 2 }), LLAMA) },
    { key: 'min_p', param: 'min_p', run: () => toWebLlmChatRequest(chatJob({}, {}, { minP: 0.05 }), LLAMA) },
    { key: 'typical_p', param: 'typical_p', run: () => toWebLlmCompletionRequest(completionJob({}, {}, { typicalP: 0.9 }), LLAMA) },
    { key: 'mirostat', param: 'mirostat_target', run: () => toWebLlmChatRequest(chatJob({}, {}, { mirostat: { target: 5, lr: 0.1 } }), LLAMA) },
    { key: 'repetition_penalty', param: 'repetition_penalty', run: () => toWebLlmChatRequest(chatJob({}, {}, { repetitionPenalty: 1.2 }), LLAMA) },
    { key: 'ignore_eos', param: 'ignore_eos', run: () => toWebLlmCompletionRequest(completionJob({}, {}, { ignoreEos: true }), LLAMA) },
    { key: 'tool_choice', param: 'tool_choice', run: () => toWebLlmChatRequest(chatJob({ tools: [WEATHER], toolChoice: 'required' }), HERMES) },
    { key: 'tool_choice', param: 'tool_choice',
      run: () => toWebLlmChatRequest(chatJob({ tools: [WEATHER], toolChoice: { type: 'function', function: { name: 'get_weather' } } }), HERMES) },
  ];

  it.each(cases.map((c) => [`${c.key} (${c.param})`, c] as const))('%s', (_, c) => {
    const e = caught(c.run);
    expect([e.status, e.type, e.param, e.code]).toEqual([400, 'invalid_request_error', c.param, 'unsupported_parameter']);
    expect(e.message).toContain(WEBLLM_UNSUPPORTED[c.key].reason);
    expect(e.message).toContain(`"${WEBLLM_UNSUPPORTED[c.key].field}"`);
  });

  it('covers every entry of the list', () => {
    expect(new Set(cases.map((c) => c.key))).toEqual(new Set(Object.keys(WEBLLM_UNSUPPORTED)));
  });

  it('what web-llm would refuse (or silently mishandle) is caught first: the same requests sent unmapped fail in web-llm', () => {
    // Our refusals mirror web-llm's own errors for these (the ones web-llm itself detects).
    const base: ChatCompletionRequest = { messages: [{ role: 'user', content: 'a' }] };
    expect((thrownBy(() => webLlmAcceptsChat({ ...base, tools: [WEATHER as webllm.ChatCompletionTool] }, LLAMA)) as Error).name).toBe('UnsupportedModelIdError');
    expect((thrownBy(() => webLlmAcceptsChat({ messages: [{ role: 'system', content: 's' }, { role: 'user', content: 'a' }], tools: [WEATHER as webllm.ChatCompletionTool] }, HERMES)) as Error).name)
      .toBe('CustomSystemPromptError');
    expect((thrownBy(() => webLlmAcceptsChat({ messages: [{ role: 'user', content: 'a' }, { role: 'system', content: 's' }, { role: 'user', content: 'b' }] }, LLAMA)) as Error).name)
      .toBe('SystemMessageOrderError');
    expect((thrownBy(() => webLlmAcceptsChat({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x', detail: 'high' } }] }] }, VISION)) as Error).name)
      .toBe('UnsupportedDetailError');
  });

  it('chat-only jobs never carry completions fields', () => {
    expect(caught(() => toWebLlmChatRequest(chatJob({}, { logprobs: 1 }), LLAMA)).param).toBe('logprobs');
    expect(caught(() => toWebLlmChatRequest(chatJob({}, { echo: true }), LLAMA)).param).toBe('echo');
  });
});

describe('planWebLlmJob', () => {
  it('one web-llm request per choice, prompt-major, each prompt counted once', () => {
    const plan = planWebLlmJob(completionJob({ prompts: ['a', 'b'] }, { n: 2, seed: 10, echo: true, stop: ['x'] }), LLAMA);
    expect(plan.runs.map((r) => [r.choice, r.prompt, r.countsPrompt, r.echo, r.request.api, r.request.body.seed])).toEqual([
      [0, 0, true, 'a', 'completion-stream', choiceSeed(10, 0)],
      [1, 0, false, 'a', 'completion-stream', choiceSeed(10, 1)],
      [2, 1, true, 'b', 'completion-stream', choiceSeed(10, 2)],
      [3, 1, false, 'b', 'completion-stream', choiceSeed(10, 3)],
    ]);
    expect(plan).toMatchObject({ kind: 'completion', model: 'test/llama', toolMode: false, stop: ['x'], logprobs: null });
    const chat = planWebLlmJob(chatJob({ tools: [WEATHER] }, { n: 3 }), HERMES);
    expect(chat.runs.map((r) => r.request.api)).toEqual(['chat', 'chat', 'chat']);
    expect(chat.toolMode).toBe(true);
    expect(planWebLlmJob(completionJob({}, { logprobs: 3 }, { temperature: 1 }), LLAMA).runs[0].request.api).toBe('completion-whole');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Chunks, shaped as web-llm 0.2.86's engine makes them (makeStreamDeltaChunk / makeStreamFinalChunk / makeStreamUsageChunk)

const usage = (prompt: number, completion: number) => ({
  prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion,
  extra: { e2e_latency_s: 1, prefill_tokens_per_s: 100, decode_tokens_per_s: 20, time_to_first_token_s: 0.1, time_per_output_token_s: 0.05 },
});
const chatChunk = (choices: ChatCompletionChunk['choices'], extra: Partial<ChatCompletionChunk> = {}): ChatCompletionChunk =>
  ({ id: 'x', choices, model: LLAMA.mlcModelId, object: 'chat.completion.chunk', created: 1, ...extra });
const delta = (content: string) => chatChunk([{ delta: { content, role: 'assistant' }, finish_reason: null, index: 0, logprobs: null }]);
const final = (reason: 'stop' | 'length' | 'abort' | 'tool_calls', d: ChatCompletionChunk.Choice.Delta = {}) =>
  chatChunk([{ delta: d, finish_reason: reason, index: 0 }]);
const usageChunk = (p: number, c: number) => chatChunk([], { usage: usage(p, c) });
const textChunk = (text: string, finish: Completion['choices'][0]['finish_reason'] = null, u?: [number, number]): Completion => ({
  id: 'y', choices: u ? [] : [{ text, finish_reason: finish, index: 0, logprobs: null }], model: LLAMA.mlcModelId,
  object: 'text_completion', created: 1, ...(u && { usage: usage(...u) }),
});

/** Folds whole runs: their chunks in order, then endRun, then done. */
function fold(plan: WebLlmPlan, chunks: (ChatCompletionChunk | Completion)[][], ids = ['call_a', 'call_b']) {
  let n = 0;
  const f = new WebLlmFold(plan, () => ids[n++]);
  const events: LlmEvent[] = [];
  const interrupts: number[] = [];
  plan.runs.forEach((run: WebLlmRun, r) => {
    chunks[r].forEach((chunk, i) => {
      const step = f.fromWebLlmChunk(run, chunk);
      events.push(...step.events);
      if (step.interrupt) interrupts.push(i);
    });
    events.push(...f.endRun(run));
  });
  events.push(...f.done());
  return { events, interrupts };
}

describe('WebLlmFold: web-llm chunks → LlmEvents', () => {
  it('a streamed chat answer: start (after web-llm\'s first chunk), deltas, finish with usage, done', () => {
    const { events } = fold(planWebLlmJob(chatJob(), LLAMA), [[delta('Hel'), delta('lo'), delta(''), delta(' world'), final('stop'), usageChunk(12, 4)]]);
    expect(events).toEqual([
      { type: 'start', promptTokens: [], backend: 'web-llm', model: 'test/llama' },
      { type: 'delta', choice: 0, text: 'Hel' },
      { type: 'delta', choice: 0, text: 'lo' },
      { type: 'delta', choice: 0, text: ' world' },
      { type: 'finish', choice: 0, reason: 'stop', completionTokens: 4 },
      { type: 'done', promptTokens: 12, completionTokens: 4 },
    ]);
  });

  it('stop strings across chunks: nothing of the stop string leaks, web-llm is interrupted, its "abort" becomes "stop"', () => {
    const plan = planWebLlmJob(chatJob({}, { stop: ['END'] }), LLAMA);
    const { events, interrupts } = fold(plan, [[delta('abc E'), delta('ND more'), final('abort'), usageChunk(5, 3)]]);
    expect(interrupts).toEqual([1]);
    expect(events.filter((e) => e.type === 'delta')).toEqual([{ type: 'delta', choice: 0, text: 'abc ' }]);
    expect(events.find((e) => e.type === 'finish')).toEqual({ type: 'finish', choice: 0, reason: 'stop', completionTokens: 3 });
  });

  it('text held back as a possible stop string is released when web-llm finishes', () => {
    const plan = planWebLlmJob(chatJob({}, { stop: ['xyz'] }), LLAMA);
    const { events } = fold(plan, [[delta('hello x'), final('length'), usageChunk(5, 2)]]);
    expect(events.slice(1, 4)).toEqual([
      { type: 'delta', choice: 0, text: 'hello ' },
      { type: 'delta', choice: 0, text: 'x' },
      { type: 'finish', choice: 0, reason: 'length', completionTokens: 2 },
    ]);
  });

  it('tool calls: web-llm\'s raw JSON is never text; its parsed calls become one delta with ids', () => {
    const plan = planWebLlmJob(chatJob({ tools: [WEATHER] }), HERMES);
    const calls = [
      { index: 0, function: { name: 'get_weather', arguments: '{"city":"Paris"}' }, type: 'function' as const },
      { index: 1, function: { name: 'get_weather', arguments: '{"city":"Rome"}' }, type: 'function' as const },
    ];
    const { events } = fold(plan, [[
      delta('[{"arguments": {"city": "Pa'), delta('ris"}, "name": "get_weather"}, '), delta('{"arguments": {"city": "Rome"}, "name": "get_weather"}]'),
      final('tool_calls', { role: 'assistant', tool_calls: calls }), usageChunk(300, 30),
    ]]);
    expect(events).toEqual([
      { type: 'start', promptTokens: [], backend: 'web-llm', model: 'test/llama' },
      { type: 'delta', choice: 0, toolCalls: [
        { index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
        { index: 1, id: 'call_b', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } },
      ] },
      { type: 'finish', choice: 0, reason: 'tool_calls', completionTokens: 30 },
      { type: 'done', promptTokens: 300, completionTokens: 30 },
    ]);
  });

  it('tool mode: an empty list of calls is a plain stop, a cut-off call is "length" without text', () => {
    const plan = planWebLlmJob(chatJob({ tools: [WEATHER] }), HERMES);
    const empty = fold(plan, [[delta('[]'), final('tool_calls', { role: 'assistant', tool_calls: [] }), usageChunk(9, 2)]]).events;
    expect(empty.filter((e) => e.type === 'delta')).toEqual([]);
    expect(empty.find((e) => e.type === 'finish')).toMatchObject({ reason: 'stop' });
    const cut = fold(plan, [[delta('[{"argu'), final('length', { role: 'assistant' }), usageChunk(9, 64)]]).events;
    expect(cut.filter((e) => e.type === 'delta')).toEqual([]);
    expect(cut.find((e) => e.type === 'finish')).toMatchObject({ reason: 'length', completionTokens: 64 });
  });

  it('several choices: each finishes with its own usage; prompts count once per prompt; echo goes first', () => {
    const plan = planWebLlmJob(completionJob({ prompts: ['A', 'B'] }, { n: 2, echo: true }), LLAMA);
    const run = (t: string, p: number, c: number) => [textChunk(t), textChunk('', 'stop'), textChunk('', null, [p, c])];
    const { events } = fold(plan, [run(' x', 3, 1), run(' y', 3, 2), run(' z', 4, 1), run(' w', 4, 5)]);
    expect(events.filter((e) => e.type === 'start')).toHaveLength(1);
    expect(events.filter((e) => e.type === 'delta').map((e) => e.type === 'delta' && [e.choice, e.text]))
      .toEqual([[0, 'A'], [0, ' x'], [1, 'A'], [1, ' y'], [2, 'B'], [2, ' z'], [3, 'B'], [3, ' w']]);
    expect(events.filter((e) => e.type === 'finish').map((e) => e.type === 'finish' && [e.choice, e.completionTokens]))
      .toEqual([[0, 1], [1, 2], [2, 1], [3, 5]]);
    expect(events.at(-1)).toEqual({ type: 'done', promptTokens: 7, completionTokens: 9 });
  });

  it('a non-streamed completion with logprobs: alternatives cut to what was asked, offsets after the echo', () => {
    const plan = planWebLlmJob(completionJob({}, { logprobs: 1, stop: ['!'] }, { temperature: 1 }), LLAMA);
    const f = new WebLlmFold(plan);
    const lp = (token: string, logprob: number) => ({ token, bytes: null, logprob, top_logprobs: [{ token, bytes: null, logprob }, { token: '?', bytes: null, logprob: -9 }] });
    const events = f.fromWebLlmCompletion(plan.runs[0], {
      id: 'z', object: 'text_completion', created: 1, model: LLAMA.mlcModelId, usage: usage(4, 2),
      choices: [{ text: ' blue', finish_reason: 'stop', index: 0, logprobs: { content: [lp(' bl', -0.5), lp('ue', -0.1)] } }],
    });
    expect(events).toEqual([
      { type: 'start', promptTokens: [], backend: 'web-llm', model: 'test/llama' },
      { type: 'delta', choice: 0, text: ' blue', logprobs: [
        { token: ' bl', logprob: -0.5, textOffset: 0, top: [{ token: ' bl', logprob: -0.5 }] },
        { token: 'ue', logprob: -0.1, textOffset: 3, top: [{ token: 'ue', logprob: -0.1 }] },
      ] },
      { type: 'finish', choice: 0, reason: 'stop', completionTokens: 2 },
    ]);
    expect(f.done()).toEqual([{ type: 'done', promptTokens: 4, completionTokens: 2 }]);
  });

  it('an "abort" we did not ask for is a 503, a stream without its usage chunk a 500', () => {
    const plan = planWebLlmJob(chatJob(), LLAMA);
    const e = caught(() => fold(plan, [[delta('a'), final('abort'), usageChunk(1, 1)]]));
    expect([e.status, e.code]).toEqual([503, 'generation_interrupted']);
    const missing = caught(() => fold(plan, [[delta('a'), final('stop')]]));
    expect([missing.status, missing.code]).toEqual([500, 'engine_error']);
    expect(caught(() => fold(plan, [[delta('a')]])).message).toContain('before it finished');
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('fromWebLlmError', () => {
  const named = (name: string, message: string) => Object.assign(new Error(message), { name });
  const shape = (e: HearthError) => [e.status, e.type, e.param, e.code];

  it('maps real web-llm errors thrown by the package\'s own request checks', () => {
    const chat = (r: ChatCompletionRequest, t = LLAMA) => fromWebLlmError(thrownBy(() => webLlmAcceptsChat(r, t)), { kind: 'chat' });
    const msg = [{ role: 'user' as const, content: 'a' }];
    expect(shape(chat({ messages: msg, stream: true, n: 2 }))).toEqual([400, 'invalid_request_error', 'n', 'unsupported_parameter']);
    expect(shape(chat({ messages: msg, seed: 1.5 }))).toEqual([400, 'invalid_request_error', 'seed', 'invalid_value']);
    expect(shape(chat({ messages: msg, response_format: { type: 'text', schema: '{}' } }))).toEqual([400, 'invalid_request_error', 'response_format', 'invalid_value']);
    expect(shape(chat({ messages: msg, tools: [WEATHER as webllm.ChatCompletionTool] }))).toEqual([400, 'invalid_request_error', 'tools', 'unsupported_parameter']);
    expect(shape(chat({ messages: [{ role: 'system', content: 's' }, ...msg], tools: [WEATHER as webllm.ChatCompletionTool] }, HERMES)))
      .toEqual([400, 'invalid_request_error', 'messages', 'unsupported_parameter']);
    expect(shape(chat({ messages: [...msg, { role: 'assistant', content: 'b' }] }))).toEqual([400, 'invalid_request_error', 'messages', 'unsupported_parameter']);
    expect(shape(chat({ messages: [{ role: 'user', content: [{ type: 'text', text: 'a' }] }] }))).toEqual([400, 'invalid_request_error', 'messages', 'unsupported_parameter']);
    expect(shape(chat({ messages: [{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }] }, VISION)))
      .toEqual([400, 'invalid_request_error', 'messages', 'unsupported_parameter']);
    expect(shape(chat({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'ftp://a' } }] }] }, VISION)))
      .toEqual([400, 'invalid_request_error', 'messages', 'unsupported_parameter']);
    const unsupported = fromWebLlmError(thrownBy(() => webllm.postInitAndCheckFieldsCompletion({ prompt: 'a', suffix: 'b' }, 'm')));
    expect(shape(unsupported)).toEqual([400, 'invalid_request_error', 'suffix', 'unsupported_parameter']);
    // Our misuse of web-llm's API is our bug: a 500.
    expect(shape(chat({ messages: msg, stream_options: { include_usage: true } }))).toEqual([500, 'internal_server_error', null, 'engine_error']);
  });

  it('maps the package\'s exported IntegrityError (a corrupt download)', () => {
    expect(shape(fromWebLlmError(new webllm.IntegrityError('https://a/x.bin', 'sha256-a', 'sha256-b'))))
      .toEqual([503, 'service_unavailable', null, 'download_failed']);
  });

  it.each([
    ['ContextWindowSizeExceededError', 'Prompt tokens exceed context window size: number of prompt tokens: 5000; context window size: 4096', 400, 'messages', 'context_length_exceeded'],
    ['WebGPUNotAvailableError', 'WebGPU is not supported in your current environment', 503, null, 'webgpu_unavailable'],
    ['WebGPUNotFoundError', 'Cannot find WebGPU in the environment', 503, null, 'webgpu_unavailable'],
    ['ShaderF16SupportError', 'This model requires WebGPU extension shader-f16', 503, null, 'shader_f16_unsupported'],
    ['FeatureSupportError', 'This model requires feature subgroups', 503, null, 'gpu_feature_unsupported'],
    ['DeviceLostError', 'The WebGPU device was lost while loading the model.', 503, null, 'device_lost'],
    ['ModelNotLoadedError', 'Model not loaded before trying to complete ChatCompletionRequest.', 503, null, 'model_not_loaded'],
    ['ModelNotFoundError', 'Cannot find model record in appConfig for X.', 404, 'model', 'model_not_found'],
    ['MissingModelError', 'Missing `model_lib` for the model with ID "X".', 500, null, 'model_config_error'],
    ['InvalidResponseFormatError', 'JSON schema is only supported with `json_object` response format.', 400, 'response_format', 'invalid_value'],
    ['GrammarMatcherInitError', 'Failed to initialize the grammar matcher for response format `json_object`: bad', 400, 'response_format.schema', 'invalid_schema'],
    ['CustomResponseFormatError', 'cannot specify customized response_format', 400, 'response_format', 'unsupported_parameter'],
    ['UnsupportedFieldsError', 'The following fields in ChatCompletionRequest are not yet supported: \nfoo, bar', 400, 'foo', 'unsupported_parameter'],
    ['MinValueError', 'Make sure `max_tokens` > 0.', 400, 'max_tokens', 'invalid_value'],
    ['RangeError', 'Make sure 0 < top_p <= 1.', 400, 'top_p', 'invalid_value'],
    ['RangeError', 'Make sure -2 < frequency_penalty <= 2.', 400, 'frequency_penalty', 'invalid_value'],
    ['NonNegativeError', 'Make sure temperature >= 0.', 400, 'temperature', 'invalid_value'],
    ['DependencyError', 'top_logprobs requires logprobs to be true.', 400, 'top_logprobs', 'invalid_value'],
    ['JSONFieldError', 'Expect generated tool call to have fields "`name`", "`arguments`"', 500, null, 'tool_call_parse_error'],
    ['ToolCallOutputParseError', 'Internal error: error encountered when parsing outputMessage', 500, null, 'tool_call_parse_error'],
    ['QuotaExceededError', 'The quota has been exceeded.', 507, null, 'storage_quota_exceeded'],
    ['TypeError', 'Failed to fetch', 503, null, 'download_failed'],
    ['TypeError', "Failed to execute 'add' on 'Cache': Request failed", 503, null, 'download_failed'],
    ['Error', 'Cannot fetch https://huggingface.co/mlc-ai/x/resolve/main/params_shard_0.bin', 503, null, 'download_failed'],
    ['Error', 'ArtifactOPFSCache: Unable to fetch https://a/b, received status 404', 503, null, 'download_failed'],
    ['RangeError', 'Invalid array length', 500, null, 'engine_error'], // the built-in RangeError is not web-llm's
    ['TextCompletionExpectsKVEmptyError', 'Non-chat text completion API expects KVCache to be empty.', 500, null, 'engine_error'],
    ['Error', 'something else', 500, null, 'engine_error'],
  ] as const)('%s: %s', (name, message, status, param, code) => {
    const e = fromWebLlmError(named(name, message));
    expect([e.status, e.param, e.code]).toEqual([status, param, code]);
    expect(e.message).toContain(message);
  });

  it('names the prompt for completions, passes HearthErrors through, survives odd throws', () => {
    expect(fromWebLlmError(named('ContextWindowSizeExceededError', 'too long'), { kind: 'completion' }).param).toBe('prompt');
    const own = new HearthError({ status: 418, type: 'invalid_request_error', message: 'x' });
    expect(fromWebLlmError(own)).toBe(own);
    expect(shape(fromWebLlmError('boom'))).toEqual([500, 'internal_server_error', null, 'engine_error']);
    expect(fromWebLlmError(new DOMException('The quota has been exceeded.', 'QuotaExceededError')).code).toBe('storage_quota_exceeded');
  });

  it('every mapped name is one of web-llm 0.2.86\'s error names', () => {
    const lib = readFileSync('node_modules/@mlc-ai/web-llm/lib/index.js', 'utf8');
    const dts = readFileSync('node_modules/@mlc-ai/web-llm/lib/error.d.ts', 'utf8');
    const names = new Set([...lib.matchAll(/this\.name = "(\w+)";/g)].map((m) => m[1]));
    for (const m of dts.matchAll(/export declare class (\w+) extends/g)) names.add(m[1]);
    for (const name of Object.keys(WEBLLM_ERRORS)) expect(names, name).toContain(name);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The backend on a fake engine (web-llm itself needs WebGPU and downloaded model libraries)

interface FakeCalls {
  reload: [string, unknown][];
  requests: unknown[];
  resets: number;
  interrupts: number;
  closed: number;
  unloads: number;
}

/** A fake MLCEngine whose streams behave like web-llm's: chunks per token, "abort" + usage once interrupted. */
function fakeWebLlm(script: (request: unknown, index: number) => (ChatCompletionChunk | Completion)[] | Error, opts: { reloadError?: Error } = {}) {
  const calls: FakeCalls = { reload: [], requests: [], resets: 0, interrupts: 0, closed: 0, unloads: 0 };
  let config: webllm.MLCEngineConfig | undefined;
  let interrupted = false;
  const stream = async function* (request: unknown): AsyncGenerator<ChatCompletionChunk | Completion> {
    interrupted = false;
    const out = script(request, calls.requests.push(request) - 1);
    try {
      if (out instanceof Error) throw out;
      for (const chunk of out) {
        await new Promise((r) => setTimeout(r, 1));
        if (interrupted && chunk.choices.length && !chunk.choices[0].finish_reason) {
          yield chatChunk([{ delta: {}, finish_reason: 'abort', index: 0 }]);
          yield usageChunk(5, calls.requests.length);
          return;
        }
        yield chunk;
      }
    } finally {
      calls.closed++;
    }
  };
  const engine: WebLlmEngine = {
    reload: async (id, chatOpts) => {
      calls.reload.push([id, chatOpts]);
      if (opts.reloadError) throw opts.reloadError;
    },
    chat: async (r) => stream(r) as AsyncIterable<ChatCompletionChunk>,
    completeStreaming: async (r) => stream(r) as AsyncIterable<Completion>,
    complete: async () => { throw new Error('not scripted'); },
    interrupt: () => { calls.interrupts++; interrupted = true; },
    resetChat: async () => { calls.resets++; },
    unload: async () => { calls.unloads++; },
  };
  const module: WebLlmModule = {
    prebuiltAppConfig: webllm.prebuiltAppConfig,
    createEngine: (c) => { config = c; return engine; },
  };
  const gpu = () => ({ requestAdapter: async () => ({}) }) as unknown as GPU;
  return { calls, module, gpu, config: () => config };
}

async function readAll(stream: ReadableStream<LlmEvent>): Promise<LlmEvent[]> {
  const out: LlmEvent[] = [];
  const reader = stream.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return out;
    out.push(value);
  }
}

const variant = entry.llm!.variants[0];

describe('createWebLlmBackend', () => {
  it('load() in Node, where there is no WebGPU, fails at once with a clear 503 (and never imports web-llm)', async () => {
    let imported = false;
    const backend = createWebLlmBackend({ importWebLlm: async () => { imported = true; return importWebLlm(); } });
    const t0 = performance.now();
    const result = await Promise.race([
      backend.load(entry, variant).then(() => 'loaded', (e: unknown) => e),
      new Promise((r) => setTimeout(() => r('hung'), 5000)),
    ]);
    expect(result).toBeInstanceOf(HearthError);
    const e = result as HearthError;
    expect([e.status, e.type, e.code]).toEqual([503, 'service_unavailable', 'webgpu_unavailable']);
    expect(e.message).toMatch(/web-llm needs WebGPU/);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(imported).toBe(false);
    // The default backend, as the worker builds it, behaves the same.
    await expect(createWebLlmBackend().load(entry, variant)).rejects.toMatchObject({ status: 503, code: 'webgpu_unavailable' });
  });

  it('a GPU without an adapter is a 503 too; the real package imports lazily and its engine fails cleanly in Node', async () => {
    const noAdapter = createWebLlmBackend({ gpu: () => ({ requestAdapter: async () => null }) as unknown as GPU });
    await expect(noAdapter.load(entry, variant)).rejects.toMatchObject({ status: 503, code: 'webgpu_unavailable' });
    // Past our GPU check, real web-llm 0.2.86 in Node fails on its first browser global: an error, not a hang.
    const real = createWebLlmBackend({ gpu: () => ({ requestAdapter: async () => ({}) }) as unknown as GPU, baseUrl: 'http://localhost/' });
    await expect(real.load(entry, variant)).rejects.toBeInstanceOf(HearthError);
  });

  it('reaches web-llm\'s own tokenizer on a real MLCEngine (a private field of the pinned 0.2.86)', () => {
    const engine = new webllm.MLCEngine();
    expect(webLlmTokenCounter(engine, LLAMA.mlcModelId)).toBeUndefined(); // nothing loaded
    const pipelines = (engine as unknown as { loadedModelIdToPipeline: Map<string, unknown> }).loadedModelIdToPipeline;
    expect(pipelines).toBeInstanceOf(Map);
    pipelines.set(LLAMA.mlcModelId, { tokenizer: { encode: (t: string) => new Int32Array(t.length) } });
    expect(webLlmTokenCounter(engine, LLAMA.mlcModelId)?.('abc')).toBe(3);
    expect(readFileSync('node_modules/@mlc-ai/web-llm/lib/llm_chat.d.ts', 'utf8')).toMatch(/private tokenizer;/);
  });

  it('loads through web-llm\'s AppConfig with the fixed KV window, and reports load errors mapped', async () => {
    const progress: unknown[] = [];
    const fake = fakeWebLlm(() => []);
    const backend = createWebLlmBackend({ importWebLlm: async () => fake.module, gpu: fake.gpu, cacheBackend: 'opfs', onProgress: (p) => progress.push(p) });
    const model = await backend.load(entry, variant);
    expect(fake.calls.reload).toEqual([[LLAMA.mlcModelId, { context_window_size: 4096, sliding_window_size: -1 }]]);
    expect(fake.config()?.appConfig).toMatchObject({ cacheBackend: 'opfs', model_list: [{ model_id: LLAMA.mlcModelId }] });
    fake.config()?.initProgressCallback?.({ progress: 0.5, timeElapsed: 1, text: 'Fetching' });
    expect(progress).toEqual([{ progress: 0.5, timeElapsed: 1, text: 'Fetching', entry: 'test/llama', variant: 'q4f32_1' }]);
    expect(model.info).toMatchObject({ id: 'test/llama', backend: 'web-llm', variant: 'q4f32_1', device: 'webgpu' });
    await model.release();
    expect(fake.calls.unloads).toBe(1);

    const lost = fakeWebLlm(() => [], { reloadError: Object.assign(new Error('device lost'), { name: 'DeviceLostError' }) });
    const failing = createWebLlmBackend({ importWebLlm: async () => lost.module, gpu: lost.gpu });
    await expect(failing.load(entry, variant)).rejects.toMatchObject({ status: 503, code: 'device_lost' });
    expect(lost.calls.unloads).toBe(1);
  });

  it('generate: n choices as sequential web-llm requests with derived seeds, the chat reset before each', async () => {
    const fake = fakeWebLlm((_, i) => [delta(`choice ${i}`), delta('.'), final('stop'), usageChunk(10, 2 + i)]);
    const model = await createWebLlmBackend({ importWebLlm: async () => fake.module, gpu: fake.gpu }).load(entry, variant);
    const events = await readAll(model.generate(chatJob({}, { n: 2, seed: 3 })));
    expect(fake.calls.resets).toBe(2);
    expect(fake.calls.requests.map((r) => (r as { seed: number; n: number }).seed)).toEqual([choiceSeed(3, 0), choiceSeed(3, 1)]);
    expect(events).toEqual([
      { type: 'start', promptTokens: [], backend: 'web-llm', model: 'test/llama' },
      { type: 'delta', choice: 0, text: 'choice 0' }, { type: 'delta', choice: 0, text: '.' },
      { type: 'finish', choice: 0, reason: 'stop', completionTokens: 2 },
      { type: 'delta', choice: 1, text: 'choice 1' }, { type: 'delta', choice: 1, text: '.' },
      { type: 'finish', choice: 1, reason: 'stop', completionTokens: 3 },
      { type: 'done', promptTokens: 10, completionTokens: 5 },
    ]);
    expect(model.info.stats.generatedTokens).toBe(5);
  });

  it('the loaded model\'s tokenizer measures prompts (a long conversation that fits is not refused)', async () => {
    const fake = fakeWebLlm(() => [delta('ok'), final('stop'), usageChunk(500, 1)]);
    const module: WebLlmModule = { ...fake.module, createEngine: (c) => ({ ...fake.module.createEngine(c), tokenCounter: () => (t) => Math.ceil(t.length / 4) }) };
    const model = await createWebLlmBackend({ importWebLlm: async () => module, gpu: fake.gpu }).load(entry, variant);
    const turns = [user('word '.repeat(400)), { role: 'assistant' as const, content: 'ok' }, user('and?')];
    expect((await readAll(model.generate(chatJob({ messages: turns })))).at(-1)).toEqual({ type: 'done', promptTokens: 500, completionTokens: 1 });
  });

  it('a stop string interrupts web-llm; a refused request throws before web-llm sees it', async () => {
    const fake = fakeWebLlm(() => [delta('one '), delta('two STOP'), delta(' three'), delta(' four'), final('stop'), usageChunk(5, 9)]);
    const model = await createWebLlmBackend({ importWebLlm: async () => fake.module, gpu: fake.gpu }).load(entry, variant);
    const events = await readAll(model.generate(chatJob({}, { stop: ['STOP'] })));
    expect(fake.calls.interrupts).toBe(1);
    expect(events.filter((e) => e.type === 'delta').map((e) => e.type === 'delta' && e.text).join('')).toBe('one two ');
    expect(events.find((e) => e.type === 'finish')).toMatchObject({ reason: 'stop' });
    expect(() => model.generate(chatJob({}, {}, { topK: 3 }))).toThrow(HearthError);
    expect(fake.calls.requests).toHaveLength(1);
  });

  it('cancelling the stream interrupts web-llm and closes its generator (which releases web-llm\'s lock)', async () => {
    const fake = fakeWebLlm(() => [...Array.from({ length: 50 }, (_, i) => delta(`t${i} `)), final('length'), usageChunk(5, 50)]);
    const model = await createWebLlmBackend({ importWebLlm: async () => fake.module, gpu: fake.gpu }).load(entry, variant);
    const reader = model.generate(chatJob({}, { n: 3 })).getReader();
    expect((await reader.read()).value).toMatchObject({ type: 'start' });
    expect((await reader.read()).value).toMatchObject({ type: 'delta', text: 't0 ' });
    await reader.cancel();
    expect(fake.calls.interrupts).toBe(1);
    expect(fake.calls.closed).toBe(1);
    expect(fake.calls.requests).toHaveLength(1); // the other choices never start
  });

  it('web-llm errors before the first chunk become the HearthError the handler answers with (through LlmService)', async () => {
    const tooLong = Object.assign(new Error('Prompt tokens exceed context window size'), { name: 'ContextWindowSizeExceededError' });
    const fake = fakeWebLlm((_, i) => (i === 0 ? tooLong : [delta('fine'), final('stop'), usageChunk(1, 1)]));
    const service = new LlmService({
      ort: {} as ConstructorParameters<typeof LlmService>[0]['ort'],
      loadFiles: async () => { throw new Error('no ONNX here'); },
      devices: ['webgpu'],
      hasShaderF16: async () => false,
      webLlm: createWebLlmBackend({ importWebLlm: async () => fake.module, gpu: fake.gpu }),
    });
    const reader = (await service.run(chatJob())).getReader();
    await expect(reader.read()).rejects.toMatchObject({ status: 400, param: 'messages', code: 'context_length_exceeded' });
    // A 4xx leaves the model loaded; the queue moves on to the next job.
    const events = await readAll(await service.run(chatJob()));
    expect(events.map((e) => e.type)).toEqual(['start', 'delta', 'finish', 'done']);
    expect(fake.calls.reload).toHaveLength(1);
    expect((await service.loaded())[0]).toMatchObject({ backend: 'web-llm', variant: 'q4f32_1', stats: { requests: 2 } });
  });
});

/**
 * The client conformance cases: every everyday call of the AI SDK's Fireworks provider, the OpenAI SDK and
 * LangChain's OpenAI classes, made unchanged against a Hearth base URL. Each case returns what the client handed
 * back as plain data (so a page can return it to the test); tests/clients/checks.ts holds the assertions.
 * Run in Node by tests/unit/clients.test.ts (fetch routed to the API function) and in the page through the service
 * worker by tests/browser/clients.test.ts (bundled by tests/browser/setup.ts into dist/test-sdk/clients.js).
 */
import { createFireworks } from '@ai-sdk/fireworks';
import { ChatOpenAI, OpenAIEmbeddings } from '@langchain/openai';
import { APICallError, embedMany, generateImage, generateObject, generateText, jsonSchema, Output, stepCountIs, streamText, tool } from 'ai';
import OpenAI from 'openai';
import { encodeBase64 } from '../../src/util/base64';

export const CHAT_MODEL = 'hearth/tiny-llama';
/** The tiny Llama with a tool-calling chat template (hearth/tiny-llama has none). */
export const TOOLS_MODEL = 'hearth/tiny-llama-tools';
export const EMBED_MODEL = 'hearth/tiny-embed';
/** The id the AI SDK's Fireworks provider knows (it picks the URL form from it), aliased to the tiny SDXL. */
export const IMAGE_MODEL_PATH = 'accounts/fireworks/models/stable-diffusion-xl-1024-v1-0';
export const IMAGE_ALIASES: Record<string, string> = { [IMAGE_MODEL_PATH]: 'hearth/tiny-sdxl' };
export const MAX_TOKENS = 8;

/**
 * A structured-output schema the random-weight tiny model can satisfy in a few tokens: an enum, a boolean and a
 * length-capped string (xgrammar enforces all three).
 */
export const WEATHER_SCHEMA = {
  type: 'object',
  properties: {
    city: { type: 'string', enum: ['Paris', 'Rome', 'Oslo'] },
    sunny: { type: 'boolean' },
    note: { type: 'string', maxLength: 12 },
  },
  required: ['city', 'sunny', 'note'],
  additionalProperties: false,
} as const;

export const TOOL_NAME = 'get_weather';
export const TOOL_PARAMETERS = {
  type: 'object',
  properties: { city: { type: 'string', enum: ['Paris', 'Rome', 'Oslo'] } },
  required: ['city'],
  additionalProperties: false,
} as const;
/** What the tool "returns" in every round trip. */
export const TOOL_RESULT = { tempC: 21 };

export interface ClientEnv {
  /** e.g. `http://localhost/inference/v1` in Node, `${location.origin}/inference/v1` in the page. */
  baseURL: string;
  /** Node: a fetch routed to the API function; the page: unset (the real fetch, through the service worker). */
  fetch?: typeof fetch;
  /** Texts to embed (the fixture's, so vectors can be checked against the torch reference). */
  embedTexts: string[];
}

export interface Usage { input?: number; output?: number; total?: number }
interface ToolCallSeen { name: string; args: unknown }

const fireworks = (env: ClientEnv) => createFireworks({ baseURL: env.baseURL, apiKey: 'local', fetch: env.fetch });
const openai = (env: ClientEnv) => new OpenAI({ baseURL: env.baseURL, apiKey: 'local', maxRetries: 0, fetch: env.fetch, dangerouslyAllowBrowser: true });
/** Uncapped for tool calls and structured output: a call or an object cut short is none. */
const chatOpenAI = (env: ClientEnv, model: string, capped = true) =>
  new ChatOpenAI({ model, apiKey: 'local', maxRetries: 0, maxTokens: capped ? MAX_TOKENS : undefined, configuration: { baseURL: env.baseURL, fetch: env.fetch } });
const aiUsage = (u: { inputTokens?: number; outputTokens?: number; totalTokens?: number }): Usage =>
  ({ input: u.inputTokens, output: u.outputTokens, total: u.totalTokens });
/** The image provider's errors carry no message, only the response: put our status and body in the message. */
async function withResponseBody<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (e) {
    if (APICallError.isInstance(e) && !e.message) throw new Error(`${e.statusCode} ${e.responseBody}`, { cause: e });
    throw e;
  }
}

/** The env with a fetch that also keeps each request's JSON body. */
function recording(env: ClientEnv): { env: ClientEnv; bodies: unknown[] } {
  const bodies: unknown[] = [];
  const inner = env.fetch ?? globalThis.fetch.bind(globalThis);
  const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    if (typeof init?.body === 'string') bodies.push(JSON.parse(init.body));
    return inner(input, init);
  }) as typeof globalThis.fetch;
  return { env: { ...env, fetch }, bodies };
}
const weatherTool = (executed: unknown[]) => tool({
  description: 'The weather in a city',
  inputSchema: jsonSchema<{ city: string }>(TOOL_PARAMETERS),
  execute: async (input) => { executed.push(input); return TOOL_RESULT; },
});
const openaiTools = [{ type: 'function' as const, function: { name: TOOL_NAME, description: 'The weather in a city', parameters: TOOL_PARAMETERS } }];

export const clientCases = {
  // ---- Vercel AI SDK, @ai-sdk/fireworks ----
  'ai generateText': async (env: ClientEnv) => {
    const r = await generateText({ model: fireworks(env)(CHAT_MODEL), prompt: 'Say hi', maxOutputTokens: MAX_TOKENS });
    return { text: r.text, usage: aiUsage(r.usage), finishReason: r.finishReason };
  },
  'ai streamText with usage': async (env: ClientEnv) => {
    // streamText reports a failed request to onError and ends the stream: surface it as the case's error.
    let failure: unknown;
    const r = streamText({ model: fireworks(env)(CHAT_MODEL), prompt: 'Say hi', maxOutputTokens: MAX_TOKENS, onError: ({ error }) => { failure = error; } });
    const deltas: string[] = [];
    for await (const d of r.textStream) deltas.push(d);
    if (failure) throw failure;
    return { deltas, text: await r.text, usage: aiUsage(await r.usage), finishReason: await r.finishReason };
  },
  'ai generateText with Output.object': async (env: ClientEnv) => {
    const r = await generateText({
      model: fireworks(env)(CHAT_MODEL), prompt: 'The weather as JSON',
      output: Output.object({ schema: jsonSchema(WEATHER_SCHEMA) }),
    });
    return { output: r.output as unknown, text: r.text };
  },
  'ai generateObject': async (env: ClientEnv) => {
    const r = await generateObject({ model: fireworks(env)(CHAT_MODEL), prompt: 'The weather as JSON', schema: jsonSchema(WEATHER_SCHEMA) });
    return { object: r.object as unknown, usage: aiUsage(r.usage) };
  },
  'ai generateText with a tool round trip': async (env: ClientEnv) => {
    const executed: unknown[] = [];
    const sent = recording(env);
    const r = await generateText({
      // No token cap on the call: one cut short is none (xgrammar lets the noise model add whitespace inside it).
      model: fireworks(sent.env)(TOOLS_MODEL), prompt: 'What is the weather in Paris?',
      tools: { [TOOL_NAME]: weatherTool(executed) },
      stopWhen: stepCountIs(2),
      // The random-weight model calls the tool only when made to; the second step sends the result back and gets a
      // short text answer.
      prepareStep: ({ stepNumber }) => (stepNumber === 0
        ? { toolChoice: { type: 'tool', toolName: TOOL_NAME } }
        : { toolChoice: 'none', maxOutputTokens: MAX_TOKENS }),
    });
    return {
      executed,
      steps: r.steps.map((s) => ({
        toolCalls: s.toolCalls.map((c): ToolCallSeen => ({ name: c.toolName, args: c.input })),
        toolResults: s.toolResults.map((t) => t.output as unknown),
        text: s.text,
        finishReason: s.finishReason,
        usage: aiUsage(s.usage),
      })),
      // What the requests carried (the second one: the assistant's call and the tool's answer).
      requests: sent.bodies,
    };
  },
  'ai completion model': async (env: ClientEnv) => {
    const r = await generateText({ model: fireworks(env).completionModel(CHAT_MODEL), prompt: 'Once upon a time', maxOutputTokens: MAX_TOKENS });
    return { text: r.text, usage: aiUsage(r.usage), finishReason: r.finishReason };
  },
  'ai embedMany': async (env: ClientEnv) => {
    const r = await embedMany({ model: fireworks(env).textEmbeddingModel(EMBED_MODEL), values: env.embedTexts });
    return { embeddings: r.embeddings, tokens: r.usage.tokens };
  },
  'ai generateImage': async (env: ClientEnv) => {
    // The call as a user writes it: no size, so the aliased model's own default resolution.
    const r = await withResponseBody(generateImage({ model: fireworks(env).image(IMAGE_MODEL_PATH), prompt: 'a red fox in the snow', seed: 7 }));
    return { images: r.images.map((i) => ({ mediaType: i.mediaType, base64: encodeBase64(i.uint8Array) })) };
  },
  'ai generateImage with size': async (env: ClientEnv) => {
    // size '128x128' goes out as width "128", height "128" (numeric strings); provider options are spread into the body.
    const r = await withResponseBody(generateImage({
      model: fireworks(env).image(IMAGE_MODEL_PATH), prompt: 'a red fox', size: '128x128', seed: 7,
      providerOptions: { fireworks: { cfg_scale: 5 } },
    }));
    return { images: r.images.map((i) => ({ mediaType: i.mediaType, base64: encodeBase64(i.uint8Array) })) };
  },

  // ---- openai ----
  'openai chat': async (env: ClientEnv) => {
    const r = await openai(env).chat.completions.create({ model: CHAT_MODEL, messages: [{ role: 'user', content: 'Say hi' }], max_tokens: MAX_TOKENS });
    return { content: r.choices[0].message.content, finishReason: r.choices[0].finish_reason, usage: r.usage ?? null };
  },
  'openai chat stream with include_usage': async (env: ClientEnv) => {
    const stream = await openai(env).chat.completions.create({
      model: CHAT_MODEL, messages: [{ role: 'user', content: 'Say hi' }], max_tokens: MAX_TOKENS,
      stream: true, stream_options: { include_usage: true },
    });
    const chunks: { choices: number; content: string; finishReason: string | null; usage: OpenAI.CompletionUsage | null }[] = [];
    for await (const c of stream) {
      chunks.push({ choices: c.choices.length, content: c.choices[0]?.delta.content ?? '', finishReason: c.choices[0]?.finish_reason ?? null, usage: c.usage ?? null });
    }
    return { chunks };
  },
  'openai response_format json_schema': async (env: ClientEnv) => {
    const r = await openai(env).chat.completions.create({
      model: CHAT_MODEL, messages: [{ role: 'user', content: 'The weather as JSON' }],
      response_format: { type: 'json_schema', json_schema: { name: 'weather', strict: true, schema: WEATHER_SCHEMA } },
    });
    return { content: r.choices[0].message.content, finishReason: r.choices[0].finish_reason };
  },
  'openai tools round trip': async (env: ClientEnv) => {
    const client = openai(env);
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'What is the weather in Paris?' }];
    const first = await client.chat.completions.create({
      model: TOOLS_MODEL, messages, tools: openaiTools, tool_choice: { type: 'function', function: { name: TOOL_NAME } },
    });
    const message = first.choices[0].message;
    const calls = (message.tool_calls ?? []).filter((c) => c.type === 'function');
    messages.push(message, ...calls.map((c): OpenAI.ChatCompletionToolMessageParam => ({ role: 'tool', tool_call_id: c.id, content: JSON.stringify(TOOL_RESULT) })));
    const second = await client.chat.completions.create({ model: TOOLS_MODEL, messages, tools: openaiTools, tool_choice: 'none', max_tokens: MAX_TOKENS });
    return {
      toolCalls: calls.map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments })),
      firstFinishReason: first.choices[0].finish_reason,
      second: { content: second.choices[0].message.content, toolCalls: second.choices[0].message.tool_calls ?? [], finishReason: second.choices[0].finish_reason },
    };
  },
  'openai completions': async (env: ClientEnv) => {
    const r = await openai(env).completions.create({ model: CHAT_MODEL, prompt: 'Once upon a time', max_tokens: MAX_TOKENS });
    return { text: r.choices[0].text, finishReason: r.choices[0].finish_reason, usage: r.usage ?? null };
  },
  'openai embeddings (base64 on the wire)': async (env: ClientEnv) => {
    const r = await openai(env).embeddings.create({ model: EMBED_MODEL, input: env.embedTexts });
    return { embeddings: r.data.map((d) => d.embedding), usage: r.usage };
  },

  // ---- LangChain, @langchain/openai ----
  'langchain invoke': async (env: ClientEnv) => {
    const m = await chatOpenAI(env, CHAT_MODEL).invoke('Say hi');
    return { content: m.content, usage: m.usage_metadata ?? null, finishReason: m.response_metadata.finish_reason as unknown };
  },
  'langchain stream': async (env: ClientEnv) => {
    const deltas: string[] = [];
    let usage: { input_tokens: number; output_tokens: number; total_tokens: number } | null = null;
    for await (const chunk of await chatOpenAI(env, CHAT_MODEL).stream('Say hi')) {
      if (typeof chunk.content === 'string' && chunk.content) deltas.push(chunk.content);
      if (chunk.usage_metadata) usage = chunk.usage_metadata;
    }
    return { deltas, usage };
  },
  'langchain withStructuredOutput': async (env: ClientEnv) => {
    const structured = chatOpenAI(env, CHAT_MODEL, false).withStructuredOutput<Record<string, unknown>>({ ...WEATHER_SCHEMA }, { name: 'weather' });
    return { object: await structured.invoke('The weather as JSON') };
  },
  'langchain bindTools': async (env: ClientEnv) => {
    const m = await chatOpenAI(env, TOOLS_MODEL, false).bindTools(openaiTools, { tool_choice: TOOL_NAME }).invoke('What is the weather in Paris?');
    return { toolCalls: (m.tool_calls ?? []).map((c): ToolCallSeen => ({ name: c.name, args: c.args })) };
  },
  'langchain OpenAIEmbeddings': async (env: ClientEnv) => {
    const e = new OpenAIEmbeddings({ model: EMBED_MODEL, apiKey: 'local', maxRetries: 0, configuration: { baseURL: env.baseURL, fetch: env.fetch } });
    return { documents: await e.embedDocuments(env.embedTexts), query: await e.embedQuery(env.embedTexts[0]) };
  },
};

export type CaseName = keyof typeof clientCases;
export type Observed<N extends CaseName> = Awaited<ReturnType<(typeof clientCases)[N]>>;
export const CASE_NAMES = Object.keys(clientCases) as CaseName[];

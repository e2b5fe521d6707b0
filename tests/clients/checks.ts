/**
 * What each client conformance case (tests/clients/cases.ts) must have handed back, as vitest assertions run in Node
 * on the case's plain-data result — the same checks whether the case ran in Node or in the page. The tiny models
 * have random weights, so text is noise: the checks are on shapes, counts and constraints (token counts within the
 * limit, JSON valid for the schema, the tool called by name with schema-valid arguments, vectors equal to the torch
 * reference, whole PNGs of the model's size), never on wording.
 */
import Ajv from 'ajv';
import { expect } from 'vitest';
import { CATALOG } from '../../src/models/catalog';
import { MAX_TOKENS, TOOL_NAME, TOOL_PARAMETERS, TOOL_RESULT, WEATHER_SCHEMA, type CaseName, type Observed, type Usage } from './cases';
import { readPng } from './png';

export interface CheckContext {
  /** The torch reference vectors of ClientEnv.embedTexts, in order. */
  embeddings: number[][];
}

const ajv = new Ajv({ strict: false });
const validWeather = ajv.compile(WEATHER_SCHEMA);
const validToolArgs = ajv.compile(TOOL_PARAMETERS);
const tinySdxl = CATALOG.find((e) => e.id === 'hearth/tiny-sdxl')!.image!;

function expectWeather(value: unknown): void {
  expect(validWeather(value), `${JSON.stringify(value)} against the schema: ${ajv.errorsText(validWeather.errors)}`).toBe(true);
}

function expectToolArgs(args: unknown): void {
  expect(typeof args, 'tool arguments arrive parsed, as an object').toBe('object');
  expect(validToolArgs(args), `${JSON.stringify(args)} against the tool's parameters: ${ajv.errorsText(validToolArgs.errors)}`).toBe(true);
}

/** Token counts a client reports: positive integers, the completion within the limit, total = input + output. */
function expectUsage(u: Usage | null | undefined, limit = MAX_TOKENS): void {
  expect(u, 'usage is reported').toBeTruthy();
  expect(u!.input, 'input tokens').toBeGreaterThan(0);
  expect(u!.output, 'output tokens').toBeGreaterThan(0);
  expect(u!.output!, 'output tokens within max_tokens').toBeLessThanOrEqual(limit);
  if (u!.total !== undefined) expect(u!.total).toBe(u!.input! + u!.output!);
}

const openaiUsage = (u: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | null | undefined): Usage | null =>
  u ? { input: u.prompt_tokens, output: u.completion_tokens, total: u.total_tokens } : null;
const langchainUsage = (u: { input_tokens: number; output_tokens: number; total_tokens: number } | null | undefined): Usage | null =>
  u ? { input: u.input_tokens, output: u.output_tokens, total: u.total_tokens } : null;

function expectVectors(got: number[][], reference: number[][]): void {
  expect(got).toHaveLength(reference.length);
  got.forEach((v, i) => {
    expect(v, `vector ${i} length`).toHaveLength(reference[i].length);
    expect(Math.max(...v.map((x, k) => Math.abs(x - reference[i][k]))), `vector ${i} against the torch reference`).toBeLessThan(1e-4);
  });
}

function expectPng(image: { mediaType: string; base64: string }, width: number, height: number): void {
  const bytes = new Uint8Array(Buffer.from(image.base64, 'base64'));
  const head = Buffer.from(bytes.subarray(0, 64)).toString('latin1');
  let png;
  try {
    png = readPng(bytes);
  } catch (e) {
    throw new Error(`the image bytes are not a PNG (${(e as Error).message}); they begin ${JSON.stringify(head)}`);
  }
  expect({ width: png.width, height: png.height }).toEqual({ width, height });
  expect(image.mediaType).toBe('image/png');
}

const finishReasons = ['stop', 'length'];

export const clientChecks: { [N in CaseName]: (o: Observed<N>, ctx: CheckContext) => void } = {
  'ai generateText': (o) => {
    expect(typeof o.text).toBe('string');
    expectUsage(o.usage);
    expect(finishReasons).toContain(o.finishReason);
  },
  'ai streamText with usage': (o) => {
    expect(o.deltas.length, 'text arrives in deltas').toBeGreaterThan(0);
    expect(o.deltas.join('')).toBe(o.text);
    expectUsage(o.usage); // only there when the server honours stream_options.include_usage
    expect(finishReasons).toContain(o.finishReason);
  },
  'ai generateText with Output.object': (o) => {
    expectWeather(o.output);
    expect(JSON.parse(o.text)).toEqual(o.output);
  },
  'ai generateObject': (o) => {
    expectWeather(o.object);
    expect(o.usage.output).toBeGreaterThan(0);
  },
  'ai generateText with a tool round trip': (o) => {
    expect(o.steps).toHaveLength(2);
    const [call, answer] = o.steps;
    expect(call.toolCalls).toHaveLength(1);
    expect(call.toolCalls[0].name).toBe(TOOL_NAME);
    expectToolArgs(call.toolCalls[0].args);
    expect(o.executed, 'the SDK ran the tool with the parsed arguments').toEqual([call.toolCalls[0].args]);
    expect(call.toolResults).toEqual([TOOL_RESULT]);
    expect(call.finishReason).toBe('tool-calls');
    // The second request carried the call and its result back; the model answered in text.
    const messages = (o.requests[1] as { messages: { role: string; tool_call_id?: string; content?: unknown }[] }).messages;
    expect(messages.map((m) => m.role)).toEqual(['user', 'assistant', 'tool']);
    expect(JSON.parse(String(messages[2].content))).toEqual(TOOL_RESULT);
    expect(answer.toolCalls).toHaveLength(0);
    expect(finishReasons).toContain(answer.finishReason);
    expectUsage(answer.usage);
  },
  'ai completion model': (o) => {
    expect(typeof o.text).toBe('string');
    expectUsage(o.usage);
    expect(finishReasons).toContain(o.finishReason);
  },
  'ai embedMany': (o, ctx) => {
    expectVectors(o.embeddings, ctx.embeddings);
    expect(o.tokens).toBeGreaterThan(0);
  },
  'ai generateImage': (o) => {
    expect(o.images).toHaveLength(1);
    // No width/height sent: the aliased tiny SDXL's own default (its first listed resolution), not 1024×1024.
    expectPng(o.images[0], tinySdxl.resolutions[0][0], tinySdxl.resolutions[0][1]);
  },
  'ai generateImage with size': (o) => {
    expect(o.images).toHaveLength(1);
    expectPng(o.images[0], 128, 128);
  },
  'openai chat': (o) => {
    expect(typeof o.content).toBe('string');
    expectUsage(openaiUsage(o.usage));
    expect(finishReasons).toContain(o.finishReason);
  },
  'openai chat stream with include_usage': (o) => {
    const last = o.chunks.at(-1)!;
    // OpenAI semantics: one more chunk after the finish, with no choices and the usage.
    expect(last, 'the final chunk has no choices and carries usage').toMatchObject({ choices: 0 });
    expectUsage(openaiUsage(last.usage));
    const content = o.chunks.slice(0, -1);
    expect(content.length).toBeGreaterThan(0);
    expect(content.every((c) => c.choices === 1)).toBe(true);
    expect(finishReasons).toContain(content.at(-1)!.finishReason);
  },
  'openai response_format json_schema': (o) => {
    expectWeather(JSON.parse(o.content ?? 'null'));
    expect(o.finishReason).toBe('stop');
  },
  'openai tools round trip': (o) => {
    expect(o.toolCalls).toHaveLength(1);
    expect(o.toolCalls[0].name).toBe(TOOL_NAME);
    expectToolArgs(JSON.parse(o.toolCalls[0].arguments));
    expect(o.firstFinishReason).toBe('tool_calls');
    expect(typeof o.second.content).toBe('string');
    expect(o.second.toolCalls).toHaveLength(0);
    expect(finishReasons).toContain(o.second.finishReason);
  },
  'openai completions': (o) => {
    expect(typeof o.text).toBe('string');
    expectUsage(openaiUsage(o.usage));
    expect(finishReasons).toContain(o.finishReason);
  },
  'openai embeddings (base64 on the wire)': (o, ctx) => {
    expectVectors(o.embeddings, ctx.embeddings);
    expect(o.usage.prompt_tokens).toBeGreaterThan(0);
  },
  'langchain invoke': (o) => {
    expect(typeof o.content).toBe('string');
    expectUsage(langchainUsage(o.usage));
    expect(finishReasons).toContain(o.finishReason);
  },
  'langchain stream': (o) => {
    expect(o.deltas.length).toBeGreaterThan(0);
    expectUsage(langchainUsage(o.usage)); // only there when the server honours stream_options.include_usage
  },
  'langchain withStructuredOutput': (o) => {
    expectWeather(o.object);
  },
  'langchain bindTools': (o) => {
    expect(o.toolCalls).toHaveLength(1);
    expect(o.toolCalls[0].name).toBe(TOOL_NAME);
    expectToolArgs(o.toolCalls[0].args);
  },
  'langchain OpenAIEmbeddings': (o, ctx) => {
    expectVectors(o.documents, ctx.embeddings);
    expectVectors([o.query], ctx.embeddings.slice(0, 1));
  },
};

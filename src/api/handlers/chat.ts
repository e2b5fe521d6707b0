/**
 * POST /chat/completions: messages (+ tools) → the LLM engine → a CreateChatCompletionResponse, or with
 * `stream: true` an SSE stream of CreateChatCompletionStreamResponse chunks (usage in the last one, then [DONE]).
 */
import { kindRoutes } from '../kind-routes';
import type { ChatMessage, LlmEvent, ToolCall, ToolChoice, ToolDefinition } from '../../engines/llm/types';
import { invalidRequest } from '../errors';
import { jsonResponse } from '../http';
import { sseResponse } from '../sse-response';
import type { Handler } from '../types';
import { acceptRequest } from '../live-fields';
import { precheckChat } from '../precheck';
import { generationParams, newId, nowSeconds, resolveLlm, type GenerationFields } from './llm/request';
import { collectEvents, splitStart, usageOf } from './llm/events';
import { appendTokenIds, chatLogprobs, outputOptions, perfMetrics, promptTokenIds, rawOutput } from './llm/output';

type RequestMessage = Omit<ChatMessage, 'role'> & { role: ChatMessage['role'] | 'developer' };

interface ChatBody extends GenerationFields {
  messages: RequestMessage[];
  tools?: ToolDefinition[];
  tool_choice?: ToolChoice | 'any';
  prompt_truncate_len?: number | null;
}

export const createChatCompletion: Handler = async (ctx) => {
  const body = await ctx.json();
  acceptRequest(ctx, 'chat.completions', body);
  precheckChat(body);
  const req = body as ChatBody;
  const entry = resolveLlm(ctx, req);
  const params = generationParams(req, 200, 'chat');
  req.messages.forEach((m, i) => {
    if (!Array.isArray(m.content)) return;
    m.content.forEach((part, j) => {
      if (part.type === 'image_url' && !entry.llm?.vision) {
        throw invalidRequest(`Model ${req.model} does not accept images`, `messages[${i}].content[${j}]`, 'unsupported_parameter');
      }
    });
  });
  const tools = req.tools ?? [];
  const toolChoice: ToolChoice = req.tool_choice === 'any' ? 'required' : req.tool_choice ?? 'auto';
  if (tools.length && !entry.llm?.tools) throw invalidRequest(`Model ${req.model} does not support tools`, 'tools', 'unsupported_parameter');
  if (toolChoice !== 'auto' && toolChoice !== 'none' && !tools.length) {
    throw invalidRequest('"tool_choice" needs "tools"', 'tool_choice');
  }
  const engine = await ctx.deps.engines.llm();
  const { start, rest: events } = await splitStart(await engine.run({
    kind: 'chat', entry, messages: req.messages.map(asEngineMessage), tools, toolChoice,
    promptTruncateLen: req.prompt_truncate_len === undefined ? 1500 : req.prompt_truncate_len, params,
  }, ctx.request.signal));
  const id = newId('chatcmpl');
  const created = nowSeconds();
  const headers = { 'x-hearth-seed': String(params.seed), 'x-hearth-backend': start.backend };
  const show = outputOptions(params, req);
  const withLogprobs = params.logprobs !== null;
  const promptIds = show.tokenIds ? { prompt_token_ids: promptTokenIds(start) } : {};

  if (req.stream) {
    const started = new Set<number>();
    const tokenIds = new Map<number, number[]>();
    let pendingFinish: Extract<LlmEvent, { type: 'finish' }> | null = null;
    let finished = 0;
    const total = params.n;
    const openAiUsage = req.stream_options?.include_usage === true;
    const chunk = (choices: unknown[], extra: object = {}) => ({ id, object: 'chat.completion.chunk', created, model: req.model, choices, ...extra });
    const finishChoice = (e: Extract<LlmEvent, { type: 'finish' }>) => ({
      index: e.choice, delta: {}, finish_reason: e.reason,
      ...(show.raw && { raw_output: rawOutput(start, 0, e.raw ?? '', tokenIds.get(e.choice) ?? []) }),
    });
    return sseResponse(events, (e) => {
      const out: unknown[] = [];
      if (e.type === 'delta' || e.type === 'finish') {
        if (!started.has(e.choice)) {
          started.add(e.choice);
          out.push(chunk([{ index: e.choice, delta: { role: 'assistant', content: '' }, finish_reason: null }], started.size === 1 ? promptIds : {}));
        }
      }
      if (e.type === 'delta') {
        if (e.tokenIds && show.raw) appendTokenIds(tokenIds, e.choice, e.tokenIds);
        const delta: Record<string, unknown> = {};
        if (e.text) delta.content = e.text;
        if (e.toolCalls) delta.tool_calls = e.toolCalls;
        const extra = {
          ...(withLogprobs && e.logprobs && { logprobs: chatLogprobs(e.logprobs) }),
          ...(show.tokenIds && e.tokenIds && { token_ids: e.tokenIds }),
        };
        if (Object.keys(delta).length || Object.keys(extra).length) out.push(chunk([{ index: e.choice, delta, finish_reason: null, ...extra }]));
      } else if (e.type === 'finish') {
        finished++;
        // The last finish waits for the totals so usage rides in the final chunk.
        if (finished === total) pendingFinish = e;
        else out.push(chunk([finishChoice(e)]));
      } else if (e.type === 'done') {
        const usage = usageOf(e);
        const perf = show.perf ? { perf_metrics: perfMetrics(start, e, total) } : {};
        if (openAiUsage) {
          // OpenAI: the finish chunk as usual, then one chunk with no choices carrying usage.
          if (pendingFinish) out.push(chunk([finishChoice(pendingFinish)]));
          out.push(chunk([], { usage, ...perf }));
        } else if (pendingFinish) {
          out.push(chunk([finishChoice(pendingFinish)], { usage, ...perf }));
        } else out.push(chunk([], { usage, ...perf }));
      }
      return out;
    }, headers);
  }

  const result = await collectEvents(events, params.n, ctx.request.signal);
  return jsonResponse({
    id, object: 'chat.completion', created, model: req.model,
    ...promptIds,
    choices: result.choices.map((c, index) => ({
      index,
      message: {
        role: 'assistant',
        content: c.toolCalls.length ? (c.text || null) : c.text,
        ...(c.toolCalls.length && { tool_calls: c.toolCalls satisfies ToolCall[] }),
      },
      ...(withLogprobs && { logprobs: chatLogprobs(c.logprobs) }),
      finish_reason: c.finishReason,
      ...(show.tokenIds && { token_ids: c.tokenIds }),
      ...(show.raw && { raw_output: rawOutput(start, 0, c.raw, c.tokenIds) }),
    })),
    usage: result.usage,
    ...(show.perf && { perf_metrics: perfMetrics(start, result.done, params.n) }),
  }, { headers });
};

/** The `developer` role (OpenAI's newer name for system instructions) reaches templates as `system`. */
function asEngineMessage(m: RequestMessage): ChatMessage {
  return m.role === 'developer' ? { ...m, role: 'system' } : m as ChatMessage;
}

/** The path it serves (an LLM route: src/api/routes.ts). */
export const routes = kindRoutes('llm', [
  { path: '/chat/completions', method: 'POST', handler: createChatCompletion, operation: 'chat.completions' },
]);

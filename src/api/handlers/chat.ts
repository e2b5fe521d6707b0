/**
 * POST /chat/completions: messages (+ tools) → the LLM engine → a CreateChatCompletionResponse, or with
 * `stream: true` an SSE stream of CreateChatCompletionStreamResponse chunks (usage in the last one, then [DONE]).
 */
import type { ChatMessage, LlmEvent, ToolCall, ToolChoice, ToolDefinition } from '../../engines/llm/types';
import { invalidRequest } from '../errors';
import { jsonResponse } from '../http';
import { sseResponse } from '../sse';
import type { Handler } from '../types';
import { precheckChat } from '../precheck';
import { validateRequest } from '../validate';
import { generationParams, newId, nowSeconds, resolveLlm, type GenerationFields } from './llm-request';
import { collectEvents, splitStart, usageOf } from './llm-events';

interface ChatBody extends GenerationFields {
  messages: ChatMessage[];
  tools?: ToolDefinition[];
  tool_choice?: ToolChoice | 'any';
  prompt_truncate_len?: number | null;
}

export const createChatCompletion: Handler = async (ctx) => {
  const body = await ctx.json();
  validateRequest('chat.completions', body);
  precheckChat(body);
  const req = body as ChatBody;
  const entry = resolveLlm(ctx, req);
  const params = generationParams(req, 200);
  if (req.logprobs != null) throw invalidRequest('"logprobs" is only available on /completions', 'logprobs');
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
  const { start, rest: events } = await splitStart(await engine.generate({
    kind: 'chat', entry, messages: req.messages, tools, toolChoice,
    promptTruncateLen: req.prompt_truncate_len === undefined ? 1500 : req.prompt_truncate_len, params,
  }));
  const id = newId('chatcmpl');
  const created = nowSeconds();
  const headers = { 'x-hearth-seed': String(params.seed), 'x-hearth-backend': start.backend };

  if (req.stream) {
    const started = new Set<number>();
    let pendingFinish: LlmEvent | null = null;
    let finished = 0;
    const total = params.n;
    const chunk = (choices: unknown[], extra: object = {}) => ({ id, object: 'chat.completion.chunk', created, model: req.model, choices, ...extra });
    return sseResponse(events, (e) => {
      const out: unknown[] = [];
      if (e.type === 'delta' || e.type === 'finish') {
        if (!started.has(e.choice)) {
          started.add(e.choice);
          out.push(chunk([{ index: e.choice, delta: { role: 'assistant', content: '' }, finish_reason: null }]));
        }
      }
      if (e.type === 'delta') {
        const delta: Record<string, unknown> = {};
        if (e.text) delta.content = e.text;
        if (e.toolCalls) delta.tool_calls = e.toolCalls;
        if (Object.keys(delta).length) out.push(chunk([{ index: e.choice, delta, finish_reason: null }]));
      } else if (e.type === 'finish') {
        finished++;
        const c = chunk([{ index: e.choice, delta: {}, finish_reason: e.reason }]);
        // The last finish waits for the totals so usage rides in the final chunk.
        if (finished === total) pendingFinish = e;
        else out.push(c);
      } else if (e.type === 'done') {
        const usage = usageOf(e);
        if (pendingFinish && pendingFinish.type === 'finish') {
          out.push(chunk([{ index: pendingFinish.choice, delta: {}, finish_reason: pendingFinish.reason }], { usage }));
        } else out.push(chunk([], { usage }));
      }
      return out;
    }, headers);
  }

  const result = await collectEvents(events, params.n, ctx.request.signal);
  return jsonResponse({
    id, object: 'chat.completion', created, model: req.model,
    choices: result.choices.map((c, index) => ({
      index,
      message: {
        role: 'assistant',
        content: c.toolCalls.length ? (c.text || null) : c.text,
        ...(c.toolCalls.length && { tool_calls: c.toolCalls satisfies ToolCall[] }),
      },
      finish_reason: c.finishReason,
    })),
    usage: result.usage,
  }, { headers });
};

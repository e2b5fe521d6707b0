/**
 * Chat prompts as the model was trained on them: the model's own `chat_template` (tokenizer_config.json) rendered
 * with @huggingface/jinja, with system/user/assistant/tool messages, tool definitions and the generation prompt.
 * Rendering runs on a budget (template-budget.ts): a template that loops, recurses or grows past it ends in a 400
 * `template_limit_exceeded` within seconds instead of holding the engine worker.
 */
import { Template } from '@huggingface/jinja';
import { invalidRequest } from '../../core/errors';
import { TEMPLATE_LIMITS } from './template-limits';
import { renderOnBudget, TemplateLimitError, type TemplateBudget } from './template-budget';
import type { ChatMessage, ToolDefinition } from './types';

/** What one rendering may spend, before the conversation's own size is added to `maxChars`. */
export const TEMPLATE_BUDGET: TemplateBudget = Object.freeze({
  maxChars: TEMPLATE_LIMITS.maxChars,
  maxMs: TEMPLATE_LIMITS.maxMs,
  maxSteps: 5_000_000,
  maxDepth: 400,
  maxItems: 100_000,
});

export interface TemplateConfig {
  chat_template?: string | { name: string; template: string }[];
  bos_token?: string | { content: string };
  eos_token?: string | { content: string };
}

const tokenText = (t: TemplateConfig['bos_token']) => (typeof t === 'string' ? t : t?.content ?? '');

export class ChatTemplate {
  private readonly template: Template;
  private readonly toolTemplate: Template | null;
  readonly source: string;

  constructor(private readonly config: TemplateConfig, private readonly budget: TemplateBudget = TEMPLATE_BUDGET) {
    const raw = config.chat_template;
    if (!raw) throw new Error('The model has no chat_template in tokenizer_config.json');
    const named = typeof raw === 'string' ? [{ name: 'default', template: raw }] : raw;
    const main = named.find((t) => t.name === 'default') ?? named[0];
    const tool = named.find((t) => t.name === 'tool_use');
    this.source = main.template;
    this.template = new Template(main.template);
    this.toolTemplate = tool ? new Template(tool.template) : null;
  }

  /** Whether the template renders `tools` (so tool definitions reach the model). */
  get supportsTools(): boolean {
    return this.toolTemplate !== null || /\btools\b/.test(this.source);
  }

  render(messages: ChatMessage[], tools: ToolDefinition[] = []): string {
    const template = tools.length && this.toolTemplate ? this.toolTemplate : this.template;
    const items = {
      messages: messages.map(flattenContent),
      tools: tools.length ? tools : undefined,
      add_generation_prompt: true,
      bos_token: tokenText(this.config.bos_token),
      eos_token: tokenText(this.config.eos_token),
    };
    // The conversation itself may be long: the budget's characters come on top of what it holds.
    const own = JSON.stringify(items).length;
    try {
      return renderOnBudget(template, items, { ...this.budget, maxChars: this.budget.maxChars + 2 * own });
    } catch (e) {
      if (e instanceof TemplateLimitError || e instanceof RangeError) {
        // The model's template (its tokenizer_config.json) cannot render this conversation within the budget. A 4xx,
        // not a 5xx: nothing in the engine failed, so the loaded model stays loaded and serves the next request at once.
        throw invalidRequest(`The model's chat template (tokenizer_config.json) went over its rendering budget: ${e.message}. `
          + 'Rendering stopped; the model cannot render this conversation (its template is faulty or hostile).', 'messages', 'template_limit_exceeded');
      }
      // Templates raise for conversations they do not accept (e.g. roles out of order): the caller's input is at fault.
      throw invalidRequest(`The model's chat template rejected these messages: ${(e as Error).message}`, 'messages', 'template_error');
    }
  }
}

/** Text parts are joined; the template sees plain strings (images are handled before templating). */
function flattenContent(m: ChatMessage): Record<string, unknown> {
  const content = Array.isArray(m.content)
    ? m.content.filter((p) => p.type === 'text').map((p) => (p as { text: string }).text).join('')
    : m.content ?? '';
  const out: Record<string, unknown> = { role: m.role, content };
  if (m.name) out.name = m.name;
  if (m.tool_calls) {
    out.tool_calls = m.tool_calls.map((c) => ({ ...c, function: { name: c.function.name, arguments: parseArgs(c.function.arguments) } }));
  }
  if (m.tool_call_id) out.tool_call_id = m.tool_call_id;
  return out;
}

/** Templates usually print arguments as JSON themselves (`| tojson`), so they get the object, not the string. */
function parseArgs(args: string): unknown {
  try {
    return JSON.parse(args);
  } catch {
    return args;
  }
}

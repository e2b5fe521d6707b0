/**
 * Chat prompts as the model was trained on them: the model's own `chat_template` (tokenizer_config.json) rendered
 * with @huggingface/jinja, with system/user/assistant/tool messages, tool definitions and the generation prompt.
 */
import { Template } from '@huggingface/jinja';
import { invalidRequest } from '../../core/errors';
import type { ChatMessage, ToolDefinition } from './types';

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

  constructor(private readonly config: TemplateConfig) {
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
    try {
      return template.render({
        messages: messages.map(flattenContent),
        tools: tools.length ? tools : undefined,
        add_generation_prompt: true,
        bos_token: tokenText(this.config.bos_token),
        eos_token: tokenText(this.config.eos_token),
      });
    } catch (e) {
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

/**
 * Tool calls in model output: which JSON shape a model's template trains it to emit (Llama 3.1+ writes
 * `{"name": …, "parameters": {…}}`, Hermes/Qwen templates `<tool_call>{"name": …, "arguments": {…}}</tool_call>`),
 * and parsing a generated call into the API's `tool_calls` entry (arguments as a JSON string, a fresh call id).
 */

export interface ToolFormat {
  /** The key the model puts the arguments under. */
  argumentsKey: 'arguments' | 'parameters';
}

/** Reads the format off the chat template; null when the template does not render tools. */
export function detectToolFormat(templateSource: string): ToolFormat | null {
  if (!/\btools\b/.test(templateSource)) return null;
  return { argumentsKey: /"parameters"/.test(templateSource) && !/"arguments"/.test(templateSource) ? 'parameters' : 'arguments' };
}

export interface ParsedToolCall {
  id: string;
  name: string;
  /** JSON-encoded arguments, as the API returns them. */
  arguments: string;
}

export function parseToolCall(text: string): ParsedToolCall | null {
  const body = text.replace(/^\s*(<\|python_tag\|>|<tool_call>)/, '').replace(/<\/tool_call>\s*$/, '').trim();
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { name, arguments: args, parameters } = value as { name?: unknown; arguments?: unknown; parameters?: unknown };
  if (typeof name !== 'string' || !name) return null;
  const payload = args ?? parameters ?? {};
  return { id: newCallId(), name, arguments: typeof payload === 'string' ? payload : JSON.stringify(payload) };
}

function newCallId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `call_${Array.from(bytes, (b) => b.toString(36).padStart(2, '0')).join('').slice(0, 24)}`;
}

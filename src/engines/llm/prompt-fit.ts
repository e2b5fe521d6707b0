/**
 * Fitting a conversation to `prompt_truncate_len` before any heavy work. Whole earlier messages are evicted (the
 * newest message and every system message are kept) by counting each message's own tokens from the newest back, so
 * the conversation is rendered and tokenized about once rather than once per evicted message; the caller's exact
 * loop then trims what the estimate missed. And a text longer than `context × longest vocabulary piece` characters
 * cannot fit the context whatever it encodes to: refused (400) before it is tokenized.
 */
import { invalidRequest } from '../../core/errors';
import type { ChatMessage } from './types';

export interface FitOptions {
  /** Token budget of the prompt (`prompt_truncate_len`), or null to keep every message. */
  truncateLen: number | null;
  contextLength: number;
  /** Characters of the tokenizer's longest piece: no token covers more. */
  longestPiece: number;
  countTokens(text: string): number;
}

/** The text a chat template sees of a message (text parts joined). */
export function messageText(m: ChatMessage): string {
  if (typeof m.content === 'string') return m.content;
  if (!Array.isArray(m.content)) return '';
  return m.content.map((p) => (p.type === 'text' ? (p as { text: string }).text : '')).join('');
}

export function fitMessages(messages: ChatMessage[], options: FitOptions): ChatMessage[] {
  const maxChars = options.contextLength * options.longestPiece;
  const cannotFit = (what: string, chars: number, param: string) => invalidRequest(
    `${what} is ${chars} characters, more than the model's ${options.contextLength}-token context can hold`,
    param, 'context_length_exceeded');
  const last = messages.length - 1;
  const chars = messages.map((m) => messageText(m).length + (m.tool_calls ? JSON.stringify(m.tool_calls).length : 0));
  messages.forEach((m, i) => {
    if ((m.role === 'system' || i === last) && chars[i] > maxChars) throw cannotFit(`Message ${i}`, chars[i], `messages[${i}].content`);
  });
  if (options.truncateLen === null) {
    const total = chars.reduce((a, b) => a + b, 0);
    if (total > maxChars) throw cannotFit('The conversation', total, 'messages');
    return messages;
  }
  const budget = options.truncateLen;
  const tokens = (i: number) => (chars[i] > maxChars ? Infinity : options.countTokens(messageText(messages[i])));
  let used = 0;
  messages.forEach((m, i) => { if (m.role === 'system' || i === last) used += tokens(i); });
  const keep = messages.map((m, i) => m.role === 'system' || i === last);
  for (let i = last - 1; i >= 0 && used <= budget; i--) {
    if (keep[i]) continue;
    used += tokens(i);
    if (used <= budget) keep[i] = true;
  }
  return messages.filter((_, i) => keep[i]);
}

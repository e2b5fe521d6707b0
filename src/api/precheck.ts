/**
 * Cheap checks before heavy work: what a request asks for is measured against LIMITS (src/api/limits.ts) right after
 * JSON Schema validation and before any engine is reached, so a request that cannot be served costs microseconds,
 * not a queue slot. Walks over request JSON are iterative (a 100,000-deep value cannot overflow the stack).
 */
import { invalidRequest, type HearthError } from './errors';
import { LIMITS } from './limits';

/** Depth and node count of a JSON value, without recursion; stops counting once past the limits. */
export function measureJson(value: unknown, maxDepth: number, maxNodes: number): { depth: number; nodes: number } {
  let depth = 0;
  let nodes = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    nodes++;
    if (d > depth) depth = d;
    if (depth > maxDepth || nodes > maxNodes) break;
    if (v === null || typeof v !== 'object') continue;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (child !== null && typeof child === 'object') stack.push([child, d + 1]);
      else {
        nodes++;
        if (d + 1 > depth) depth = d + 1;
      }
    }
  }
  return { depth, nodes };
}

/** 400 when `value` (at `param`) nests deeper than `maxDepth` or holds more than `maxNodes` values. */
export function checkJsonShape(value: unknown, param: string, maxDepth = LIMITS.maxJsonDepth, maxNodes = LIMITS.maxJsonNodes): void {
  const { depth, nodes } = measureJson(value, maxDepth, maxNodes);
  if (depth > maxDepth) throw tooBig(`"${param}" nests deeper than ${maxDepth} levels`, param);
  if (nodes > maxNodes) throw tooBig(`"${param}" holds more than ${maxNodes} values`, param);
}

const tooBig = (message: string, param: string): HearthError => invalidRequest(message, param, 'limit_exceeded');

type Loose = Record<string, unknown>;
const asList = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function checkStop(stop: unknown): void {
  const list = typeof stop === 'string' ? [stop] : asList(stop);
  if (list.length > LIMITS.maxStopSequences) throw tooBig(`"stop" holds at most ${LIMITS.maxStopSequences} sequences`, 'stop');
  list.forEach((s, i) => {
    if (typeof s === 'string' && s.length > LIMITS.maxStopChars) {
      throw tooBig(`Stop sequences are at most ${LIMITS.maxStopChars} characters`, typeof stop === 'string' ? 'stop' : `stop[${i}]`);
    }
  });
}

function checkGenerationFields(body: Loose): void {
  checkStop(body.stop);
  const format = body.response_format as Loose | null | undefined;
  if (format?.schema != null) checkJsonShape(format.schema, 'response_format.schema');
}

/** /chat/completions, after schema validation. */
export function precheckChat(body: unknown): void {
  const req = body as Loose;
  const messages = asList(req.messages);
  if (messages.length > LIMITS.maxMessages) throw tooBig(`At most ${LIMITS.maxMessages} messages per request`, 'messages');
  messages.forEach((raw, i) => {
    const m = raw as Loose;
    if (m.content === null && (m.role === 'user' || m.role === 'system')) {
      throw invalidRequest(`A ${m.role} message needs content (got null)`, `messages[${i}].content`);
    }
    if (Array.isArray(m.content) && m.content.length > LIMITS.maxContentParts) {
      throw tooBig(`A message holds at most ${LIMITS.maxContentParts} content parts`, `messages[${i}].content`);
    }
  });
  const truncate = req.prompt_truncate_len;
  if (typeof truncate === 'number' && truncate < 1) {
    throw invalidRequest(`"prompt_truncate_len" must be at least 1, or null for no truncation (got ${truncate})`, 'prompt_truncate_len');
  }
  const tools = asList(req.tools);
  if (tools.length > LIMITS.maxTools) throw tooBig(`At most ${LIMITS.maxTools} tools per request`, 'tools');
  tools.forEach((t, i) => {
    const parameters = ((t as Loose).function as Loose | undefined)?.parameters;
    if (parameters !== undefined) checkJsonShape(parameters, `tools[${i}].function.parameters`);
  });
  checkGenerationFields(req);
}

/** /completions, after schema validation: batch size and choices (prompts × n). */
export function precheckCompletion(body: unknown): void {
  const req = body as Loose;
  const prompt = req.prompt;
  const batch = Array.isArray(prompt) && prompt.length && typeof prompt[0] !== 'number' ? prompt.length : 1;
  if (batch > LIMITS.maxPrompts) throw tooBig(`At most ${LIMITS.maxPrompts} prompts per request`, 'prompt');
  const n = typeof req.n === 'number' ? req.n : 1;
  if (batch * n > LIMITS.maxChoices) {
    throw tooBig(`prompts × n is at most ${LIMITS.maxChoices} choices per request (got ${batch} × ${n})`, 'n');
  }
  checkGenerationFields(req);
}

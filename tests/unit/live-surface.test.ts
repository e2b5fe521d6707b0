// The live API surface (src/api/live-surface.ts, spec/NOTES.md "The live API surface") end to end in Node on the
// real engines (tiny Llama on onnxruntime-web wasm): each implemented field does what it says, each ignored field is
// accepted and reported in x-hearth-ignored, bad values are 400s naming the field, and the README's table lists
// every entry of the code's table.
import Ajv from 'ajv';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LIVE_SURFACE } from '../../src/api/live-surface';
import { LlmTokenizer } from '../../src/engines/llm/tokenizer';
import { ModelRegistry } from '../../src/models/registry';
import { get, nodeApi, post, readJson, ROOT } from './node-api';

const tokenizer = new LlmTokenizer(readJson('public/models/hearth-tiny-llama/tokenizer.json'),
  readJson('public/models/hearth-tiny-llama/tokenizer_config.json'));

const { handle } = nodeApi({
  registry: new ModelRegistry(undefined, { 'accounts/fireworks/models/llama-v3p1-8b-instruct': 'hearth/tiny-llama' }),
});
async function call(path: string, body: unknown) {
  const res = await handle(post(path, body));
  const text = await res.text();
  return { res, text, body: (text.startsWith('{') || text.startsWith('[') ? JSON.parse(text) : null) as any };
}
const complete = (body: object) => call('/completions', { model: 'hearth/tiny-llama', ...body });
const chat = (body: object) => call('/chat/completions', { model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'Hi!' }], ...body });

function sseEvents(text: string): any[] {
  const events = text.split('\n\n').filter(Boolean).map((e) => e.replace(/^data: /, ''));
  expect(events.at(-1)).toBe('[DONE]');
  return events.slice(0, -1).map((e) => JSON.parse(e));
}

describe('the table', () => {
  it('README lists every field of the code\'s table, with its kind', () => {
    const readme = readFileSync(`${ROOT}README.md`, 'utf8');
    const section = readme.slice(readme.indexOf('### Fields beyond the 0.0.1 spec'));
    for (const f of LIVE_SURFACE) {
      const row = section.split('\n').find((l) => l.startsWith(`| \`${f.name}\``) || l.startsWith(`| ${f.name}`));
      expect(row, f.name).toBeDefined();
      expect(row, f.name).toContain(f.kind === 'implemented' ? 'implemented' : 'ignored');
    }
  });
});

describe('accepted with no local effect: reported, never silent', () => {
  it('chat: the ignored fields a request carries are named in x-hearth-ignored', async () => {
    const r = await chat({ max_tokens: 2, user: 'u-1', service_tier: 'auto', metadata: { a: 'b' }, store: false, prompt_cache_key: 'k', reasoning_effort: 'low' });
    expect(r.res.status, r.text).toBe(200);
    expect(r.res.headers.get('x-hearth-ignored')).toBe('user, service_tier, prompt_cache_key, metadata, store, reasoning_effort');
  });

  it('null counts as not given; requests without ignored fields carry no header', async () => {
    const r = await chat({ max_tokens: 1, user: null });
    expect(r.res.headers.get('x-hearth-ignored')).toBeNull();
  });

  it('embeddings take `user` too', async () => {
    const r = await call('/embeddings', { model: 'hearth/tiny-embed', input: 'x', user: 'u-1' });
    expect(r.res.status, r.text).toBe(200);
    expect(r.res.headers.get('x-hearth-ignored')).toBe('user');
  });

  it('anything else is still refused by name', async () => {
    const r = await chat({ frobnicate: true });
    expect([r.res.status, r.body.error.param, r.body.error.code]).toEqual([400, 'frobnicate', 'unknown_field']);
  });
});

describe('bad values of the new fields are 400s naming the field, and the engine keeps serving', () => {
  const cases: [string, object, string][] = [
    ['/chat/completions', { min_p: 2 }, 'min_p'],
    ['/chat/completions', { typical_p: -0.1 }, 'typical_p'],
    ['/chat/completions', { repetition_penalty: 0 }, 'repetition_penalty'],
    ['/completions', { mirostat_target: 'high' }, 'mirostat_target'],
    ['/completions', { mirostat_lr: 0 }, 'mirostat_lr'],
    ['/chat/completions', { logit_bias: { 12: 101 } }, 'logit_bias[\"12\"]'],
    ['/chat/completions', { logit_bias: { abc: 1 } }, 'logit_bias'],
    ['/chat/completions', { ignore_eos: 'yes' }, 'ignore_eos'],
    ['/chat/completions', { max_completion_tokens: -1 }, 'max_completion_tokens'],
    ['/chat/completions', { max_completion_tokens: 3, max_tokens: 3 }, 'max_completion_tokens'],
    ['/chat/completions', { stream_options: { include_usage: 'yes' }, stream: true }, 'stream_options.include_usage'],
    ['/chat/completions', { stream_options: { include_usage: true } }, 'stream_options'],
    ['/chat/completions', { stream_options: { usage: true }, stream: true }, 'stream_options.usage'],
    ['/chat/completions', { logprobs: true, top_logprobs: 21 }, 'top_logprobs'],
    ['/chat/completions', { top_logprobs: 2 }, 'top_logprobs'],
    ['/completions', { prompt: 'x', echo_last: 0 }, 'echo_last'],
    ['/completions', { prompt: 'x', echo_last: 2, echo: false }, 'echo_last'],
    ['/chat/completions', { return_token_ids: 1 }, 'return_token_ids'],
    ['/chat/completions', { raw_output: 'true' }, 'raw_output'],
    ['/chat/completions', { perf_metrics_in_response: 1 }, 'perf_metrics_in_response'],
    ['/chat/completions', { parallel_tool_calls: 'no' }, 'parallel_tool_calls'],
    ['/chat/completions', { response_format: { type: 'json_schema' } }, 'response_format.json_schema'],
    ['/chat/completions', { response_format: { type: 'json_schema', json_schema: { name: 'a b', schema: {} } } }, 'response_format.json_schema.name'],
    ['/chat/completions', { response_format: { type: 'grammar' } }, 'response_format.grammar'],
    ['/chat/completions', { response_format: { type: 'grammar', grammar: 'root ::= ( "unclosed' } }, 'response_format.grammar'],
    ['/chat/completions', { response_format: { type: 'yaml' } }, 'response_format.type'],
    ['/chat/completions', { messages: [{ role: 'developer' }] }, 'messages[0].content'],
    ['/chat/completions', { service_tier: 5 }, 'service_tier'],
    ['/chat/completions', { metadata: { a: 1 } }, 'metadata.a'],
  ];
  it.each(cases.map(([path, body, param]) => [`${path} ${JSON.stringify(body)}`, path, body, param] as const))('%s', async (_, path, body, param) => {
    const base = path === '/completions' ? { model: 'hearth/tiny-llama', prompt: 'x' } : { model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'Hi!' }] };
    const r = await call(path, { ...base, max_tokens: 2, ...body });
    expect(r.res.status, r.text).toBe(400);
    expect(r.body.error.param, r.text).toBe(param);
    expect(Object.keys(r.body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  });

  it('after them all, a plain request succeeds', async () => {
    expect((await chat({ max_tokens: 2 })).res.status).toBe(200);
  });
});

describe('implemented output fields', () => {
  it('max_completion_tokens is max_tokens', async () => {
    const r = await chat({ max_completion_tokens: 5, temperature: 0, ignore_eos: true });
    expect(r.res.status, r.text).toBe(200);
    expect(r.body.usage.completion_tokens).toBe(5);
    expect(r.body.choices[0].finish_reason).toBe('length');
  });

  it('stream_options.include_usage: the finish chunk, then one chunk with no choices and the usage (OpenAI)', async () => {
    const body = { max_tokens: 6, temperature: 0, stream: true };
    const openai = sseEvents((await chat({ ...body, stream_options: { include_usage: true } })).text);
    expect(openai.at(-1).choices).toEqual([]);
    expect(openai.at(-1).usage.completion_tokens).toBeGreaterThan(0);
    expect(openai.at(-2).choices[0].finish_reason).not.toBeNull();
    expect(openai.at(-2).usage).toBeUndefined();
    // Without it, Fireworks' form: usage rides on the finish chunk.
    const fireworks = sseEvents((await chat(body)).text);
    expect(fireworks.at(-1).choices[0].finish_reason).not.toBeNull();
    expect(fireworks.at(-1).usage).toEqual(openai.at(-1).usage);
    const cmpl = sseEvents((await complete({ prompt: 'x', max_tokens: 3, stream: true, stream_options: { include_usage: true } })).text);
    expect(cmpl.at(-1).choices).toEqual([]);
    expect(cmpl.at(-1).usage.completion_tokens).toBe(3);
  });

  it('chat logprobs: OpenAI\'s content[] with top_logprobs, equal to the completions logprobs of the same prompt', async () => {
    const r = await chat({ max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 3 });
    expect(r.res.status, r.text).toBe(200);
    const content = r.body.choices[0].logprobs.content;
    expect(content).toHaveLength(r.body.usage.completion_tokens);
    for (const t of content) {
      expect(t.top_logprobs).toHaveLength(3);
      expect(t.top_logprobs[0].logprob).toBeCloseTo(t.logprob, 5); // greedy: the chosen token is the best
      expect(new TextDecoder().decode(new Uint8Array(t.bytes))).toBe(t.token);
      expect(t.logprob).toBeLessThanOrEqual(0);
    }
    // Same numbers as /completions on the same token ids.
    const ids = r.body.prompt_token_ids ?? (await chat({ max_tokens: 1, return_token_ids: true })).body.prompt_token_ids;
    const c = await complete({ prompt: ids, max_tokens: 6, temperature: 0, logprobs: 3 });
    c.body.choices[0].logprobs.token_logprobs.forEach((lp: number, i: number) => expect(content[i].logprob).toBeCloseTo(lp, 5));
    // Without logprobs there is no logprobs key; logprobs: true with top_logprobs 0 gives none per token.
    expect((await chat({ max_tokens: 2 })).body.choices[0].logprobs).toBeUndefined();
    const bare = await chat({ max_tokens: 2, logprobs: true });
    expect(bare.body.choices[0].logprobs.content.every((t: any) => t.top_logprobs.length === 0)).toBe(true);
    // Streamed: each chunk carries its tokens' logprobs.
    const chunks = sseEvents((await chat({ max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 3, stream: true })).text);
    const streamed = chunks.flatMap((ch) => ch.choices.flatMap((x: any) => x.logprobs?.content ?? []));
    expect(streamed.map((t: any) => t.logprob)).toEqual(content.map((t: any) => t.logprob));
  });

  it('response_format json_schema: the text is JSON valid for the schema', async () => {
    const schema = { type: 'object', properties: { answer: { type: 'string', enum: ['yes', 'no'] }, n: { type: 'integer' } }, required: ['answer', 'n'], additionalProperties: false };
    const r = await chat({ max_tokens: 60, seed: 7, response_format: { type: 'json_schema', json_schema: { name: 'reply', schema, strict: true } } });
    expect(r.res.status, r.text).toBe(200);
    const out = JSON.parse(r.body.choices[0].message.content);
    expect(new Ajv().validate(schema, out), r.body.choices[0].message.content).toBe(true);
  });

  it('response_format grammar (GBNF): the text is a sentence of the grammar', async () => {
    const grammar = 'root ::= ("yes" | "no") " " [0-9] [0-9]?';
    for (const seed of [1, 2, 3]) {
      const r = await chat({ max_tokens: 20, seed, response_format: { type: 'grammar', grammar } });
      expect(r.res.status, r.text).toBe(200);
      expect(r.body.choices[0].message.content).toMatch(/^(yes|no) [0-9][0-9]?$/);
    }
    const c = await complete({ prompt: 'x', max_tokens: 20, seed: 4, response_format: { type: 'grammar', grammar } });
    expect(c.body.choices[0].text).toMatch(/^(yes|no) [0-9][0-9]?$/);
  });

  it('the developer role is a system message', async () => {
    const as = (role: string) => chat({ max_tokens: 8, temperature: 0, messages: [{ role, content: 'Be brief.' }, { role: 'user', content: 'Hi!' }] });
    const dev = await as('developer');
    expect(dev.res.status, dev.text).toBe(200);
    expect(dev.body.choices[0].message.content).toBe((await as('system')).body.choices[0].message.content);
    expect(dev.body.usage).toEqual((await as('system')).body.usage);
  });

  it('echo_last n echoes the last n prompt tokens', async () => {
    const ids = tokenizer.encode('The quick brown fox jumps');
    const r = await complete({ prompt: ids, max_tokens: 3, temperature: 0, echo_last: 2, logprobs: 1 });
    const tail = tokenizer.decode(ids.slice(-2));
    const plain = await complete({ prompt: ids, max_tokens: 3, temperature: 0 });
    expect(r.body.choices[0].text).toBe(tail + plain.body.choices[0].text);
    expect(r.body.choices[0].logprobs.tokens).toHaveLength(2 + 3);
    expect(r.body.choices[0].logprobs.text_offset[0]).toBe(0);
  });

  it('return_token_ids: the prompt\'s ids and each choice\'s, streamed too', async () => {
    const r = await chat({ max_tokens: 6, temperature: 0, return_token_ids: true, ignore_eos: true });
    expect(r.body.prompt_token_ids).toEqual(tokenizer.encodeChat(r.body.prompt_token_ids ? tokenizer.decodeRaw(r.body.prompt_token_ids) : ''));
    expect(r.body.prompt_token_ids).toHaveLength(r.body.usage.prompt_tokens);
    expect(r.body.choices[0].token_ids).toHaveLength(6);
    expect(tokenizer.decode(r.body.choices[0].token_ids)).toBe(r.body.choices[0].message.content);
    const chunks = sseEvents((await chat({ max_tokens: 6, temperature: 0, return_token_ids: true, ignore_eos: true, stream: true })).text);
    expect(chunks[0].prompt_token_ids).toEqual(r.body.prompt_token_ids);
    expect(chunks.flatMap((ch) => ch.choices.flatMap((x: any) => x.token_ids ?? []))).toEqual(r.body.choices[0].token_ids);
    const c = await complete({ prompt: ['a', 'b c'], max_tokens: 2, return_token_ids: true });
    expect(c.body.prompt_token_ids).toEqual([tokenizer.encode('a'), tokenizer.encode('b c')]);
  });

  it('raw_output: the templated prompt and the raw completion with their token ids', async () => {
    const r = await chat({ max_tokens: 5, temperature: 0, raw_output: true, ignore_eos: true });
    const raw = r.body.choices[0].raw_output;
    expect(raw.prompt_fragments[0]).toContain('Hi!');
    expect(tokenizer.encodeChat(raw.prompt_fragments[0])).toEqual(raw.prompt_token_ids);
    expect(raw.completion_token_ids).toHaveLength(5);
    expect(raw.completion).toBe(tokenizer.decodeRaw(raw.completion_token_ids));
    const chunks = sseEvents((await chat({ max_tokens: 5, temperature: 0, raw_output: true, ignore_eos: true, stream: true })).text);
    const last = chunks.flatMap((ch) => ch.choices).find((x: any) => x.raw_output);
    expect(last.raw_output).toEqual(raw);
  });

  it('perf_metrics_in_response: Hearth\'s own timings', async () => {
    const r = await chat({ max_tokens: 6, temperature: 0, perf_metrics_in_response: true, ignore_eos: true });
    const m = r.body.perf_metrics;
    expect(m.backend).toBe('onnx/wasm');
    for (const k of ['queue_ms', 'prefill_ms', 'time_to_first_token_ms', 'decode_ms']) expect(m[k], k).toBeGreaterThanOrEqual(0);
    expect(m.time_to_first_token_ms).toBeCloseTo(m.queue_ms + m.prefill_ms, 1);
    expect(m.decode_tokens_per_second).toBeGreaterThan(0);
    expect(m.completion_tokens).toBe(6);
    const chunks = sseEvents((await chat({ max_tokens: 3, perf_metrics_in_response: true, stream: true })).text);
    expect(chunks.at(-1).perf_metrics.completion_tokens).toBe(chunks.at(-1).usage.completion_tokens);
    expect((await chat({ max_tokens: 1 })).body.perf_metrics).toBeUndefined();
  });

  it('parallel_tool_calls is accepted (one call per turn either way)', async () => {
    const r = await call('/chat/completions', {
      model: 'hearth/tiny-llama-tools', messages: [{ role: 'user', content: 'Weather in Paris?' }], max_tokens: 120, temperature: 0.7,
      seed: 3, parallel_tool_calls: false, tool_choice: 'required',
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', required: ['city'], properties: { city: { type: 'string', maxLength: 8 } } } } }],
    });
    expect(r.res.status, r.text).toBe(200);
    expect(r.body.choices[0].message.tool_calls).toHaveLength(1);
  });
});

describe('model aliases', () => {
  it('a user alias serves its name with the model it names, over the catalog\'s meaning, and /models lists it', async () => {
    const r = await call('/chat/completions', { model: 'accounts/fireworks/models/llama-v3p1-8b-instruct', messages: [{ role: 'user', content: 'Hi!' }], max_tokens: 3, temperature: 0 });
    expect(r.res.status, r.text).toBe(200);
    expect(r.body.model).toBe('accounts/fireworks/models/llama-v3p1-8b-instruct');
    expect(r.body.choices[0].message.content).toBe((await chat({ max_tokens: 3, temperature: 0 })).body.choices[0].message.content);
    const list = await (await handle(get('/models'))).json() as any;
    expect(list.aliases).toEqual({ 'accounts/fireworks/models/llama-v3p1-8b-instruct': 'hearth/tiny-llama' });
    expect(list.data.find((m: any) => m.id === 'hearth/tiny-llama').aliases).toContain('accounts/fireworks/models/llama-v3p1-8b-instruct');
    const one = await (await handle(get(`/models/${encodeURIComponent('accounts/fireworks/models/llama-v3p1-8b-instruct')}`))).json() as any;
    expect(one.id).toBe('hearth/tiny-llama');
  });

  it('an alias to an unknown model is refused when it is set', () => {
    expect(() => new ModelRegistry(undefined, { a: 'no/such-model' })).toThrow(/unknown model/);
  });
});

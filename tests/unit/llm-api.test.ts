// /chat/completions and /completions end to end in Node on the real LLM engine (our ONNX decoder on onnxruntime-web
// wasm) with the tiny Llama fixture: greedy tokens against torch, streaming, n, seeds, stops, logprobs, echo,
// JSON mode with a schema, tool calls, and the 4xx errors — after which the engine still serves.
import Ajv from 'ajv';
import { describe, expect, it } from 'vitest';
import { LlmTokenizer } from '../../src/engines/llm/tokenizer';
import { nodeApi, post, readJson } from './node-api';

interface Ref {
  prompts: { name: string; input_ids: number[]; text?: string }[];
  greedy: { prompt: string; new_tokens: number[] }[];
  logits_first_step: { prompt: string; greedy_logprobs: number[] }[];
  q4: { greedy: { prompt: string; new_tokens: number[] }[] };
}
const ref = readJson<Ref>('tests/fixtures/llm/reference.json');
const tokenizer = new LlmTokenizer(readJson('public/models/hearth-tiny-llama/tokenizer.json'),
  readJson('public/models/hearth-tiny-llama/tokenizer_config.json'));
const prompt = (name: string) => ref.prompts.find((p) => p.name === name)!;
const greedy = (name: string, table = ref.greedy) => table.find((g) => g.prompt === name)!.new_tokens;

const { handle } = nodeApi();
async function call(path: string, body: unknown) {
  const res = await handle(post(path, body));
  const text = await res.text();
  return { res, text, body: (text.startsWith('{') ? JSON.parse(text) : null) as any };
}
const complete = (body: object) => call('/completions', { model: 'hearth/tiny-llama', ...body });
const chat = (body: object) => call('/chat/completions', { model: 'hearth/tiny-llama', ...body });

function sseEvents(text: string): any[] {
  const events = text.split('\n\n').filter(Boolean).map((e) => e.replace(/^data: /, ''));
  expect(events.at(-1)).toBe('[DONE]');
  return events.slice(0, -1).map((e) => JSON.parse(e));
}

describe('completions on the tiny Llama (wasm)', () => {
  it('greedy tokens equal torch for every reference prompt (token-id prompts)', async () => {
    for (const p of ref.prompts) {
      const r = await complete({ prompt: p.input_ids, max_tokens: 24, temperature: 0 });
      expect(r.res.status, r.text).toBe(200);
      expect(r.body.choices[0].text, p.name).toBe(tokenizer.decode(greedy(p.name)));
      expect(r.body.choices[0].finish_reason).toBe('length');
      expect(r.body.usage).toEqual({ prompt_tokens: p.input_ids.length, completion_tokens: 24, total_tokens: p.input_ids.length + 24 });
      expect(r.res.headers.get('x-hearth-backend')).toBe('onnx/wasm');
    }
  });

  it('a text prompt gets BOS like the reference and the same continuation', async () => {
    const p = prompt('text');
    const r = await complete({ prompt: p.text, max_tokens: 24, temperature: 0 });
    expect(r.body.choices[0].text).toBe(tokenizer.decode(greedy('text')));
    expect(r.body.usage.prompt_tokens).toBe(p.input_ids.length);
  });

  it('the q4 variant (MatMulNBits) equals its own reference', async () => {
    const p = prompt('text');
    const r = await call('/completions', { model: 'hearth/tiny-llama-q4', prompt: p.input_ids, max_tokens: 24, temperature: 0 });
    expect(r.body.choices[0].text).toBe(tokenizer.decode(greedy('text', ref.q4.greedy)));
  });

  it('logprobs: greedy token logprobs equal torch, with top alternatives and offsets', async () => {
    const p = prompt('bos');
    const r = await complete({ prompt: p.input_ids, max_tokens: 8, temperature: 0, logprobs: 3 });
    const lp = r.body.choices[0].logprobs;
    const expected = ref.logits_first_step.find((x) => x.prompt === 'bos')!.greedy_logprobs.slice(0, 8);
    expect(lp.tokens).toEqual(greedy('bos').slice(0, 8).map((id) => tokenizer.tokenText(id)));
    lp.token_logprobs.forEach((v: number, i: number) => expect(v).toBeCloseTo(expected[i], 3));
    for (const [i, top] of lp.top_logprobs.entries()) {
      expect(Object.keys(top).length).toBeLessThanOrEqual(3);
      expect(Math.max(...Object.values(top) as number[])).toBeCloseTo(lp.token_logprobs[i], 4); // greedy picks the best
    }
    expect(lp.text_offset[0]).toBe(0);
    expect(lp.text_offset).toEqual([...lp.text_offset].sort((a: number, b: number) => a - b));
  });

  it('echo returns the prompt before the completion, with prompt logprobs (first null)', async () => {
    const p = prompt('text');
    const r = await complete({ prompt: p.text, max_tokens: 4, temperature: 0, echo: true, logprobs: 1 });
    const c = r.body.choices[0];
    expect(c.text.startsWith(p.text!)).toBe(true);
    expect(c.text.slice(p.text!.length)).toBe(tokenizer.decode(greedy('text').slice(0, 4)));
    expect(c.logprobs.token_logprobs[0]).toBeNull();
    expect(c.logprobs.tokens.length).toBe(p.input_ids.length + 4);
  });

  it('several prompts × n: choices numbered prompt-major, same seed same text', async () => {
    const body = { prompt: ['The quick brown fox', 'Once upon'], n: 2, max_tokens: 6, temperature: 1, seed: 1234 };
    const a = await complete(body);
    expect(a.body.choices.map((c: any) => c.index)).toEqual([0, 1, 2, 3]);
    const b = await complete(body);
    expect(b.body.choices.map((c: any) => c.text)).toEqual(a.body.choices.map((c: any) => c.text));
    const other = await complete({ ...body, seed: 99 });
    expect(other.body.choices.map((c: any) => c.text)).not.toEqual(a.body.choices.map((c: any) => c.text));
  });

  it('a batch\'s choices keep their own logits: penalties on one row never reach another', async () => {
    // Each decode step hands every choice a view of its row of that step's logits, and penalties are applied in
    // place: a left-padded batch of two prompts × n = 2 must give each choice its own prompt's single-run text.
    const ids = [prompt('ids20').input_ids, prompt('text').input_ids]; // different lengths: left padding
    const body = { max_tokens: 24, temperature: 0, frequency_penalty: 2, presence_penalty: 2 };
    const single = await Promise.all(ids.map(async (p) => (await complete({ ...body, prompt: p })).body.choices[0].text));
    const batch = await complete({ ...body, prompt: ids, n: 2 });
    expect(batch.body.choices.map((c: any) => c.text)).toEqual([single[0], single[0], single[1], single[1]]);
    // The penalties matter: ids20's plain greedy continuation repeats tokens, the penalised one differs.
    expect(single[0]).not.toBe(tokenizer.decode(greedy('ids20')));
  });

  it('stop strings end the text before them, even across tokens', async () => {
    const full = tokenizer.decode(greedy('text'));
    const stop = full.slice(10, 14);
    const r = await complete({ prompt: prompt('text').input_ids, max_tokens: 24, temperature: 0, stop: [stop, 'zzzzqq'] });
    expect(r.body.choices[0].text).toBe(full.slice(0, full.indexOf(stop)));
    expect(r.body.choices[0].finish_reason).toBe('stop');
  });

  it('streams chunks that join to the non-streamed text, usage in the last chunk', async () => {
    const body = { prompt: prompt('text').input_ids, max_tokens: 12, temperature: 0 };
    const whole = await complete(body);
    const r = await complete({ ...body, stream: true });
    expect(r.res.headers.get('content-type')).toBe('text/event-stream');
    const chunks = sseEvents(r.text);
    expect(chunks.length).toBeGreaterThan(3);
    expect(chunks.map((c) => c.choices.map((x: any) => x.text).join('')).join('')).toBe(whole.body.choices[0].text);
    expect(chunks.at(-1).usage).toEqual(whole.body.usage);
    expect(chunks.at(-1).choices[0].finish_reason).toBe('length');
    expect(chunks.every((c) => c.object === 'text_completion' && c.id === chunks[0].id)).toBe(true);
  });
});

describe('chat on the tiny Llama (wasm)', () => {
  it('renders the real Llama-3 template and continues like torch', async () => {
    const r = await chat({ messages: [{ role: 'user', content: 'Hi!' }], max_tokens: 24, temperature: 0 });
    expect(r.res.status, r.text).toBe(200);
    expect(r.body.object).toBe('chat.completion');
    expect(r.body.choices[0].message).toEqual({ role: 'assistant', content: tokenizer.decode(greedy('chat')) });
    expect(r.body.usage.prompt_tokens).toBe(prompt('chat').input_ids.length);
  });

  it('defaults max_tokens to 200 (bounded by the 256-token context)', async () => {
    const r = await chat({ messages: [{ role: 'user', content: 'Hi!' }], temperature: 0 });
    expect(r.body.usage.completion_tokens).toBe(200);
    expect(r.body.choices[0].finish_reason).toBe('length');
  });

  it('streams role first, then content deltas, usage last; n > 1 chunks carry their index', async () => {
    const r = await chat({ messages: [{ role: 'user', content: 'Hi!' }], max_tokens: 5, temperature: 0.8, seed: 5, n: 2, stream: true });
    const chunks = sseEvents(r.text);
    expect(chunks[0].object).toBe('chat.completion.chunk');
    const byChoice = [0, 1].map((i) => chunks.flatMap((c) => c.choices.filter((x: any) => x.index === i)));
    for (const deltas of byChoice) {
      expect(deltas[0].delta.role).toBe('assistant');
      expect(deltas.at(-1).finish_reason).toBe('length');
    }
    expect(chunks.at(-1).usage.completion_tokens).toBe(10);
    const whole = await chat({ messages: [{ role: 'user', content: 'Hi!' }], max_tokens: 5, temperature: 0.8, seed: 5, n: 2 });
    byChoice.forEach((deltas, i) => expect(deltas.map((d: any) => d.delta.content ?? '').join('')).toBe(whole.body.choices[i].message.content));
  });

  it('json_object with a schema always yields valid, conforming JSON', async () => {
    // Bounded values: a random-weight model would otherwise write one endless string until max_tokens.
    const schema = {
      type: 'object', required: ['color', 'ok', 'tag'],
      properties: { color: { enum: ['red', 'green', 'blue'] }, ok: { type: 'boolean' }, tag: { type: 'string', maxLength: 6 } },
    };
    const validate = new Ajv().compile(schema);
    for (const seed of [1, 2, 3]) {
      const r = await chat({ messages: [{ role: 'user', content: 'JSON please' }], max_tokens: 120, temperature: 1, seed,
        response_format: { type: 'json_object', schema } });
      expect(r.res.status, r.text).toBe(200);
      const content = r.body.choices[0].message.content;
      expect(r.body.choices[0].finish_reason, content).toBe('stop');
      const parsed = JSON.parse(content);
      expect(validate(parsed), content).toBe(true);
    }
  });

  it('tools: a required call comes back as tool_calls with JSON arguments that fit the schema', async () => {
    const parameters = {
      type: 'object', required: ['city', 'unit'],
      properties: { city: { type: 'string', maxLength: 8 }, unit: { enum: ['celsius', 'fahrenheit'] } },
    };
    const r = await call('/chat/completions', {
      model: 'hearth/tiny-llama-tools', max_tokens: 120, temperature: 0.7, seed: 3, tool_choice: 'required',
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather forecast', parameters } }],
    });
    expect(r.res.status, r.text).toBe(200);
    const choice = r.body.choices[0];
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.content).toBeNull();
    const [tc] = choice.message.tool_calls;
    expect(tc).toMatchObject({ type: 'function', function: { name: 'get_weather' } });
    expect(tc.id).toMatch(/^call_/);
    expect(new Ajv().compile(parameters)(JSON.parse(tc.function.arguments))).toBe(true);
  });
});

describe('LLM request errors', () => {
  it('each bad request gets the right 4xx, and the engine keeps serving', async () => {
    const cases: [string, object, number, string | null][] = [
      ['/chat/completions', { model: 'nope/nope', messages: [{ role: 'user', content: 'x' }] }, 404, 'model'],
      ['/chat/completions', { model: 'hearth/tiny-embed', messages: [{ role: 'user', content: 'x' }] }, 400, 'model'],
      ['/chat/completions', { model: 'hearth/tiny-llama', messages: [] }, 400, 'messages'],
      ['/chat/completions', { model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'x' }], temperature: 5 }, 400, 'temperature'],
      ['/chat/completions', { model: 'hearth/tiny-llama', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,AA' } }] }] }, 400, 'messages[0].content[0]'],
      ['/chat/completions', { model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }] }, 400, 'tools'],
      ['/chat/completions', { model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_object', schema: { type: 'object', properties: { a: { type: 'foo' } } } } }, 400, 'response_format.schema'],
      ['/chat/completions', { model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'x' }], max_tokens: 250, context_length_exceeded_behavior: 'error' }, 400, 'max_tokens'],
      ['/completions', { model: 'hearth/tiny-llama', prompt: 'word '.repeat(300) }, 400, 'prompt'],
      ['/completions', { model: 'hearth/tiny-llama', prompt: [1, 2, 999999] }, 400, 'prompt[2]'],
      ['/completions', { model: 'hearth/tiny-llama', prompt: 'x', images: ['data:image/png;base64,AA'] }, 400, 'images'],
      ['/completions', { model: 'hearth/tiny-llama', prompt: 'x', logprobs: 6 }, 400, 'logprobs'],
    ];
    for (const [path, body, status, param] of cases) {
      const r = await call(path, body);
      expect(r.res.status, `${path} ${JSON.stringify(body).slice(0, 100)}: ${r.text}`).toBe(status);
      expect(r.body.error.param).toBe(param);
    }
    const ok = await complete({ prompt: prompt('text').input_ids, max_tokens: 24, temperature: 0 });
    expect(ok.body.choices[0].text).toBe(tokenizer.decode(greedy('text')));
  });
});

describe('aborting a whole-body request', () => {
  // In Node the decode loop never yields to timers, so the abort is given before the request; mid-flight aborts are
  // tested in the browser (tests/browser/llm.test.ts), where the engine runs in a worker.
  it('an aborted request is a 499 that cancels the generation, and the next request is served', async () => {
    const stats = async () => ((await (await handle(new Request('http://localhost/inference/v1/models/hearth/tiny-llama'))).json()) as { stats?: { cancelled: number } }).stats;
    await chat({ messages: [{ role: 'user', content: 'warm up' }], max_tokens: 2 });
    const before = (await stats())!;
    const res = await handle(new Request('http://localhost/inference/v1/chat/completions', {
      method: 'POST', headers: { 'content-type': 'application/json' }, signal: AbortSignal.abort(),
      body: JSON.stringify({ model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'go on' }], max_tokens: 230, temperature: 0 }),
    }));
    expect(res.status).toBe(499);
    expect((await res.json()).error.code).toBe('cancelled');
    expect((await stats())!.cancelled).toBe(before.cancelled + 1);
    const next = await chat({ messages: [{ role: 'user', content: 'still there?' }], max_tokens: 4 });
    expect(next.res.status, next.text).toBe(200);
  });
});

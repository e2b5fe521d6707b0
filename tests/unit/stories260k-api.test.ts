// stories260K (a real, trained Llama imported by scripts/import_llama2c.py) end to end in Node through the real API
// on the ONNX decoder (onnxruntime-web wasm): the published greedy story, streamed = not streamed, the q4 variant,
// chat's story template, seeded sampling, logprobs against torch, echo, stop and JSON mode.
import Ajv from 'ajv';
import { describe, expect, it } from 'vitest';
import { LlmTokenizer } from '../../src/engines/llm/tokenizer';
import { get, nodeApi, post, readJson } from './node-api';

interface Ref {
  prompt: string;
  prompt_ids: number[];
  max_new_tokens: number;
  published: string;
  greedy: { new_tokens: number[]; text: string; top5_logprobs_first_steps: [number, number][][] };
  q4: { new_tokens: number[]; text: string; equals_fp32: boolean };
}
const ref = readJson<Ref>('tests/fixtures/stories260k/reference.json');
const DIR = 'public/models/hearth-stories260k';
const tokenizer = new LlmTokenizer(readJson(`${DIR}/tokenizer.json`), readJson(`${DIR}/tokenizer_config.json`));
const MODEL = 'hearth/stories260k';

const { handle } = nodeApi();
async function call(path: string, body: unknown) {
  const res = await handle(post(path, body));
  const text = await res.text();
  return { res, text, body: (text.startsWith('{') ? JSON.parse(text) : null) as any };
}
const complete = (body: object) => call('/completions', { model: MODEL, ...body });

function sseEvents(text: string): any[] {
  const events = text.split('\n\n').filter(Boolean).map((e) => e.replace(/^data: /, ''));
  expect(events.at(-1)).toBe('[DONE]');
  return events.slice(0, -1).map((e) => JSON.parse(e));
}

describe('stories260K through the API (wasm)', () => {
  it('GET /models tells the real model from the random-weight test models', async () => {
    const res = await handle(get('/models'));
    const models = (await res.json() as { data: { id: string; built_in: boolean; random_weights: boolean }[] }).data;
    const byId = new Map(models.map((m) => [m.id, m]));
    expect(byId.get(MODEL)).toMatchObject({ built_in: true, random_weights: false, context_length: 512 });
    expect(byId.get('hearth/stories260k-q4')).toMatchObject({ built_in: true, random_weights: false });
    expect(byId.get('hearth/tiny-llama')).toMatchObject({ built_in: true, random_weights: true });
    expect(models.filter((m) => m.built_in && !m.random_weights).map((m) => m.id).sort()).toEqual([MODEL, 'hearth/stories260k-q4']);
  });

  it('greedy "Once upon a time", 30 tokens, is the published story exactly', async () => {
    expect(ref.greedy.text).toBe(ref.published);
    const r = await complete({ prompt: 'Once upon a time', max_tokens: 30, temperature: 0 });
    expect(r.res.status, r.text).toBe(200);
    expect('Once upon a time' + r.body.choices[0].text).toBe(ref.published);
    expect(r.body.choices[0].finish_reason).toBe('length');
    expect(r.body.usage).toEqual({ prompt_tokens: 5, completion_tokens: 30, total_tokens: 35 });
    expect(r.res.headers.get('x-hearth-backend')).toBe('onnx/wasm');
  });

  it('streamed greedy text equals the non-streamed text, chunk by chunk', async () => {
    const r = await complete({ prompt: 'Once upon a time', max_tokens: 30, temperature: 0, stream: true });
    expect(r.res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = sseEvents(r.text);
    const pieces = events.flatMap((e) => e.choices?.map((c: { text: string }) => c.text) ?? []);
    expect(pieces.filter(Boolean).length).toBeGreaterThan(10);
    expect('Once upon a time' + pieces.join('')).toBe(ref.published);
  });

  it('the q4 variant (MatMulNBits, block 32, K = 172 padded) gives its own reference story', async () => {
    const r = await call('/completions', { model: 'hearth/stories260k-q4', prompt: 'Once upon a time', max_tokens: 30, temperature: 0 });
    expect(r.res.status, r.text).toBe(200);
    expect('Once upon a time' + r.body.choices[0].text).toBe(ref.q4.text);
    expect(ref.q4.equals_fp32).toBe(true);
  });

  it('the first generated token keeps its SentencePiece space (decoded in the prompt\'s context)', async () => {
    const r = await complete({ prompt: 'Once upon a', max_tokens: 5, temperature: 0 });
    expect(r.body.choices[0].text).toBe(' time, there was a');
    const s = await complete({ prompt: 'Once upon a', max_tokens: 5, temperature: 0, stream: true });
    expect(sseEvents(s.text).flatMap((e) => e.choices?.map((c: { text: string }) => c.text) ?? []).join('')).toBe(' time, there was a');
  });

  it('echo returns the prompt and the story; token-id prompts give the same continuation', async () => {
    const e = await complete({ prompt: 'Once upon a time', max_tokens: 30, temperature: 0, echo: true });
    expect(e.body.choices[0].text).toBe(ref.published);
    const lp = await complete({ prompt: 'Once upon a time', max_tokens: 3, temperature: 0, echo: true, logprobs: 1 });
    const { tokens, text_offset: offsets, token_logprobs: logprobs } = lp.body.choices[0].logprobs;
    const text = lp.body.choices[0].text as string;
    expect(tokens.slice(0, 5)).toEqual(['<s>', ' Once', ' upon', ' a', ' time']);
    expect(logprobs[0]).toBeNull();
    // Each prompt token's offset is where its text starts in the echoed prompt (the dummy-prefix space excepted).
    expect(offsets.slice(0, 8)).toEqual([0, 0, 4, 9, 11, 16, 17, 23]);
    expect(text.slice(offsets[5])).toBe(', there was');
    const ids = await complete({ prompt: ref.prompt_ids, max_tokens: 30, temperature: 0 });
    expect(ids.body.choices[0].text).toBe(tokenizer.decode(ref.greedy.new_tokens));
    expect('Once upon a time' + ids.body.choices[0].text).toBe(ref.published);
  });

  it('chat: the last user message is the beginning of the story (the model\'s own template)', async () => {
    const r = await call('/chat/completions', { model: MODEL, max_tokens: 30, temperature: 0, messages: [
      { role: 'system', content: 'ignored' }, { role: 'user', content: 'Tell me a story' }, { role: 'assistant', content: 'OK' },
      { role: 'user', content: ' Once upon a time ' }] });
    expect(r.res.status, r.text).toBe(200);
    expect(r.body.usage.prompt_tokens).toBe(5);
    expect('Once upon a time' + r.body.choices[0].message.content).toBe(ref.published);
  });

  it('logprobs: the greedy tokens and their top-5 alternatives equal torch', async () => {
    const r = await complete({ prompt: 'Once upon a time', max_tokens: 8, temperature: 0, logprobs: 5 });
    const lp = r.body.choices[0].logprobs;
    expect(lp.tokens).toEqual(ref.greedy.new_tokens.slice(0, 8).map((id) => tokenizer.tokenText(id)));
    ref.greedy.top5_logprobs_first_steps.forEach((top, i) => {
      expect(lp.token_logprobs[i]).toBeCloseTo(top[0][1], 3);
      const got = Object.entries(lp.top_logprobs[i] as Record<string, number>).sort((a, b) => b[1] - a[1]);
      expect(got.map(([t]) => t)).toEqual(top.map(([id]) => tokenizer.tokenText(id)));
      got.forEach(([, v], k) => expect(v).toBeCloseTo(top[k][1], 3));
    });
    // Each token's text keeps its own space, so the tokens join to the text and the offsets point at them.
    const text = r.body.choices[0].text as string;
    expect(lp.tokens.join('')).toBe(text);
    expect(lp.tokens[1]).toBe(' there');
    lp.tokens.forEach((t: string, i: number) => expect(text.slice(lp.text_offset[i], lp.text_offset[i] + t.length)).toBe(t));
  });

  it('seeded sampling: the same story for the same seed, another for another seed', async () => {
    const sample = async (seed: number) => (await complete({ prompt: 'Once upon a time', max_tokens: 40, temperature: 1, seed })).body.choices[0].text as string;
    const [a, b, c] = [await sample(11), await sample(11), await sample(12)];
    expect(a).toBe(b);
    expect(c).not.toBe(a);
    expect(a).not.toBe(ref.published.slice('Once upon a time'.length));
    expect(a.length).toBeGreaterThan(40);
  });

  it('stop ends the story before the stop string', async () => {
    const r = await complete({ prompt: 'Once upon a time', max_tokens: 30, temperature: 0, stop: ['Lily'] });
    expect(r.body.choices[0].text).toBe(', there was a little girl named ');
    expect(r.body.choices[0].finish_reason).toBe('stop');
    const s = await complete({ prompt: 'Once upon a time', max_tokens: 30, temperature: 0, stop: ['park.'], stream: true });
    const text = sseEvents(s.text).flatMap((e) => e.choices?.map((c: { text: string }) => c.text) ?? []).join('');
    expect('Once upon a time' + text).toBe('Once upon a time, there was a little girl named Lily. She loved to play outside in the ');
  });

  it('JSON mode on a 512-token SentencePiece vocabulary: valid JSON that fits the schema', async () => {
    const schema = {
      type: 'object', required: ['name', 'happy', 'age'], additionalProperties: false,
      properties: { name: { type: 'string', maxLength: 12 }, happy: { type: 'boolean' }, age: { enum: [3, 4, 5] } },
    };
    const validate = new Ajv().compile(schema);
    for (const seed of [1, 2]) {
      const r = await call('/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 'Once upon a time' }],
        max_tokens: 500, temperature: 1, seed, response_format: { type: 'json_object', schema } });
      expect(r.res.status, r.text).toBe(200);
      const content = r.body.choices[0].message.content;
      expect(r.body.choices[0].finish_reason, content).toBe('stop');
      expect(validate(JSON.parse(content)), content).toBe(true);
      // A story model has never seen JSON: it pads with whitespace, which the constraint bounds per run.
      expect(Math.max(...(content.match(/\s+/g) ?? ['']).map((w: string) => w.length))).toBeLessThanOrEqual(48);
    }
    const free = await complete({ prompt: 'Once upon a time', max_tokens: 60, temperature: 0, response_format: { type: 'json_object' } });
    expect(free.res.status, free.text).toBe(200);
    if (free.body.choices[0].finish_reason === 'stop') expect(typeof JSON.parse(free.body.choices[0].text)).toBe('object');
    else expect(free.body.choices[0].text.trimStart().startsWith('{')).toBe(true);
  });
});

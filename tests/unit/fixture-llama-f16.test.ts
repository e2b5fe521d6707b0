// The q4f16-layout tiny Llama (public/models/hearth-tiny-llama/model_q4f16.onnx, by scripts/fixtures_llama_f16.py):
// float16 past_key_values / present / logits like onnx-community's model_q4f16.onnx. Our decoder takes the dtypes from
// the session's metadata, feeds the float16 cache back and widens the logits; its greedy tokens and first-step logits
// equal torch's (reference-q4f16.json: KV and logits rounded to fp16 as the graph does) directly and through the API.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-web';
import { LlmTokenizer } from '../../src/engines/llm/tokenizer';
import { OnnxDecoder } from '../../src/engines/llm/onnx-decoder';
import { nodeApi, post, readJson, ROOT } from './node-api';

interface Ref {
  model_file: string;
  greedy: { prompt: string; new_tokens: number[] }[];
  logits_first_step: { prompt: string; top10: [number, number][]; greedy_logprobs: number[] }[];
}
interface Prompts { prompts: { name: string; input_ids: number[] }[]; config: { num_hidden_layers: number; num_key_value_heads: number; head_dim: number; vocab_size: number } }
const ref = readJson<Ref>('tests/fixtures/llm/reference-q4f16.json');
const base = readJson<Prompts>('tests/fixtures/llm/reference.json');
const dir = 'public/models/hearth-tiny-llama/';
const tokenizer = new LlmTokenizer(readJson(`${dir}tokenizer.json`), readJson(`${dir}tokenizer_config.json`));
const promptIds = (name: string) => base.prompts.find((p) => p.name === name)!.input_ids;
/** One fp16 ulp at the logits' magnitude (~15) is 2^-6; the graph's fp32 arithmetic may round either side of torch's. */
const FP16_TOL = 2 * 2 ** -6;

describe('q4f16-layout decoder (onnxruntime-web wasm)', () => {
  let session: ort.InferenceSession;
  beforeAll(async () => {
    ort.env.wasm.numThreads = 1;
    session = await ort.InferenceSession.create(readFileSync(ROOT + dir + ref.model_file), { executionProviders: ['wasm'] });
  });
  afterAll(async () => { await session?.release(); });

  it('declares float16 KV cache and logits in its metadata', () => {
    const type = (list: readonly ort.InferenceSession.ValueMetadata[], name: string) => {
      const m = list.find((x) => x.name === name)!;
      return m.isTensor ? m.type : 'none';
    };
    expect(type(session.inputMetadata, 'past_key_values.0.key')).toBe('float16');
    expect(type(session.inputMetadata, 'input_ids')).toBe('int64');
    expect(type(session.outputMetadata, 'logits')).toBe('float16');
    expect(type(session.outputMetadata, 'present.1.value')).toBe('float16');
  });

  it('OnnxDecoder reads the dtypes, feeds the fp16 cache back, and its logits equal torch within fp16 rounding', async () => {
    const c = base.config;
    const decoder = new OnnxDecoder(ort, session, { layers: c.num_hidden_layers, kvHeads: c.num_key_value_heads, headDim: c.head_dim, vocabSize: c.vocab_size }, 'wasm');
    expect([decoder.kvType, decoder.logitsType]).toEqual(['float16', 'float16']);
    for (const g of ref.greedy) {
      decoder.reset();
      const ids = promptIds(g.prompt);
      const first = ref.logits_first_step.find((x) => x.prompt === g.prompt)!;
      let out = await decoder.step({ ids: [ids], mask: [ids.map(() => 1)], positions: [ids.map((_, i) => i)] });
      const tokens: number[] = [];
      let mask = ids.map(() => 1);
      for (let step = 0; step < g.new_tokens.length; step++) {
        expect(out.logits).toBeInstanceOf(Float32Array);
        const last = out.logits.subarray((out.tokens - 1) * c.vocab_size, out.tokens * c.vocab_size);
        if (step === 0) for (const [id, value] of first.top10) expect(Math.abs(last[id]! - value), `${g.prompt} id ${id}`).toBeLessThan(FP16_TOL);
        let best = 0;
        for (let i = 1; i < last.length; i++) if (last[i]! > last[best]!) best = i;
        tokens.push(best);
        mask = [...mask, 1];
        out = await decoder.step({ ids: [[best]], mask: [mask], positions: [[mask.length - 1]] });
      }
      expect(tokens, g.prompt).toEqual(g.new_tokens);
    }
    decoder.reset();
  });
});

describe('q4f16-layout model through the API (wasm)', () => {
  const { handle } = nodeApi();
  it.each(ref.greedy.map((g) => [g.prompt, g] as const))('prompt %s: greedy completion equals torch', async (_name, g) => {
    const res = await handle(post('/completions', { model: 'hearth/tiny-llama-q4f16', prompt: promptIds(g.prompt), max_tokens: g.new_tokens.length, temperature: 0, logprobs: 1 }));
    const body = await res.json() as { choices: { text: string; logprobs: { token_logprobs: number[] } }[] };
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.choices[0]!.text).toBe(tokenizer.decode(g.new_tokens));
    const want = ref.logits_first_step.find((x) => x.prompt === g.prompt)!.greedy_logprobs;
    body.choices[0]!.logprobs.token_logprobs.forEach((lp, i) => expect(Math.abs(lp - want[i]!)).toBeLessThan(0.02));
  });
});

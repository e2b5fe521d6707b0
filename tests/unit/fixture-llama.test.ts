// The tiny Llama decoder (public/models/hearth-tiny-llama/) runs in onnxruntime-web (wasm backend, in Node) with the
// KV cache (present.* fed back as past_key_values.*) and reproduces the torch references that
// scripts/fixtures_llama.py wrote to tests/fixtures/llm/reference.json — fp32 model.onnx and 4-bit model_q4.onnx
// (com.microsoft MatMulNBits). The copied Llama-3 tokenizer loads in @huggingface/tokenizers and gives the prompt ids.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-web';
import { Tokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';

const root = fileURLToPath(new URL('../../', import.meta.url));
const readJson = (rel: string): any => JSON.parse(readFileSync(root + rel, 'utf8'));

interface Prompt {
  name: string;
  source: 'ids' | 'text' | 'chat';
  text?: string;
  messages?: { role: string; content: string }[];
  input_ids: number[];
}
interface Greedy {
  prompt: string;
  new_tokens: number[];
}
interface FirstStep {
  prompt: string;
  top10: [number, number][];
  greedy_logprobs: number[];
}
interface Reference {
  model_dir: string;
  config: { vocab_size: number; num_hidden_layers: number; num_key_value_heads: number; head_dim: number };
  inputs: string[];
  outputs: string[];
  bos_token_id: number;
  eos_token_id: number[];
  max_new_tokens: number;
  prompts: Prompt[];
  greedy: Greedy[];
  logits_first_step: FirstStep[];
  batch: {
    prompts: string[];
    pad_token_id: number;
    input_ids: number[][];
    attention_mask: number[][];
    position_ids: number[][];
    top5_first_step: [number, number][][];
    new_tokens: number[][];
  };
  q4: { model_file: string; greedy: Greedy[]; logits_first_step: FirstStep[] };
}

const ref = readJson('tests/fixtures/llm/reference.json') as Reference;
const dir = `${ref.model_dir}/`;
const { vocab_size: V, num_hidden_layers: L, num_key_value_heads: KV, head_dim: HD } = ref.config;

ort.env.wasm.numThreads = 1;

const int64 = (rows: number[][]) =>
  new ort.Tensor('int64', BigInt64Array.from(rows.flat(), (v) => BigInt(v)), [rows.length, rows[0]!.length]);

function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

function topK(x: Float32Array, k: number): [number, number][] {
  const top: [number, number][] = [];
  for (let i = 0; i < x.length; i++) {
    if (top.length < k || x[i]! > top[top.length - 1]![1]) {
      top.push([i, x[i]!]);
      top.sort((a, b) => b[1] - a[1]);
      if (top.length > k) top.pop();
    }
  }
  return top;
}

function logSoftmaxAt(x: Float32Array, id: number): number {
  let max = -Infinity;
  for (const v of x) max = Math.max(max, v);
  let sum = 0;
  for (const v of x) sum += Math.exp(v - max);
  return x[id]! - max - Math.log(sum);
}

/** Greedy decoding of left-padded rows with the KV cache; returns the new tokens and each step's last logits. */
async function greedy(session: ort.InferenceSession, rows: number[][], steps: number, pad: number) {
  const b = rows.length;
  const width = Math.max(...rows.map((r) => r.length));
  let ids = rows.map((r) => [...new Array<number>(width - r.length).fill(pad), ...r]);
  const mask = rows.map((r) => [...new Array<number>(width - r.length).fill(0), ...r.map(() => 1)]);
  let pos = mask.map((m) => {
    let c = 0;
    return m.map((v) => Math.max((c += v) - 1, 0)); // cumsum(mask) - 1, clamped at 0 on the padding
  });
  let past: Record<string, ort.Tensor> = {};
  for (let i = 0; i < L; i++) {
    for (const kind of ['key', 'value']) {
      past[`past_key_values.${i}.${kind}`] = new ort.Tensor('float32', new Float32Array(0), [b, KV, 0, HD]);
    }
  }
  const firstFeeds = { input_ids: ids, attention_mask: mask.map((m) => [...m]), position_ids: pos };
  const tokens: number[][] = rows.map(() => []);
  const logits: Float32Array[][] = rows.map(() => []);
  for (let step = 0; step < steps; step++) {
    const feeds = { input_ids: int64(ids), attention_mask: int64(mask), position_ids: int64(pos), ...past };
    const out = await session.run(feeds);
    const lg = out.logits!;
    const s = ids[0]!.length;
    expect(lg.dims).toEqual([b, s, V]);
    const data = lg.data as Float32Array;
    for (let r = 0; r < b; r++) {
      const last = data.slice((r * s + s - 1) * V, (r * s + s) * V);
      logits[r]!.push(last);
      tokens[r]!.push(argmax(last));
    }
    past = {};
    for (let i = 0; i < L; i++) {
      for (const kind of ['key', 'value']) {
        const present = out[`present.${i}.${kind}`]!;
        expect(present.dims).toEqual([b, KV, mask[0]!.length, HD]);
        past[`past_key_values.${i}.${kind}`] = present;
      }
    }
    ids = tokens.map((t) => [t[t.length - 1]!]);
    pos = pos.map((p) => [p[p.length - 1]! + 1]);
    mask.forEach((m) => m.push(1));
  }
  return { tokens, logits, firstFeeds };
}

function expectTop(got: Float32Array, want: [number, number][], tol: number) {
  expect(topK(got, want.length).map((t) => t[0])).toEqual(want.map((t) => t[0]));
  for (const [id, value] of want) expect(Math.abs(got[id]! - value)).toBeLessThan(tol);
}

describe('fixture hearth-tiny-llama: files', () => {
  it('has LlamaConfig / generation config fields', () => {
    const cfg = readJson(`${dir}config.json`);
    expect(cfg).toMatchObject({
      model_type: 'llama',
      vocab_size: 128256,
      hidden_size: 16,
      intermediate_size: 32,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      head_dim: 4,
      max_position_embeddings: 256,
      rms_norm_eps: 1e-5,
      rope_theta: 500000,
      tie_word_embeddings: true,
      bos_token_id: 128000,
      eos_token_id: [128001, 128008, 128009],
    });
    expect(readJson(`${dir}generation_config.json`)).toMatchObject({
      bos_token_id: 128000,
      eos_token_id: [128001, 128008, 128009],
      do_sample: false,
    });
  });
});

describe('fixture hearth-tiny-llama: Llama-3 tokenizer', () => {
  const tokenizerConfig = readJson(`${dir}tokenizer_config.json`);
  const tokenizer = new Tokenizer(readJson(`${dir}tokenizer.json`), tokenizerConfig);

  it('is the real Llama-3 vocabulary (128256 ids)', () => {
    expect(tokenizer.token_to_id('<|begin_of_text|>')).toBe(128000);
    expect(tokenizer.token_to_id('<|eot_id|>')).toBe(128009);
    expect(tokenizer.id_to_token(V - 1)).toBe('<|reserved_special_token_250|>');
    expect(tokenizer.id_to_token(V)).toBeUndefined();
  });

  it.each(ref.prompts.filter((p) => p.source !== 'ids').map((p) => [p.name, p] as const))(
    'prompt %s encodes to the reference ids',
    (_name, p) => {
      if (p.source === 'chat') {
        const text = new Template(tokenizerConfig.chat_template).render({
          messages: p.messages,
          bos_token: tokenizerConfig.bos_token,
          add_generation_prompt: true,
        });
        expect(text).toBe(p.text);
        expect(tokenizer.encode(text).ids).toEqual(p.input_ids); // the template writes <|begin_of_text|>
        expect(tokenizer.decode(p.input_ids)).toBe(p.text);
      } else {
        // the tokenizer adds no BOS by itself (ByteLevel post-processor), so the caller prepends it
        expect([ref.bos_token_id, ...tokenizer.encode(p.text!).ids]).toEqual(p.input_ids);
        expect(tokenizer.decode(p.input_ids, { skip_special_tokens: true })).toBe(p.text);
      }
    },
  );

  it('decodes every reference continuation', () => {
    for (const g of [...ref.greedy, ...ref.q4.greedy]) {
      const text = tokenizer.decode(g.new_tokens);
      expect(typeof text).toBe('string');
      expect(text.length).toBeGreaterThan(0);
    }
  });
});

describe.each([
  ['model.onnx', ref.greedy, ref.logits_first_step],
  [ref.q4.model_file, ref.q4.greedy, ref.q4.logits_first_step],
] as const)('fixture hearth-tiny-llama %s (onnxruntime-web wasm)', (file, greedyRef, firstRef) => {
  let session: ort.InferenceSession;

  beforeAll(async () => {
    session = await ort.InferenceSession.create(readFileSync(root + dir + file), { executionProviders: ['wasm'] });
  });
  afterAll(async () => {
    await session?.release();
  });

  it('has the onnx-community decoder I/O names', () => {
    expect(session.inputNames).toEqual(ref.inputs);
    expect(session.outputNames).toEqual(ref.outputs);
    expect(ref.inputs).toEqual([
      'input_ids',
      'attention_mask',
      'position_ids',
      'past_key_values.0.key',
      'past_key_values.0.value',
      'past_key_values.1.key',
      'past_key_values.1.value',
    ]);
    expect(ref.outputs).toEqual(['logits', 'present.0.key', 'present.0.value', 'present.1.key', 'present.1.value']);
  });

  it.each(ref.prompts.map((p, i) => [p.name, i] as const))(
    'prompt %s: greedy decoding with the KV cache matches torch',
    async (_name, i) => {
      const p = ref.prompts[i]!;
      const { tokens, logits } = await greedy(session, [p.input_ids], ref.max_new_tokens, ref.batch.pad_token_id);
      expect(tokens[0]).toEqual(greedyRef[i]!.new_tokens);
      expectTop(logits[0]![0]!, firstRef[i]!.top10, 1e-3);
      const logprobs = tokens[0]!.map((t, k) => logSoftmaxAt(logits[0]![k]!, t));
      logprobs.forEach((lp, k) => expect(Math.abs(lp - firstRef[i]!.greedy_logprobs[k]!)).toBeLessThan(1e-3));
    },
  );

  if (file === 'model.onnx') {
    it('a left-padded batch matches the single runs', async () => {
      const b = ref.batch;
      const rows = b.prompts.map((name) => ref.prompts.find((p) => p.name === name)!.input_ids);
      const { tokens, logits, firstFeeds } = await greedy(session, rows, ref.max_new_tokens, b.pad_token_id);
      expect(firstFeeds).toEqual({
        input_ids: b.input_ids,
        attention_mask: b.attention_mask,
        position_ids: b.position_ids,
      });
      expect(tokens).toEqual(b.new_tokens);
      rows.forEach((_r, k) => {
        expectTop(logits[k]![0]!, b.top5_first_step[k]!, 1e-3);
        const single = firstRef[ref.prompts.findIndex((p) => p.name === b.prompts[k])]!.top10.slice(0, 5);
        expectTop(logits[k]![0]!, single, 1e-3);
        expect(tokens[k]).toEqual(greedyRef[ref.prompts.findIndex((p) => p.name === b.prompts[k])]!.new_tokens);
      });
    });
  }
});

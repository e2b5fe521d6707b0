// The Node side of the LLM decode bench: the API (createApi + LlmService, as tests/unit/node-api.ts assembles it),
// LlmService.run directly, and a bare onnxruntime-web greedy loop with the KV cache fed back (as
// tests/unit/fixture-llama.test.ts runs it). Each returns the same timing record per run:
//   { ttftMs: sent → first content, decodeMs: first content → last token (usage chunk / done event), tokens }.
import { readFileSync } from 'node:fs';
import { ROOT } from './build.mjs';
import { ort } from './node-paths.mjs';

/** Loads the bundled LLM modules (see build.mjs: buildNodeApi). */
export async function loadLlmModules(dir) {
  const [{ createApi }, { ModelRegistry }, { LlmService }, { generationParams }, { LlmTokenizer }, { filesFor }, { loadedModels }] =
    await Promise.all(['handle', 'registry', 'llm-service', 'llm-request', 'llm-tokenizer', 'store', 'loaded']
      .map((m) => import(`${dir}/${m}.mjs`)));
  return { createApi, ModelRegistry, LlmService, generationParams, LlmTokenizer, filesFor, loadedModels };
}

function entryFiles(mods, entry, variant) {
  const read = (role) => {
    const file = mods.filesFor(entry, variant).find((f) => f.role === role);
    if (!file) throw new Error(`${entry.id} has no ${role} file`);
    if (/^https?:/.test(file.url)) throw new Error(`${entry.id} is not a built-in model (${file.url})`);
    return new Uint8Array(readFileSync(`${ROOT}public/${file.url}`));
  };
  const json = (role) => JSON.parse(new TextDecoder().decode(read(role)));
  return { read, json };
}

/** tests/unit/node-api.ts's nodeLlm() + nodeApi(), from the bundled modules (LLM engine only). */
export function nodeLlmApi(mods) {
  const llm = new mods.LlmService({
    ort,
    devices: ['wasm'],
    hasShaderF16: async () => false,
    loadFiles: async (entry, variant) => {
      const f = entryFiles(mods, entry, variant);
      return {
        model: f.read('model'),
        tokenizer: f.json('tokenizer'),
        tokenizerConfig: f.json('tokenizer_config'),
        config: f.json('config'),
        generationConfig: f.json('generation_config'),
      };
    },
  });
  const unused = async () => { throw new Error('not part of the LLM bench'); };
  const handle = mods.createApi({
    registry: new mods.ModelRegistry(),
    engines: { embeddings: unused, llm: async () => llm, loaded: () => mods.loadedModels({ llm }) },
    isDownloaded: async (e) => e.builtIn,
  });
  return { handle, llm };
}

/**
 * A streamed /completions request through `handle`, read as a client reads SSE: the first body bytes are the first
 * content chunk (the handler sends nothing before the first text delta), the chunk carrying `usage` follows the last
 * token. Chunks are kept and parsed after the clock stops.
 */
export async function apiRun(handle, body) {
  const t0 = performance.now();
  const res = await handle(new Request('http://localhost/inference/v1/completions', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, stream: true }),
  }));
  if (!res.ok) throw new Error(`Node API: HTTP ${res.status} ${await res.text()}`);
  return readSse(res.body.getReader(), t0);
}

/** Reads an SSE body with its timings (in-page-llm.mjs holds the page's copy: page functions must be self-contained). */
async function readSse(reader, t0) {
  const decoder = new TextDecoder();
  const parts = [];
  let tFirst = 0;
  let tLast = 0;
  let tail = '';
  for (;;) {
    const { value, done } = await reader.read();
    const now = performance.now();
    if (done) break;
    const text = decoder.decode(value, { stream: true });
    parts.push(text);
    if (!tFirst) tFirst = now;
    if (!tLast && (tail + text).includes('"usage"')) tLast = now;
    tail = text.slice(-16);
  }
  const tEnd = performance.now();
  const events = parts.join('').split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)));
  const usage = events.at(-1)?.usage;
  if (!usage) throw new Error(`SSE stream ended without usage: ${JSON.stringify(events.at(-1))}`);
  return {
    ttftMs: tFirst - t0, decodeMs: (tLast || tEnd) - tFirst, totalMs: tEnd - t0,
    tokens: usage.completion_tokens, text: events.map((e) => e.choices?.[0]?.text ?? '').join(''), chunks: events.length,
  };
}

/** The same job on the engine: first `delta` with text = first content, `done` = the last token's answer. */
export async function engineRun(llm, job) {
  const t0 = performance.now();
  const reader = (await llm.run(job)).getReader();
  let tFirst = 0;
  let tLast = 0;
  let tokens = 0;
  const pieces = [];
  for (;;) {
    const { value: e, done } = await reader.read();
    const now = performance.now();
    if (done) break;
    if (e.type === 'delta' && (e.text || e.logprobs)) {
      if (!tFirst) tFirst = now;
      pieces.push(e.text ?? '');
    } else if (e.type === 'done') {
      tLast = now;
      tokens = e.completionTokens;
    }
  }
  const tEnd = performance.now();
  return { ttftMs: tFirst - t0, decodeMs: (tLast || tEnd) - tFirst, totalMs: tEnd - t0, tokens, text: pieces.join('') };
}

/**
 * A bare greedy loop on its own session (the session options the engine's OnnxDecoder uses on wasm): one prompt,
 * argmax of the last logits, present.* fed back as past_key_values.*, `steps` tokens (no EOS check: it makes exactly
 * as many tokens as the engine did). First token = after prefill and its argmax; last token = after the last argmax.
 */
export async function bareLoop(mods, entry) {
  const f = entryFiles(mods, entry, entry.llm.variants[0].name);
  const config = f.json('config');
  const L = config.num_hidden_layers;
  const KV = config.num_key_value_heads ?? config.num_attention_heads;
  const HD = config.head_dim ?? config.hidden_size / config.num_attention_heads;
  const V = config.vocab_size;
  const session = await ort.InferenceSession.create(f.read('model'), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const tokenizer = new mods.LlmTokenizer(f.json('tokenizer'), f.json('tokenizer_config'));
  // A plain loop, as the engine builds its int64 feeds (BigInt64Array.from with a mapper costs ~30 µs a step).
  const int64 = (values) => {
    const data = new BigInt64Array(values.length);
    for (let i = 0; i < values.length; i++) data[i] = BigInt(values[i]);
    return new ort.Tensor('int64', data, [1, values.length]);
  };
  const argmax = (x, offset) => {
    let best = 0;
    let bestV = x[offset];
    for (let i = 1; i < V; i++) {
      const v = x[offset + i];
      if (v > bestV) { bestV = v; best = i; }
    }
    return best;
  };
  return {
    shape: { layers: L, kvHeads: KV, headDim: HD, vocab: V },
    tokenizer,
    async run(prompt, steps) {
      const t0 = performance.now();
      let past = {};
      for (let i = 0; i < L; i++) {
        for (const kind of ['key', 'value']) past[`past_key_values.${i}.${kind}`] = new ort.Tensor('float32', new Float32Array(0), [1, KV, 0, HD]);
      }
      let ids = prompt;
      let positions = prompt.map((_, i) => i);
      const mask = prompt.map(() => 1);
      const tokens = [];
      let tFirst = 0;
      for (let step = 0; step < steps; step++) {
        const out = await session.run({ input_ids: int64(ids), attention_mask: int64(mask), position_ids: int64(positions), ...past });
        const logits = out.logits.data;
        const next = argmax(logits, (ids.length - 1) * V);
        tokens.push(next);
        if (!tFirst) tFirst = performance.now();
        past = {};
        for (let i = 0; i < L; i++) {
          for (const kind of ['key', 'value']) past[`past_key_values.${i}.${kind}`] = out[`present.${i}.${kind}`];
        }
        positions = [positions.at(-1) + 1];
        ids = [next];
        mask.push(1);
      }
      const tLast = performance.now();
      return { ttftMs: tFirst - t0, decodeMs: tLast - tFirst, totalMs: tLast - t0, tokens: tokens.length, ids: tokens };
    },
    release: () => session.release(),
  };
}

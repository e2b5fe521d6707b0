// The sampling fields of the live API surface (src/engines/llm/sampling/, wired in generate.ts): min_p, typical_p,
// repetition_penalty, Mirostat v2, logit_bias and ignore_eos, each checked against an independent reference written
// here (float64, full sort, the definitions as HF / llama.cpp state them), then end to end on the tiny Llama through
// the real LLM engine (wasm). Default requests staying bit-identical is llm-sampling-defaults.test.ts.
import { describe, expect, it } from 'vitest';
import { HearthError } from '../../src/api/errors';
import { LlmTokenizer } from '../../src/engines/llm/tokenizer';
import type { ChatJob, CompletionJob, GenerationParams, LlmJob, ResponseFormat } from '../../src/engines/llm/types';
import {
  applyRepetitionPenalty,
  checkLogitBiasIds,
  createMirostatState,
  DEFAULT_SAMPLING_PARAMS,
  logSoftmax,
  sampleToken,
  type SampleOptions,
  type SamplingParams,
} from '../../src/engines/llm/sampling';
import { checkSamplingCombination, withSamplingDefaults, type SamplingRequestFields } from '../../src/api/sampling-fields';
import { ModelRegistry } from '../../src/models/registry';
import { createRng } from '../../src/util/rng';
import { nodeLlm, readJson } from './node-api';
import { mulberry32 } from './random';

const params = (p: Partial<SamplingParams>): SamplingParams => ({ ...DEFAULT_SAMPLING_PARAMS, ...p });

// ---------------------------------------------------------------------------------------------------------------
// The reference: the distribution sampled from, the slow obvious way

const normalise = (w: number[]) => {
  const z = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / z);
};

/**
 * Token id → probability after temperature, top_k, top_p (smallest heaviest-first prefix reaching the mass, ties by
 * lower id), min_p (p ≥ min_p · p_max) and typical_p (HF's TypicalLogitsWarper), each renormalised.
 */
function referenceDistribution(logits: ArrayLike<number>, p: SamplingParams): Map<number, number> {
  let ids = Array.from({ length: logits.length }, (_, i) => i).filter((i) => logits[i] > -Infinity);
  ids.sort((a, b) => logits[b] - logits[a] || a - b);
  if (p.topK !== null) ids = ids.slice(0, p.topK);
  const max = logits[ids[0]];
  let prob = normalise(ids.map((i) => Math.exp((logits[i] - max) / p.temperature)));
  const keep = (f: (k: number) => boolean) => {
    const kept = ids.map((_, k) => k).filter(f);
    ids = kept.map((k) => ids[k]);
    prob = normalise(kept.map((k) => prob[k]));
  };
  if (p.topP < 1) {
    let cum = 0;
    let n = 0;
    while (n < ids.length && cum < p.topP) cum += prob[n++];
    keep((k) => k < Math.max(1, n));
  }
  if (p.minP > 0) {
    const pMax = Math.max(...prob);
    keep((k) => prob[k] >= p.minP * pMax);
  }
  if (p.typicalP < 1) {
    const entropy = -prob.reduce((s, q) => s + q * Math.log(q), 0);
    const score = prob.map((q) => Math.abs(-Math.log(q) - entropy));
    const order = score.map((_, k) => k).sort((a, b) => score[a] - score[b]);
    let cum = 0;
    let below = 0; // HF: last_ind = (cumulative_probs < mass).sum()
    for (const k of order) {
      cum += prob[k];
      if (cum < p.typicalP) below++;
    }
    const bound = score[order[Math.min(below, order.length - 1)]];
    keep((k) => score[k] <= bound);
  }
  return new Map(ids.map((id, k) => [id, prob[k]]));
}

/** How far the reference's decisions are from its thresholds (a round too close to one is not a fair test of float32 code). */
function margin(logits: ArrayLike<number>, p: SamplingParams): number {
  const before = referenceDistribution(logits, { ...p, minP: 0, typicalP: 1 });
  let m = Infinity;
  if (p.minP > 0) {
    const pMax = Math.max(...before.values());
    for (const q of before.values()) m = Math.min(m, Math.abs(q / pMax - p.minP));
  }
  if (p.typicalP < 1) {
    const prob = [...referenceDistribution(logits, { ...p, typicalP: 1 }).values()];
    const entropy = -prob.reduce((s, q) => s + q * Math.log(q), 0);
    const score = prob.map((q) => Math.abs(-Math.log(q) - entropy)).sort((a, b) => a - b);
    for (let k = 1; k < score.length; k++) if (score[k] !== score[k - 1]) m = Math.min(m, score[k] - score[k - 1]);
    let cum = 0;
    for (const q of prob.map((q) => [q, Math.abs(-Math.log(q) - entropy)]).sort((a, b) => a[1] - b[1])) {
      cum += q[0];
      m = Math.min(m, Math.abs(cum - p.typicalP));
    }
  }
  return m;
}

function draws(logits: Float32Array, p: SamplingParams, count: number, seed: number, options: SampleOptions = {}): Map<number, number> {
  const rng = createRng(seed);
  const freq = new Map<number, number>();
  for (let i = 0; i < count; i++) {
    const id = sampleToken(logits, p, rng, options).id;
    freq.set(id, (freq.get(id) ?? 0) + 1);
  }
  for (const [id, c] of freq) freq.set(id, c / count);
  return freq;
}

const sorted = (ids: Iterable<number>) => [...ids].sort((a, b) => a - b);

function expectFrequencies(got: Map<number, number>, want: Map<number, number>, tolerance: number) {
  expect(sorted(got.keys())).toEqual(sorted(want.keys()));
  for (const [id, q] of want) expect(Math.abs((got.get(id) ?? 0) - q), `token ${id}`).toBeLessThan(tolerance);
}

/**
 * Random rounds over small vocabularies (some logits tied, some -Infinity): the set of tokens drawn over many draws
 * equals the reference's kept set, and every kept token is likely enough to be seen.
 */
function supportRounds(make: (r: () => number) => Partial<SamplingParams>, seed: number) {
  const r = mulberry32(seed);
  let tested = 0;
  for (let round = 0; round < 60 && tested < 25; round++) {
    const n = 6 + Math.floor(r() * 14);
    const logits = Float32Array.from({ length: n }, () => (r() < 0.08 ? -Infinity : r() < 0.2 ? 1 : 3 * r() - 1.5));
    if (logits.every((x) => x === -Infinity)) continue;
    const p = params({ temperature: 0.6 + r(), ...make(r) });
    const want = referenceDistribution(logits, p);
    if (margin(logits, p) < 1e-6 || Math.min(...want.values()) < 0.004) continue;
    tested++;
    const got = draws(logits, p, 6000, round);
    expect(sorted(got.keys()), `round ${round} ${JSON.stringify(p)} logits ${Array.from(logits)}`).toEqual(sorted(want.keys()));
  }
  expect(tested).toBeGreaterThanOrEqual(20);
}

// ---------------------------------------------------------------------------------------------------------------

describe('request fields → SamplingParams, and the checks the API calls', () => {
  it('withSamplingDefaults resolves the new fields', () => {
    const p = withSamplingDefaults({
      min_p: 0.1, typical_p: 0.9, repetition_penalty: 1.3, mirostat_target: 4, ignore_eos: true,
      logit_bias: { 17: 2.5, 3: -100, 250: 100 },
    });
    expect(p).toMatchObject({ minP: 0.1, typicalP: 0.9, repetitionPenalty: 1.3, mirostat: { target: 4, lr: 0.1 }, ignoreEos: true });
    expect(p.logitBias).toEqual([[3, -100], [17, 2.5], [250, 100]]); // ascending ids
    expect(withSamplingDefaults({ mirostat_target: 3, mirostat_lr: 0.25 }).mirostat).toEqual({ target: 3, lr: 0.25 });
    expect(createMirostatState(withSamplingDefaults({ mirostat_target: 3 }))).toEqual({ mu: 6 }); // mu starts at 2τ
    expect(createMirostatState(DEFAULT_SAMPLING_PARAMS)).toBeNull();
  });

  it('checkSamplingCombination: Mirostat with another filter, mirostat_lr alone, logit_bias keys that are not ids', () => {
    const ok: SamplingRequestFields[] = [
      {}, { mirostat_target: 5 }, { mirostat_target: 5, mirostat_lr: 0.2, top_p: 1, min_p: 0, typical_p: 1, top_k: null, temperature: 0.7 },
      { min_p: 0.1, typical_p: 0.5, top_k: 5, top_p: 0.9 }, { logit_bias: { 0: 1, 128255: -100 } }, { logit_bias: null },
    ];
    for (const f of ok) expect(checkSamplingCombination(f), JSON.stringify(f)).toBeNull();
    const bad: [SamplingRequestFields, string][] = [
      [{ mirostat_target: 5, top_k: 40 }, 'top_k'],
      [{ mirostat_target: 5, top_p: 0.9 }, 'top_p'],
      [{ mirostat_target: 0, min_p: 0.05 }, 'min_p'],
      [{ mirostat_target: 5, typical_p: 0.95 }, 'typical_p'],
      [{ mirostat_lr: 0.1 }, 'mirostat_lr'],
      [{ logit_bias: { abc: 1 } }, 'logit_bias'],
      [{ logit_bias: { '-1': 1 } }, 'logit_bias'],
      [{ logit_bias: { '1.5': 1 } }, 'logit_bias'],
      [{ logit_bias: { '007': 1 } }, 'logit_bias'],
    ];
    for (const [f, param] of bad) {
      const problem = checkSamplingCombination(f);
      expect(problem?.param, JSON.stringify(f)).toBe(param);
      expect(problem?.message).toContain(param);
    }
  });

  it('checkLogitBiasIds: ids must be integers in [0, vocab)', () => {
    expect(checkLogitBiasIds([[0, 1], [99, -100]], 100)).toBeNull();
    expect(checkLogitBiasIds([[100, 1]], 100)?.param).toBe('logit_bias');
    expect(checkLogitBiasIds([[100, 1]], 100)?.message).toContain('0 to 99');
    expect(checkLogitBiasIds([[Number.NaN, 1]], 100)).not.toBeNull();
    expect(checkLogitBiasIds([[-1, 1]], 100)).not.toBeNull();
  });
});

describe('min_p', () => {
  it('keeps exactly the tokens with p ≥ min_p · p_max (random rounds, with temperature)', () => {
    supportRounds((r) => ({ minP: 0.05 + 0.6 * r() }), 101);
  });

  it('after top_k and top_p, as HF orders them', () => {
    supportRounds((r) => ({ minP: 0.05 + 0.5 * r(), topP: 0.5 + 0.5 * r(), topK: r() < 0.5 ? null : 3 + Math.floor(6 * r()) }), 102);
  });

  it('draws the kept tokens with their renormalised probabilities', () => {
    const logits = Float32Array.from([2, 1.2, 0.3, -0.4, 1.9, -3, 0.8]);
    const p = params({ minP: 0.3, temperature: 1.2 });
    const want = referenceDistribution(logits, p);
    expect(want.size).toBe(4); // a real cut: 3 of 7 tokens go
    expectFrequencies(draws(logits, p, 20000, 5), want, 0.012);
  });
});

describe('typical_p', () => {
  it('keeps exactly the reference typical set (random rounds)', () => {
    supportRounds((r) => ({ typicalP: 0.2 + 0.75 * r() }), 201);
  });

  it('after top_k / top_p / min_p, renormalised over their survivors', () => {
    supportRounds((r) => ({ typicalP: 0.3 + 0.6 * r(), minP: r() < 0.5 ? 0 : 0.1 * r(), topP: r() < 0.5 ? 1 : 0.7 + 0.3 * r(),
      topK: r() < 0.5 ? null : 4 + Math.floor(8 * r()) }), 202);
  });

  it('can drop the most likely token (it is not typical) and draws the rest renormalised', () => {
    // One token with p ≈ 0.3 and 20 with p ≈ 0.035: the entropy is near the small ones' surprise, far from the top's.
    const logits = Float32Array.from({ length: 21 }, (_, j) => (j === 0 ? Math.log(0.3) : Math.log(0.035) + 0.01 * (j % 5)));
    const p = params({ typicalP: 0.5 });
    const want = referenceDistribution(logits, p);
    expect(want.has(0)).toBe(false);
    expectFrequencies(draws(logits, p, 20000, 6), want, 0.012);
  });
});

describe('repetition_penalty', () => {
  it('transforms exactly the seen tokens\' logits: /penalty if positive, ·penalty otherwise', () => {
    const base = Float32Array.from([1.5, -2, 0, 3.25, -0.5, 7, 2]);
    for (const penalty of [1.3, 0.7, 2]) {
      const l = Float32Array.from(base);
      applyRepetitionPenalty(l, new Set([0, 1, 2, 4, 6, 99, -1, 2.5]), penalty);
      const want = Float32Array.from(base, (x, j) => ([0, 1, 2, 4, 6].includes(j) ? (x > 0 ? x / penalty : x * penalty) : x));
      expect(Array.from(l)).toEqual(Array.from(want));
    }
    const same = Float32Array.from(base);
    applyRepetitionPenalty(same, new Set([0, 1, 2, 3]), 1);
    expect(Array.from(same)).toEqual(Array.from(base));
  });
});

describe('logit_bias', () => {
  const logits = Float32Array.from([0.5, 2.0, -1.0, 3.5, 3.0, 1.0, -0.5, -4]);

  it('-100 bans a token: never drawn (even the most likely one), logprob -Infinity, the rest renormalised', () => {
    const p = params({ temperature: 1.5, logitBias: [[3, -100]] });
    const masked = Float32Array.from(logits, (x, j) => (j === 3 ? -Infinity : x));
    expectFrequencies(draws(logits, p, 20000, 7), referenceDistribution(masked, p), 0.012);
    for (const extra of [{ topP: 0.8 }, { topK: 3 }, { minP: 0.2 }, { typicalP: 0.8 }, { mirostat: { target: 1, lr: 0.1 } }, { temperature: 0 }]) {
      const q = { ...p, ...extra };
      const state = createMirostatState(q);
      const rng = createRng(8);
      for (let i = 0; i < 3000; i++) expect(sampleToken(logits, q, rng, { mirostat: state }).id, JSON.stringify(extra)).not.toBe(3);
    }
    const r = sampleToken(logits, params({ temperature: 0, logitBias: [[3, -100]] }), createRng(1), { topLogprobs: 8 });
    expect(r.id).toBe(4);
    expect(r.top.map((t) => t.id)).not.toContain(3);
    expect(r.logprob).toBeCloseTo(logSoftmax(masked)[4], 6);
  });

  it('+100 forces a token: always drawn, even the least likely, under any filter', () => {
    for (const extra of [{}, { temperature: 2 }, { topK: 2 }, { topP: 0.3 }, { minP: 0.9 }, { typicalP: 0.1 }, { mirostat: { target: 0.5, lr: 0.3 } }, { temperature: 0 }]) {
      const p = params({ ...extra, logitBias: [[7, 100], [3, -50]] });
      const state = createMirostatState(p);
      const rng = createRng(9);
      for (let i = 0; i < 500; i++) expect(sampleToken(logits, p, rng, { mirostat: state }).id, JSON.stringify(extra)).toBe(7);
    }
    // With a logprob of 0: the forced token is the whole distribution.
    expect(sampleToken(logits, params({ logitBias: [[7, 100]] }), createRng(1), { topLogprobs: 3 }).top).toEqual([{ id: 7, logprob: 0 }]);
  });

  it('several forced tokens: only they are drawn, in proportion to their own logits', () => {
    const p = params({ temperature: 1.2, logitBias: [[2, 100], [6, 100], [0, 3]] });
    const only = Float32Array.from(logits, (x, j) => (j === 2 || j === 6 ? x : -Infinity));
    expectFrequencies(draws(logits, p, 20000, 10), referenceDistribution(only, p), 0.012);
  });

  it('a forced token the grammar mask or the EOS ban refuses is not forced; the others are sampled as usual', () => {
    const allowed = new Uint32Array([0b00111011]); // tokens 0, 1, 3, 4, 5
    const p = params({ logitBias: [[6, 100]] });
    const masked = Float32Array.from(logits, (x, j) => ((allowed[0] >>> j) & 1 ? x : -Infinity));
    expectFrequencies(draws(logits, p, 20000, 11, { allowed }), referenceDistribution(masked, p), 0.012);
    const two = params({ logitBias: [[6, 100], [5, 100]] });
    expect(sorted(draws(logits, two, 2000, 12, { allowed }).keys())).toEqual([5]);
    expect(sorted(draws(logits, two, 2000, 13, { banned: [5] }).keys())).toEqual([6]);
    expect(sorted(draws(logits, two, 2000, 13, { banned: [5], allowed }).keys())).toEqual([0, 1, 3, 4]);
  });

  it('other biases are added to the logits (sampled distribution and logprobs)', () => {
    const bias = [[0, 1.25], [3, -0.75], [7, 4]] as const;
    const biased = Float32Array.from(logits, (x, j) => x + (bias.find(([id]) => id === j)?.[1] ?? 0));
    const p = params({ temperature: 0.9, logitBias: bias });
    expectFrequencies(draws(logits, p, 20000, 14), referenceDistribution(biased, p), 0.012);
    const r = sampleToken(logits, p, createRng(2), { topLogprobs: 8 });
    const ls = logSoftmax(biased);
    for (const t of r.top) expect(t.logprob).toBeCloseTo(ls[t.id], 6);
  });
});

describe('banned ids (ignore_eos) in the sampler', () => {
  it('are never drawn, greedy or sampled; banning every token is an error', () => {
    const logits = Float32Array.from([1, 5, 2, 0]);
    expect(sampleToken(logits, params({ temperature: 0 }), createRng(1), { banned: [1], logprob: false }).id).toBe(2);
    expect(draws(logits, params({ temperature: 3 }), 5000, 15, { banned: [1, 3] }).has(1)).toBe(false);
    expect(() => sampleToken(logits, params({}), createRng(1), { banned: [0, 1, 2, 3] })).toThrow(/no token/);
  });
});

describe('Mirostat v2', () => {
  /** llama.cpp's step: truncate surprise −log2 p > mu (keep the best if none is left), renormalise, update mu. */
  function referenceStep(logits: Float32Array, temperature: number, mu: number) {
    const finite = Array.from(logits.keys()).filter((j) => logits[j] > -Infinity);
    const max = Math.max(...finite.map((j) => logits[j]));
    const w = finite.map((j) => Math.exp((logits[j] - max) / temperature));
    const z = w.reduce((a, b) => a + b, 0);
    let kept = finite.filter((_, k) => -Math.log2(w[k] / z) <= mu);
    if (!kept.length) kept = [finite[w.indexOf(Math.max(...w))]];
    const keptZ = kept.reduce((s, j) => s + w[finite.indexOf(j)], 0);
    const prob = new Map(kept.map((j) => [j, w[finite.indexOf(j)] / keptZ]));
    return { prob, surprise: (id: number) => -Math.log2(prob.get(id)!) };
  }

  it('over a fixed 300-token run: every draw is in the truncated set and mu follows mu −= η(surprise − τ) exactly', () => {
    const data = mulberry32(301);
    const tau = 3;
    const eta = 0.15;
    const p = params({ temperature: 0.9, mirostat: { target: tau, lr: eta } });
    const state = createMirostatState(p)!;
    const rng = createRng(302);
    let mu = 2 * tau;
    const sizes = new Set<number>();
    const mus: number[] = [];
    for (let step = 0; step < 300; step++) {
      const logits = Float32Array.from({ length: 40 }, () => 5 * data() * data() - 1);
      const ref = referenceStep(logits, p.temperature, mu);
      const id = sampleToken(logits, p, rng, { mirostat: state }).id;
      expect(ref.prob.has(id), `step ${step}`).toBe(true);
      mu -= eta * (ref.surprise(id) - tau);
      expect(Math.abs(state.mu - mu), `step ${step}`).toBeLessThan(1e-9);
      sizes.add(ref.prob.size);
      mus.push(mu);
    }
    expect(sizes.size).toBeGreaterThan(5); // the truncation really varies
    expect(Math.max(...mus) - Math.min(...mus)).toBeGreaterThan(1);
  });

  it('at a fixed mu (η = 0) draws from the truncated, renormalised distribution', () => {
    const logits = Float32Array.from([3, 2.5, 1, 0.5, 0, -1, -2]);
    const p = params({ temperature: 1, mirostat: { target: 2, lr: 0 } });
    const state = createMirostatState(p)!;
    const want = referenceStep(logits, 1, 4).prob;
    expect(want.size).toBe(3);
    const rng = createRng(16);
    const freq = new Map<number, number>();
    for (let i = 0; i < 20000; i++) {
      const id = sampleToken(logits, p, rng, { mirostat: state }).id;
      freq.set(id, (freq.get(id) ?? 0) + 1 / 20000);
    }
    expectFrequencies(freq, want, 0.012);
    expect(state.mu).toBe(4);
  });

  it('keeps the most likely token when mu is below every surprise; greedy (temperature 0) leaves mu alone', () => {
    const logits = Float32Array.from([1, 1.2, 1.1]);
    const state = { mu: 0.01 };
    expect(sampleToken(logits, params({ mirostat: { target: 0, lr: 0.1 } }), createRng(1), { mirostat: state }).id).toBe(1);
    expect(state.mu).toBeCloseTo(0.01, 12); // surprise 0 bits after renormalising one token, target 0: no change
    const greedy = { mu: 4 };
    expect(sampleToken(logits, params({ temperature: 0, mirostat: { target: 2, lr: 0.1 } }), createRng(1), { mirostat: greedy }).id).toBe(1);
    expect(greedy.mu).toBe(4);
    expect(() => sampleToken(logits, params({ mirostat: { target: 2, lr: 0.1 } }), createRng(1))).toThrow(/Mirostat/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// End to end on the tiny Llama: the engine with jobs as the API will build them

interface Ref {
  prompts: { name: string; input_ids: number[] }[];
  greedy: { prompt: string; new_tokens: number[] }[];
  eos_token_id: number[];
}
const ref = readJson<Ref>('tests/fixtures/llm/reference.json');
const tokenizer = new LlmTokenizer(readJson('public/models/hearth-tiny-llama/tokenizer.json'),
  readJson('public/models/hearth-tiny-llama/tokenizer_config.json'));
const promptIds = (name: string) => ref.prompts.find((p) => p.name === name)!.input_ids;
const greedyIds = (name: string) => ref.greedy.find((g) => g.prompt === name)!.new_tokens;
const entry = new ModelRegistry().resolve('hearth/tiny-llama', 'llm');
const llm = nodeLlm();

function generation(fields: SamplingRequestFields, over: Partial<GenerationParams> = {}): GenerationParams {
  return {
    maxTokens: 12, stop: [], sampling: withSamplingDefaults(fields), seed: 1, n: 1, logprobs: 0, echo: false,
    responseFormat: { type: 'text' }, contextLengthExceeded: 'truncate', echoLast: null, returnTokenIds: false, rawOutput: false,
    ...over,
  } as GenerationParams;
}
const completion = (prompt: number[], fields: SamplingRequestFields, over: Partial<GenerationParams> = {}): CompletionJob =>
  ({ kind: 'completion', entry, prompts: [prompt], images: [], params: generation(fields, over) });

interface ChoiceOut { text: string; tokens: string[]; reason: string; completionTokens: number }
async function run(job: LlmJob): Promise<ChoiceOut[]> {
  const reader = (await llm.run(job)).getReader();
  const out: ChoiceOut[] = [];
  const choice = (i: number) => (out[i] ??= { text: '', tokens: [], reason: '', completionTokens: -1 });
  for (;;) {
    const { value: e, done } = await reader.read();
    if (done) return out;
    if (e.type === 'delta') {
      choice(e.choice).text += e.text ?? '';
      for (const lp of e.logprobs ?? []) choice(e.choice).tokens.push(lp.token);
    } else if (e.type === 'finish') {
      Object.assign(choice(e.choice), { reason: e.reason, completionTokens: e.completionTokens });
    }
  }
}
const text = (id: number) => tokenizer.tokenText(id);
const EOS = ref.eos_token_id;

describe('the tiny Llama with the new fields (engine, wasm)', () => {
  it('ignore_eos: EOS forced by logit_bias ends the choice at once; with ignore_eos it never comes and the choice runs to max_tokens', async () => {
    const forceEos = Object.fromEntries(EOS.map((id) => [id, 100]));
    const [ended] = await run(completion(promptIds('text'), { logit_bias: forceEos }));
    expect([ended.reason, ended.completionTokens, ended.text]).toEqual(['stop', 0, '']);
    const kept = await run(completion(promptIds('text'), { logit_bias: forceEos, ignore_eos: true, temperature: 1 }, { n: 3, maxTokens: 10 }));
    for (const c of kept) {
      expect([c.reason, c.completionTokens, c.tokens.length]).toEqual(['length', 10, 10]);
      for (const id of EOS) expect(c.tokens).not.toContain(text(id));
    }
  });

  it('ignore_eos under a grammar: the grammar\'s own end still ends the choice (valid JSON, finish "stop")', async () => {
    const schema = { type: 'object', required: ['ok'], properties: { ok: { type: 'boolean' } }, additionalProperties: false };
    const responseFormat: ResponseFormat = { type: 'json_object', schema };
    const job: ChatJob = {
      kind: 'chat', entry, messages: [{ role: 'user', content: 'JSON please' }], tools: [], toolChoice: 'auto', promptTruncateLen: null,
      params: generation({ ignore_eos: true, temperature: 1 }, { responseFormat, maxTokens: 60, seed: 4 }),
    };
    const [c] = await run(job);
    expect(c.reason, c.text).toBe('stop');
    expect(typeof JSON.parse(c.text).ok).toBe('boolean');
  });

  it('logit_bias -100 on the greedy choice: it never appears; +100 on a token: every token is that one', async () => {
    const first = greedyIds('text')[0];
    const [plain] = await run(completion(promptIds('text'), { temperature: 0 }));
    expect(plain.tokens[0]).toBe(text(first)); // the torch reference's greedy token, as a baseline
    const [banned] = await run(completion(promptIds('text'), { temperature: 0, logit_bias: { [first]: -100 } }));
    expect(banned.tokens).not.toContain(text(first));
    expect(banned.tokens.length).toBe(12);
    const forced = await run(completion(promptIds('text'), { temperature: 1.5, logit_bias: { 1000: 100 } }, { n: 2 }));
    for (const c of forced) expect(c.tokens).toEqual(new Array(12).fill(text(1000)));
  });

  it('repetition_penalty covers the prompt and the output: greedy stops repeating either', async () => {
    // The reference's greedy run on "ids20" repeats its 5th token at once: with those 5 tokens in the prompt, plain
    // greedy picks a prompt token next; a (huge) penalty makes every token new to prompt and output.
    const g = greedyIds('ids20');
    const prompt = [...promptIds('ids20'), ...g.slice(0, 5)];
    const [plain] = await run(completion(prompt, { temperature: 0 }));
    expect(plain.tokens[0]).toBe(text(g[5]));
    expect(prompt).toContain(g[5]);
    const [penalised] = await run(completion(prompt, { temperature: 0, repetition_penalty: 1e30 }, { maxTokens: 16 }));
    const promptTexts = new Set(prompt.map(text));
    expect(penalised.tokens.length).toBe(16);
    expect(penalised.tokens.filter((t) => promptTexts.has(t))).toEqual([]);
    expect(new Set(penalised.tokens).size).toBe(16);
  });

  it('min_p, typical_p and Mirostat run end to end, reproducibly per seed', async () => {
    for (const fields of [{ min_p: 0.5 }, { typical_p: 0.3 }, { mirostat_target: 3, mirostat_lr: 0.2 }] as SamplingRequestFields[]) {
      const a = await run(completion(promptIds('text'), { temperature: 1, ...fields }, { n: 2, seed: 21 }));
      const b = await run(completion(promptIds('text'), { temperature: 1, ...fields }, { n: 2, seed: 21 }));
      expect(a, JSON.stringify(fields)).toEqual(b);
      expect(a.map((c) => c.completionTokens)).toEqual([12, 12]);
      expect(a[0].text).not.toBe(a[1].text);
    }
  });

  it('a logit_bias id outside the model\'s vocabulary is a 400 naming logit_bias, and the engine keeps serving', async () => {
    const err = await run(completion(promptIds('text'), { logit_bias: { 128256: 5 } })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HearthError);
    expect([(err as HearthError).status, (err as HearthError).param]).toEqual([400, 'logit_bias']);
    const [ok] = await run(completion(promptIds('text'), { logit_bias: { 128255: 5 }, temperature: 0 }));
    expect(ok.completionTokens).toBe(12);
  });
});

// Token sampling (src/engines/llm/sampling/) and the seeded PRNG (rng.ts): greedy, determinism, top-k/top-p/
// temperature distributions checked empirically, penalties, grammar masks, logprobs, and a 128k-vocab timing print.
import { describe, expect, it } from 'vitest';
import { createRng, randomSeed } from '../../src/util/rng';
import {
  applyPenalties,
  DEFAULT_SAMPLING_PARAMS,
  logSoftmax,
  sampleToken,
  type SamplingParams,
} from '../../src/engines/llm/sampling';
import { withSamplingDefaults } from '../../src/api/sampling-fields';

const params = (p: Partial<SamplingParams>): SamplingParams => ({ ...DEFAULT_SAMPLING_PARAMS, ...p });

/** Logits whose softmax at temperature 1 is exactly `probs`. */
const logitsOf = (probs: number[]): Float32Array => Float32Array.from(probs, (p) => (p > 0 ? Math.log(p) : -Infinity));

/** Reference: the distribution sampleToken should draw from, computed the slow, obvious way. */
function expectedDistribution(logits: Float32Array, p: SamplingParams): number[] {
  const n = logits.length;
  const scaled = Array.from(logits, (l) => l / p.temperature);
  let order = [...Array(n).keys()].filter((i) => scaled[i] > -Infinity);
  order.sort((a, b) => scaled[b] - scaled[a] || a - b);
  if (p.topK !== null) order = order.slice(0, p.topK);
  const max = scaled[order[0]];
  let w = order.map((i) => Math.exp(scaled[i] - max));
  const total = w.reduce((a, b) => a + b, 0);
  if (p.topP < 1) {
    let cum = 0;
    let keep = 0;
    while (keep < order.length) {
      cum += w[keep] / total;
      keep++;
      if (cum >= p.topP) break;
    }
    order = order.slice(0, keep);
    w = w.slice(0, keep);
  }
  const z = w.reduce((a, b) => a + b, 0);
  const out = new Array<number>(n).fill(0);
  order.forEach((id, k) => (out[id] = w[k] / z));
  return out;
}

function empirical(logits: Float32Array, p: SamplingParams, draws: number, seed: number, allowed?: Uint32Array): number[] {
  const rng = createRng(seed);
  const counts = new Array<number>(logits.length).fill(0);
  for (let i = 0; i < draws; i++) counts[sampleToken(logits, p, rng, { allowed }).id]++;
  return counts.map((c) => c / draws);
}

describe('rng', () => {
  it('same seed → same sequence, in [0, 1)', () => {
    const a = createRng(42);
    const b = createRng(42);
    for (let i = 0; i < 1000; i++) {
      const x = a.next();
      expect(x).toBe(b.next());
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
    }
  });
  it('different seeds differ, mean ≈ 0.5', () => {
    const a = createRng(1);
    const b = createRng(2);
    let same = 0;
    let sum = 0;
    for (let i = 0; i < 10000; i++) {
      const x = a.next();
      if (x === b.next()) same++;
      sum += x;
    }
    expect(same).toBe(0);
    expect(Math.abs(sum / 10000 - 0.5)).toBeLessThan(0.01);
  });
  it('randomSeed gives non-zero 32-bit integers', () => {
    for (let i = 0; i < 20; i++) {
      const s = randomSeed();
      expect(Number.isInteger(s)).toBe(true);
      expect(s).toBeGreaterThan(0);
      expect(s).toBeLessThan(2 ** 32);
    }
  });
});

describe('sampling params', () => {
  it('spec defaults, nulls included', () => {
    const off = { minP: 0, typicalP: 1, repetitionPenalty: 1, mirostat: null, logitBias: [], ignoreEos: false };
    expect(withSamplingDefaults({})).toEqual({ temperature: 1, topP: 1, topK: null, frequencyPenalty: 0, presencePenalty: 0, ...off });
    expect(withSamplingDefaults({ temperature: null, top_p: 0.5, top_k: 40, presence_penalty: null })).toEqual({
      temperature: 1,
      topP: 0.5,
      topK: 40,
      frequencyPenalty: 0,
      presencePenalty: 0,
      ...off,
    });
    expect(withSamplingDefaults({ min_p: null, typical_p: null, repetition_penalty: null, mirostat_target: null, mirostat_lr: null,
      logit_bias: null, ignore_eos: null })).toEqual(DEFAULT_SAMPLING_PARAMS);
  });
});

describe('sampleToken', () => {
  const logits = Float32Array.from([0.5, 2.0, -1.0, 3.5, 3.0, 1.0, -0.5, 2.5]);

  it('temperature 0 picks the argmax; ties → lowest id', () => {
    const rng = createRng(7);
    expect(sampleToken(logits, params({ temperature: 0 }), rng).id).toBe(3);
    const tied = Float32Array.from([1, 5, 2, 5, 5]);
    expect(sampleToken(tied, params({ temperature: 0 }), rng).id).toBe(1);
  });

  it('greedy without logprobs (the decode loop\'s fast path) picks what the full scan picks, with the same errors', () => {
    const rng = createRng(3);
    const fast = (l: Float32Array, o: { allowed?: Uint32Array } = {}) => sampleToken(l, params({ temperature: 0 }), rng, { ...o, logprob: false });
    const full = (l: Float32Array, o: { allowed?: Uint32Array } = {}) => sampleToken(l, params({ temperature: 0 }), rng, o);
    const gen = createRng(17);
    for (let i = 0; i < 200; i++) {
      // Small integer-valued logits: many ties; some -Infinity.
      const l = Float32Array.from({ length: 1 + (i % 70) }, () => (gen.next() < 0.1 ? -Infinity : Math.floor(gen.next() * 6) - 3));
      if (l.every((x) => x === -Infinity)) continue;
      const r = fast(l);
      expect(r.id).toBe(full(l).id);
      expect(r.logprob).toBeNaN();
      expect(r.top).toEqual([]);
    }
    expect(fast(Float32Array.from([-Infinity, 2, 7, 7, -0, 7])).id).toBe(2); // ties → lowest id
    expect(fast(Float32Array.from([-0, 0, -1])).id).toBe(0); // -0 and 0 tie too
    const masked = Float32Array.from([9, 1, 5, 5]);
    expect(fast(masked, { allowed: new Uint32Array([0b1100]) }).id).toBe(2);
    // The same checks and messages as the full scan: NaN (first one reported, even after a new maximum), +Infinity,
    // nothing allowed.
    expect(() => fast(Float32Array.from([0, 1, NaN, 5, NaN]))).toThrow('sampleToken: logit 2 is NaN');
    expect(() => full(Float32Array.from([0, 1, NaN, 5, NaN]))).toThrow('sampleToken: logit 2 is NaN');
    expect(() => fast(Float32Array.from([NaN, 1]))).toThrow('sampleToken: logit 0 is NaN');
    expect(() => fast(Float32Array.from([0, Infinity, 3, NaN]))).toThrow('sampleToken: logit 3 is NaN');
    expect(() => fast(Float32Array.from([0, Infinity, 3]))).toThrow('sampleToken: logit 1 is +Infinity');
    expect(() => fast(Float32Array.from([-Infinity, -Infinity]))).toThrow(/no token/);
    expect(() => fast(masked, { allowed: new Uint32Array([0]) })).toThrow(/no token/);
    expect(() => fast(new Float32Array(0))).toThrow(/no token/);
  });

  it('same seed → same 100 samples; different seeds differ', () => {
    const flat = logitsOf(Array(50).fill(1 / 50));
    const run = (seed: number): number[] => {
      const rng = createRng(seed);
      return Array.from({ length: 100 }, () => sampleToken(flat, params({ temperature: 0.9, topP: 0.95 }), rng).id);
    };
    expect(run(123)).toEqual(run(123));
    expect(run(123)).not.toEqual(run(124));
    expect(new Set(run(5)).size).toBeGreaterThan(20); // it really samples
  });

  it('top_k = 1 and a tiny top_p are greedy', () => {
    const rng = createRng(99);
    for (let i = 0; i < 200; i++) {
      expect(sampleToken(logits, params({ temperature: 1.5, topK: 1 }), rng).id).toBe(3);
      expect(sampleToken(logits, params({ temperature: 1.5, topP: 1e-6 }), rng).id).toBe(3);
      expect(sampleToken(logits, params({ temperature: 2, topP: 0 }), rng).id).toBe(3);
    }
  });

  const probs = [0.05, 0.3, 0.02, 0.25, 0.15, 0.1, 0.08, 0.05];
  const cases: [string, Partial<SamplingParams>][] = [
    ['plain (T=1)', {}],
    ['temperature 0.7', { temperature: 0.7 }],
    ['temperature 1.6', { temperature: 1.6 }],
    ['top_k 3', { topK: 3 }],
    ['top_p 0.7', { topP: 0.7 }],
    ['top_p 0.9, T=0.8', { topP: 0.9, temperature: 0.8 }],
    ['top_k 5, top_p 0.8, T=1.3', { topK: 5, topP: 0.8, temperature: 1.3 }],
    ['top_k larger than vocab', { topK: 100, temperature: 1.2 }],
  ];
  for (const [name, p] of cases) {
    it(`empirical frequencies match: ${name}`, () => {
      const l = logitsOf(probs);
      const want = expectedDistribution(l, params(p));
      const got = empirical(l, params(p), 20000, 1);
      for (let j = 0; j < probs.length; j++) expect(Math.abs(got[j] - want[j]), `token ${j}`).toBeLessThan(0.01);
      for (let j = 0; j < probs.length; j++) if (want[j] === 0) expect(got[j]).toBe(0);
    });
  }

  it('empirical frequencies with a mask: masked tokens never drawn, the rest renormalised', () => {
    const l = logitsOf(probs);
    const allowed = new Uint32Array([0b10011010]); // tokens 1, 3, 4, 7
    const masked = Float32Array.from(l, (x, j) => ((allowed[0] >>> j) & 1 ? x : -Infinity));
    const p = params({ temperature: 0.9, topP: 0.95 });
    const want = expectedDistribution(masked, p);
    const got = empirical(l, p, 20000, 77, allowed);
    for (let j = 0; j < probs.length; j++) expect(Math.abs(got[j] - want[j]), `token ${j}`).toBeLessThan(0.01);
    for (const j of [0, 2, 5, 6]) expect(got[j]).toBe(0);
  });

  it('top_p over a 2,000-token vocabulary (many tokens per weight bucket) matches the reference', () => {
    const rng = createRng(31337);
    const l = Float32Array.from({ length: 2000 }, () => 4 * rng.next());
    l[17] = 6;
    l[1500] = 5.5;
    const p = params({ temperature: 0.9, topP: 0.6 });
    const want = expectedDistribution(l, p);
    const got = empirical(l, p, 20000, 4);
    for (let j = 0; j < l.length; j++) {
      expect(Math.abs(got[j] - want[j]), `token ${j}`).toBeLessThan(0.01);
      if (want[j] === 0) expect(got[j], `token ${j} is outside the nucleus`).toBe(0);
    }
    const support = want.filter((x) => x > 0).length;
    expect(support).toBeGreaterThan(100);
    expect(got.filter((x) => x > 0).length).toBeGreaterThan(support * 0.9);
  });

  it('ties at the top_k / top_p boundary go to the lower ids', () => {
    const l = Float32Array.from([0, 0, 0, 0, -10]);
    for (const p of [params({ topP: 0.45 }), params({ topP: 0.45, topK: 4 }), params({ topK: 2 })]) {
      const got = empirical(l, p, 4000, 9);
      expect(got[0] + got[1], JSON.stringify(p)).toBe(1);
      expect(Math.abs(got[0] - 0.5)).toBeLessThan(0.03);
    }
    // The equal logits of ids 0 and 1 compete for the second top_k slot: id 0 must win.
    const got = empirical(Float32Array.from([1, 1, 2, 0.5, 1]), params({ topK: 2 }), 4000, 10);
    expect(got[1] + got[3] + got[4]).toBe(0);
    expect(got[0]).toBeGreaterThan(0.2);
  });

  it('top_k keeps exactly the k best (ties → lower ids) on random logits with many ties', () => {
    const rng = createRng(55);
    for (let round = 0; round < 30; round++) {
      const n = 10 + Math.floor(rng.next() * 30);
      const l = Float32Array.from({ length: n }, () => Math.floor(rng.next() * 4));
      const k = 1 + Math.floor(rng.next() * (n - 1));
      const want = new Set([...Array(n).keys()].sort((a, b) => l[b] - l[a] || a - b).slice(0, k));
      const got = new Set<number>();
      const r = createRng(round);
      for (let i = 0; i < 60 * k; i++) got.add(sampleToken(l, params({ temperature: 100, topK: k }), r).id);
      expect([...got].sort((a, b) => a - b), `round ${round}`).toEqual([...want].sort((a, b) => a - b));
    }
  });

  it('top_p keeps exactly the reference nucleus on random logits with many ties (with and without top_k)', () => {
    const rng = createRng(56);
    for (let round = 0; round < 30; round++) {
      const n = 10 + Math.floor(rng.next() * 30);
      const l = Float32Array.from({ length: n }, () => Math.floor(rng.next() * 4));
      const topP = 0.05 + 0.9 * rng.next();
      const topK = round % 2 === 0 ? null : 2 + Math.floor(rng.next() * (n - 2));
      const p = params({ temperature: 1.3, topP, topK });
      const want = expectedDistribution(l, p);
      const got = new Set<number>();
      const r = createRng(round);
      for (let i = 0; i < 3000; i++) got.add(sampleToken(l, p, r).id);
      const wantIds = want.flatMap((x, j) => (x > 0 ? [j] : []));
      expect([...got].sort((a, b) => a - b), `round ${round} ${JSON.stringify(p)}`).toEqual(wantIds);
    }
  });

  it('applyPenalties follows the OpenAI formula exactly', () => {
    const base = Float32Array.from([1, 2, 3, 4, 5]);
    const l = Float32Array.from(base);
    const counts = new Map([
      [1, 3],
      [3, 1],
      [4, 0],
      [99, 2], // out of range: ignored
    ]);
    applyPenalties(l, counts, 0.5, 0.25);
    const want = Float32Array.from([1, 2 - (3 * 0.5 + 0.25), 3, 4 - (0.5 + 0.25), 5]);
    expect(Array.from(l)).toEqual(Array.from(want));
    const neg = Float32Array.from(base);
    applyPenalties(neg, counts, -1, -2);
    expect(Array.from(neg)).toEqual(Array.from(Float32Array.from([1, 2 + 3 + 2, 3, 4 + 1 + 2, 5])));
    const same = Float32Array.from(base);
    applyPenalties(same, counts, 0, 0);
    expect(Array.from(same)).toEqual(Array.from(base));
  });

  it('mask: masked tokens are never chosen, have no place in `top`, and logprobs renormalise over the rest', () => {
    const allowed = new Uint32Array([0b00100101]); // tokens 0, 2, 5 (token 3, the argmax, is masked)
    const rng = createRng(3);
    const greedy = sampleToken(logits, params({ temperature: 0 }), rng, { allowed, topLogprobs: 5 });
    expect(greedy.id).toBe(5);
    expect(greedy.top.map((t) => t.id)).toEqual([5, 0, 2]); // only 3 allowed tokens exist
    const masked = Float32Array.from(logits, (x, j) => ((allowed[0] >>> j) & 1 ? x : -Infinity));
    const ls = logSoftmax(masked);
    expect(ls[3]).toBe(-Infinity);
    expect(greedy.logprob).toBeCloseTo(ls[5], 5);
    for (const t of greedy.top) expect(t.logprob).toBeCloseTo(ls[t.id], 5);
    for (let i = 0; i < 500; i++) {
      const r = sampleToken(logits, params({ temperature: 2 }), rng, { allowed });
      expect([0, 2, 5]).toContain(r.id);
    }
    // A mask shorter than the vocabulary disallows the tokens past its end.
    const big = new Float32Array(40).fill(0);
    big[35] = 10;
    expect(sampleToken(big, params({ temperature: 0 }), rng, { allowed: new Uint32Array([0xffffffff]) }).id).toBeLessThan(32);
    expect(() => sampleToken(logits, params({}), rng, { allowed: new Uint32Array([0]) })).toThrow(/no token/);
    expect(() => sampleToken(Float32Array.from([0, NaN]), params({}), rng)).toThrow(/NaN/);
  });

  it('logprobs are the temperature-1 log-softmax; `top` is sorted descending, ties by id', () => {
    const l = Float32Array.from([1, 3, 2, 3, 0, 2.5, 3]);
    const ls = logSoftmax(l);
    const r = sampleToken(l, params({ temperature: 0.3, topK: 2 }), createRng(1), { topLogprobs: 5 });
    expect(r.top.map((t) => t.id)).toEqual([1, 3, 6, 5, 2]);
    r.top.forEach((t) => expect(t.logprob).toBeCloseTo(ls[t.id], 6));
    expect(r.logprob).toBeCloseTo(ls[r.id], 6);
    expect([1, 3]).toContain(r.id); // top_k 2 keeps ids 1 and 3 (ties → lower ids)
    expect(sampleToken(l, params({}), createRng(1)).top).toEqual([]);
    let sum = 0;
    for (const x of ls) sum += Math.exp(x);
    expect(sum).toBeCloseTo(1, 6);
  });

  it('logSoftmax is stable for huge logits', () => {
    const ls = logSoftmax(Float32Array.from([1000, 1000, -Infinity]));
    expect(ls[0]).toBeCloseTo(Math.log(0.5), 6);
    expect(ls[2]).toBe(-Infinity);
  });

  it('timing: 128,256-token vocabulary (printed, not asserted)', () => {
    const n = 128256;
    const rng = createRng(11);
    // Roughly LLM-shaped logits: a Gaussian bulk with a few strong candidates.
    const l = new Float32Array(n);
    for (let j = 0; j < n; j++) {
      const u1 = rng.next() || 1e-12;
      const u2 = rng.next();
      l[j] = 2.5 * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }
    for (let k = 0; k < 10; k++) l[Math.floor(rng.next() * n)] = 18 - k;
    const allowed = new Uint32Array(Math.ceil(n / 32)).fill(0xffffffff);
    for (let w = 0; w < allowed.length; w += 3) allowed[w] = 0x0f0f0f0f;
    const counts = new Map<number, number>([[5, 2], [77, 1], [1234, 4]]);
    const configs: [string, Partial<SamplingParams>, boolean][] = [
      ['greedy', { temperature: 0 }, false],
      ['greedy, logprob: false (the decode loop)', { temperature: 0 }, false],
      ['T=1 full vocab', {}, false],
      ['T=0.7 full vocab', { temperature: 0.7 }, false],
      ['T=0.7 top_p=0.9', { temperature: 0.7, topP: 0.9 }, false],
      ['T=1.5 top_p=0.99 (flat nucleus)', { temperature: 1.5, topP: 0.99 }, false],
      ['T=0.8 top_k=50 top_p=0.95', { temperature: 0.8, topK: 50, topP: 0.95 }, false],
      ['T=0.7 top_p=0.9 + mask + penalties + 5 logprobs', { temperature: 0.7, topP: 0.9 }, true],
    ];
    const lines: string[] = [];
    for (const [name, p, extras] of configs) {
      const sp = params(p);
      // 30 timed runs after 5 warm-ups per setting (was 100 after 20, 14.6 s of a loaded npm test): a median of 30
      // is enough for the printed figure, at under a third of the runs.
      const reps = 30;
      const run = (): void => {
        const work = extras ? l.slice() : l;
        if (extras) applyPenalties(work, counts, 0.5, 0.5);
        sampleToken(work, sp, rng, extras ? { allowed, topLogprobs: 5 } : name.includes('logprob: false') ? { logprob: false } : {});
      };
      for (let i = 0; i < 5; i++) run(); // warm-up
      const times: number[] = [];
      for (let i = 0; i < reps; i++) {
        const t0 = performance.now();
        run();
        times.push(performance.now() - t0);
      }
      times.sort((a, b) => a - b);
      const median = times[reps >> 1];
      lines.push(`  ${name.padEnd(50)} median ${median.toFixed(3)} ms, min ${times[0].toFixed(3)} ms`);
      expect(median).toBeGreaterThan(0);
    }
    console.log(`sampleToken over a 128,256-token vocabulary:\n${lines.join('\n')}`);
  });
});

// The seeded runs whose outputs tests/fixtures/llm/sampling-golden.json recorded with the sampler as it was before
// min_p, typical_p, repetition_penalty, mirostat, logit_bias and ignore_eos existed (commit 580eace): requests that
// use none of those fields must keep giving exactly these outputs. Shared by the test and by the generator
// (GOLDEN_WRITE=1 npx vitest run --config vitest.config.ts tests/unit/llm-sampling-defaults.test.ts).
import { createRng } from '../../src/util/rng';
import { applyPenalties, DEFAULT_SAMPLING_PARAMS, sampleToken, type SamplingParams } from '../../src/engines/llm/sampling';
import { mulberry32 } from './random';

export interface SamplerGolden {
  name: string;
  ids: number[];
  logprobs: number[];
  top: number[][];
}

type OldParams = Pick<SamplingParams, 'temperature' | 'topP' | 'topK' | 'frequencyPenalty' | 'presencePenalty'>;

const CONFIGS: [string, Partial<OldParams>][] = [
  ['greedy', { temperature: 0 }],
  ['T=1', {}],
  ['T=0.7', { temperature: 0.7 }],
  ['T=1.4 top_p=0.9', { temperature: 1.4, topP: 0.9 }],
  ['top_k=5', { topK: 5 }],
  ['top_k=40 top_p=0.8 T=0.9', { topK: 40, topP: 0.8, temperature: 0.9 }],
  ['top_p=0.5', { topP: 0.5 }],
  ['penalties', { frequencyPenalty: 0.7, presencePenalty: 0.4, temperature: 0.8 }],
];

/** Runs every config over vocabularies of 300 and 3,000 tokens, with and without a mask and logprobs. */
export function samplerRuns(): SamplerGolden[] {
  const out: SamplerGolden[] = [];
  for (const vocab of [300, 3000]) {
    for (const [name, p] of CONFIGS) {
      for (const variant of ['plain', 'mask+logprobs']) {
        const data = mulberry32(vocab * 31 + name.length * 7 + variant.length);
        const rng = createRng(vocab + name.length);
        const params = { ...DEFAULT_SAMPLING_PARAMS, ...p } as SamplingParams;
        const counts = new Map<number, number>();
        const run: SamplerGolden = { name: `${vocab} ${name} ${variant}`, ids: [], logprobs: [], top: [] };
        for (let step = 0; step < 40; step++) {
          const logits = Float32Array.from({ length: vocab }, () => 6 * data() - 3 + (data() < 0.01 ? 8 : 0));
          applyPenalties(logits, counts, params.frequencyPenalty, params.presencePenalty);
          let allowed: Uint32Array | undefined;
          if (variant !== 'plain') {
            allowed = Uint32Array.from({ length: Math.ceil(vocab / 32) }, () => (data() * 4294967296) >>> 0);
            allowed[0] |= 1;
          }
          const r = sampleToken(logits, params, rng, variant === 'plain' ? {} : { allowed, topLogprobs: 3 });
          counts.set(r.id, (counts.get(r.id) ?? 0) + 1);
          run.ids.push(r.id);
          run.logprobs.push(r.logprob);
          run.top.push(r.top.map((t) => t.id));
        }
        out.push(run);
      }
    }
  }
  return out;
}

/** Engine-level runs on the tiny Llama: completion bodies whose sampled outputs were recorded. */
export const ENGINE_BODIES: Record<string, unknown>[] = [
  { prompt: 'Once upon a time', max_tokens: 24, temperature: 1, seed: 7, n: 2, logprobs: 2 },
  { prompt: 'Once upon a time', max_tokens: 24, temperature: 0.8, top_p: 0.9, top_k: 40, seed: 11, frequency_penalty: 0.5, presence_penalty: 0.3 },
  { prompt: 'The cat', max_tokens: 16, temperature: 1.3, top_k: 8, seed: 3, n: 3 },
];

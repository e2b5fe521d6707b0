// Requests that use none of the sampling fields added for the live API surface (min_p, typical_p,
// repetition_penalty, mirostat, logit_bias, ignore_eos) sample exactly as before them: seeded runs of the sampler
// and of the tiny Llama end to end equal outputs recorded with the previous sampler (tests/fixtures/llm/sampling-golden.json).
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ENGINE_BODIES, samplerRuns, type SamplerGolden } from './sampling-golden-cases';
import { nodeApi, post, readJson, ROOT } from './node-api';

const GOLDEN = 'tests/fixtures/llm/sampling-golden.json';
interface Golden { sampler: SamplerGolden[]; engine: unknown[] }

const { handle } = nodeApi();
async function engineRuns(): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const body of ENGINE_BODIES) {
    const res = await handle(post('/completions', { model: 'hearth/tiny-llama', ...body }));
    const json = (await res.json()) as { choices: unknown[] };
    out.push(json.choices);
  }
  return out;
}

describe('default sampling is unchanged', () => {
  if (process.env.GOLDEN_WRITE) {
    it('writes the golden file', async () => {
      const golden: Golden = { sampler: samplerRuns(), engine: await engineRuns() };
      writeFileSync(ROOT + GOLDEN, `${JSON.stringify(golden)}\n`);
    });
    return;
  }
  const golden = readJson<Golden>(GOLDEN);

  it('the sampler: ids, logprobs and top alternatives of 32 seeded runs equal the recorded ones', () => {
    const runs = samplerRuns();
    expect(runs.length).toBe(golden.sampler.length);
    for (const [i, run] of runs.entries()) expect(run, run.name).toEqual(golden.sampler[i]);
  });

  it('the tiny Llama: seeded sampled completions (n, top_k, top_p, penalties, logprobs) equal the recorded ones', async () => {
    expect(await engineRuns()).toEqual(golden.engine);
  });
});

// Greedy decoding and the prefill check as the WGSL decoder's tests run them (ONNX, float16, safetensors and GGUF
// weights alike), written once: the prompt in one step with its last logits read back, then argmax steps on the GPU;
// and a long prompt through the tiled prefill against the token-by-token path.
import { expect } from 'vitest';
import type { WgslDecoder } from '../../src/engines/llm/wgsl/decoder';

export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/**
 * From an empty KV cache: the prompt in one `step` (its last logits read back, `prefillTokens` the rows it answered),
 * then argmax steps on the GPU until `steps` tokens.
 */
export async function greedyOnGpu(decoder: WgslDecoder, ids: number[], steps: number) {
  decoder.reset();
  const first = await decoder.step({ ids: [ids], mask: [ids.map(() => 1)], positions: [ids.map((_, i) => i)] });
  const tokens = [argmax(first.logits)];
  const mask = ids.map(() => 1);
  while (tokens.length < steps) {
    mask.push(1);
    const [next] = await decoder.stepGreedy({ ids: [[tokens.at(-1)!]], mask: [mask], positions: [[ids.length + tokens.length - 1]] });
    tokens.push(next);
  }
  return { tokens, logits: first.logits, prefillTokens: first.tokens };
}

/**
 * A 72-token prompt of seeded random ids (two prefill passes: 64 + 8) gives the token-by-token path's last logits
 * within 1e-4 (`relative`: of 1 + |logit|), and the KV cache the prefill wrote serves the next step as the
 * token-by-token one did (GPU argmax equals the read-back logits' argmax).
 */
export async function expectPrefillEqualsStepwise(decoder: WgslDecoder, seed: number, relative: boolean): Promise<void> {
  expect(decoder.prefillRows).toBe(64);
  const ids = Array.from({ length: 72 }, () => (seed = (seed * 1103515245 + 12345) >>> 0) % decoder.shape.vocabSize);
  const input = { ids: [ids], mask: [ids.map(() => 1)], positions: [ids.map((_, i) => i)] };
  const vocab = decoder.shape.vocabSize;
  const stepwise = await decoder.step(input, { allPositions: true });
  const want = stepwise.logits.slice(71 * vocab, 72 * vocab);
  const prefill = await decoder.step(input);
  expect(prefill.tokens).toBe(1);
  let worst = 0;
  for (let i = 0; i < vocab; i++) worst = Math.max(worst, Math.abs(prefill.logits[i] - want[i]) / (relative ? 1 + Math.abs(want[i]) : 1));
  expect(worst).toBeLessThan(1e-4);
  const next = { ids: [[5]], mask: [[...input.mask[0], 1]], positions: [[72]] };
  const greedy = await decoder.stepGreedy(next);
  expect(greedy[0]).toBe(argmax((await decoder.step(next)).logits));
}

// Deterministic bench inputs: the short sentence for latency, the batch of ~20-word sentences for throughput, the LLM job.
export const MODEL_ID = 'hearth/tiny-embed';
export const SHORT_TEXT = 'The quick brown fox jumps over the lazy dog.';

const WORDS = (
  'the a model fire hearth stone warm light quick slow river mountain city garden window paper music ' +
  'number small large bright dark open quiet early late under over through between about after before ' +
  'train cloud signal answer question memory vector token browser worker service engine batch road'
).split(' ');

/** `count` sentences of `words` words each, from a seeded generator so every run embeds the same texts. */
export function sentences(count = 32, words = 20, seed = 42) {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  return Array.from({ length: count }, () => {
    const w = Array.from({ length: words }, () => WORDS[Math.floor(next() * WORDS.length)]);
    w[0] = w[0][0].toUpperCase() + w[0].slice(1);
    return `${w.join(' ')}.`;
  });
}

// The LLM decode bench: the built-in tiny Llama (context 256) from BOS alone, greedy, 200 new tokens.
export const LLM_MODEL_ID = 'hearth/tiny-llama';
export const LLM_PROMPT = [128000];
export const LLM_MAX_TOKENS = 200;
/** The LLM workloads the decode bench runs, one after the other: the tiny random-weight Llama, then the real
 * stories260K (5 layers, vocab 512) from "Once upon a time" as token ids (greedy: its story may end before max_tokens). */
export const LLM_WORKLOADS = [
  { key: 'llm', model: LLM_MODEL_ID, prompt: LLM_PROMPT, contextLength: 256 },
  { key: 'llmStories260k', model: 'hearth/stories260k', prompt: [1, 403, 407, 261, 378], contextLength: 512 },
];

// The SDXL bench: the built-in tiny SDXL (random weights) text-to-image, K_DPMPP_2M, 10 steps, cfg 7, seed 42, at its
// smallest and largest sizes (64×64 and 128×128 pixels = 8×8 and 16×16 latents), the negative prompt empty.
export const SDXL_MODEL_ID = 'hearth/tiny-sdxl';
export const SDXL_PATH = '/inference/v1/image_generation/accounts/fireworks/models/stable-diffusion-xl-1024-v1-0';
export const SDXL_PROMPT = 'A lighthouse on a cliff, at sunset: 2 red boats!';
export const SDXL_STEPS = 10;
export const SDXL_CFG = 7;
export const SDXL_SEED = 42;
export const SDXL_SIZES = [64, 128];
/**
 * A distinct prompt per timed run, so every run encodes its prompt as a new request would (the pipeline caches the
 * conditioning of recent prompts). The text encoders always see 77 ids, so the extra tokens cost nothing there.
 */
export const sdxlPrompt = (i) => `${SDXL_PROMPT} #${i}`;

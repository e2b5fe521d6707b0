/**
 * A small deterministic PRNG for token sampling: xoshiro128** seeded through splitmix32, so the same seed gives the
 * same sequence on every platform (browser, worker, Node). Not for cryptography.
 */

/** A source of uniform numbers in [0, 1). */
export interface Rng {
  next(): number;
}

const TWO_POW_32 = 4294967296;

/** splitmix32 step: spreads a 32-bit seed over the four xoshiro state words. */
function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * Creates a generator from an integer seed. The seed is read as an unsigned 32-bit integer; larger safe integers
 * (up to 2^53) are folded in too, so distinct seeds stay distinct. Same seed → same sequence.
 */
export function createRng(seed: number): Rng {
  if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
  const whole = Math.trunc(Math.abs(seed));
  const lo = whole >>> 0;
  const hi = Math.floor(whole / TWO_POW_32) >>> 0;
  const mix = { s: (lo ^ Math.imul(hi, 0x27d4eb2d)) | 0 };
  let s0 = splitmix32(mix);
  let s1 = splitmix32(mix);
  let s2 = splitmix32(mix);
  let s3 = splitmix32(mix);
  if ((s0 | s1 | s2 | s3) === 0) s0 = 1; // xoshiro's all-zero state is a fixed point (cannot happen via splitmix, but be safe)

  return {
    next(): number {
      // xoshiro128**: result = rotl(s1 * 5, 7) * 9
      const m = Math.imul(s1, 5);
      const result = Math.imul((m << 7) | (m >>> 25), 9) >>> 0;
      const t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = (s3 << 11) | (s3 >>> 21);
      return result / TWO_POW_32;
    },
  };
}

/**
 * A fresh random seed in [1, 2^32 - 1] from the Web Crypto API (available in pages, workers and Node ≥ 19).
 * Never 0, so it can be reported back where "seed 0" means "pick one at random".
 */
export function randomSeed(): number {
  const buf = new Uint32Array(1);
  do {
    globalThis.crypto.getRandomValues(buf);
  } while (buf[0] === 0);
  return buf[0];
}

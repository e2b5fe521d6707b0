/**
 * Deterministic Gaussian noise for diffusion: the same seed gives the same latents on every device (seeded
 * xoshiro128** through Box–Muller, in float64 then rounded), so a seed reproduces an image.
 */
import { createRng } from '../../util/rng';

export function gaussianNoise(seed: number, length: number): Float32Array {
  const rng = createRng(seed >>> 0);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i += 2) {
    const u1 = Math.max(rng.next(), 1e-12);
    const u2 = rng.next();
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < length) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

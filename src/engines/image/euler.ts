/**
 * The Turbo models' sampler, as diffusers' EulerDiscreteScheduler runs it with `timestep_spacing: "trailing"`
 * (sdxl-turbo, sd-turbo): integer timesteps round(arange(N, 0, −N/steps)) − 1 (1 step: [999]; 4: [999, 749, 499, 249]),
 * their training sigmas and a final 0; the latents start at noise × sigmas[0]; the UNet sees x / sqrt(σ² + 1) at the
 * integer timestep and predicts epsilon; each step is x ← x + (x − denoised)/σ · (σ_next − σ), denoised = x − σ·eps.
 * (sdxl-turbo ships EulerAncestralDiscreteScheduler: at one step, and at every last step, it adds no noise, so the two
 * agree there; with more steps this deterministic Euler is what we run.)
 */
import type { KarrasSchedule } from './scheduler';

export interface TrailingSchedule {
  /** The integer UNet timestep of each step. */
  timesteps: number[];
  /** steps + 1 sigmas: one per step, then 0. */
  sigmas: Float64Array;
}

export function trailingSchedule(train: KarrasSchedule, steps: number): TrailingSchedule {
  const n = train.trainSigmas.length;
  const timesteps: number[] = [];
  for (let i = 0; i < steps; i++) timesteps.push(roundHalfEven(n - (i * n) / steps) - 1);
  const sigmas = new Float64Array(steps + 1);
  timesteps.forEach((t, i) => (sigmas[i] = train.trainSigmas[t]));
  return { timesteps, sigmas };
}

/** One Euler step of `x` in place from sigmas[i] to sigmas[i+1], given the (guided) epsilon. */
export function eulerStep(x: Float32Array, eps: ArrayLike<number>, sigmas: ArrayLike<number>, i: number): void {
  const sigma = sigmas[i];
  const dt = sigmas[i + 1] - sigma;
  for (let k = 0; k < x.length; k++) {
    const denoised = x[k] - sigma * eps[k];
    x[k] = x[k] + ((x[k] - denoised) / sigma) * dt;
  }
}

/** numpy's round (ties to even), which diffusers' timesteps use: 812.5 → 812, where Math.round gives 813. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The K_DPMPP_2M sampler as k-diffusion defines it: DPM-Solver++(2M) over Karras sigmas (rho 7) between the
 * model's smallest and largest training sigmas, with the CompVis epsilon-prediction wrapper (the UNet sees
 * x / sqrt(sigma² + 1) at the fractional timestep of sigma; denoised = x − sigma·eps). Pure math over Float32Arrays.
 */

export interface SchedulerConfig {
  num_train_timesteps: number;
  beta_start: number;
  beta_end: number;
  beta_schedule: 'scaled_linear' | 'linear';
}

export class KarrasSchedule {
  /** sigma of every training timestep, ascending (index = timestep). */
  readonly trainSigmas: Float64Array;
  private readonly logSigmas: Float64Array;

  constructor(config: SchedulerConfig) {
    const n = config.num_train_timesteps;
    const betas = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const f = n === 1 ? 0 : i / (n - 1);
      betas[i] = config.beta_schedule === 'scaled_linear'
        ? (Math.sqrt(config.beta_start) + f * (Math.sqrt(config.beta_end) - Math.sqrt(config.beta_start))) ** 2
        : config.beta_start + f * (config.beta_end - config.beta_start);
    }
    this.trainSigmas = new Float64Array(n);
    let alphaCumprod = 1;
    for (let i = 0; i < n; i++) {
      alphaCumprod *= 1 - betas[i];
      this.trainSigmas[i] = Math.sqrt((1 - alphaCumprod) / alphaCumprod);
    }
    this.logSigmas = this.trainSigmas.map(Math.log);
  }

  get sigmaMin(): number { return this.trainSigmas[0]; }
  get sigmaMax(): number { return this.trainSigmas[this.trainSigmas.length - 1]; }

  /** `steps` Karras sigmas from sigma_max down to sigma_min, then a final 0 (k-diffusion's get_sigmas_karras). */
  sigmas(steps: number, rho = 7): Float64Array {
    const out = new Float64Array(steps + 1);
    const minInv = this.sigmaMin ** (1 / rho);
    const maxInv = this.sigmaMax ** (1 / rho);
    for (let i = 0; i < steps; i++) {
      const ramp = steps === 1 ? 0 : i / (steps - 1);
      out[i] = (maxInv + ramp * (minInv - maxInv)) ** rho;
    }
    out[steps] = 0;
    return out;
  }

  /** The fractional training timestep whose sigma is `sigma` (log-sigma interpolation, k-diffusion's sigma_to_t). */
  sigmaToT(sigma: number): number {
    const logSigma = Math.log(sigma);
    const ls = this.logSigmas;
    let low = 0;
    for (let i = 0; i < ls.length; i++) if (logSigma - ls[i] >= 0) low = i;
    low = Math.min(low, ls.length - 2);
    const high = low + 1;
    let w = (ls[low] - logSigma) / (ls[low] - ls[high]);
    w = Math.min(1, Math.max(0, w));
    return (1 - w) * low + w * high;
  }
}

/** One DPM-Solver++(2M) update of `x` in place, from sigmas[i] to sigmas[i+1], given this step's denoised estimate. */
export function dpmpp2mStep(
  x: Float32Array, denoised: Float32Array, oldDenoised: Float32Array | null, sigmas: ArrayLike<number>, i: number,
): void {
  const sigma = sigmas[i];
  const next = sigmas[i + 1];
  if (next === 0) {
    x.set(denoised);
    return;
  }
  const t = -Math.log(sigma);
  const tNext = -Math.log(next);
  const h = tNext - t;
  const ratio = next / sigma;
  const coeff = -Math.expm1(-h);
  if (!oldDenoised || i === 0) {
    for (let k = 0; k < x.length; k++) x[k] = ratio * x[k] + coeff * denoised[k];
    return;
  }
  const hLast = t + Math.log(sigmas[i - 1]);
  const r = hLast / h;
  const a = 1 + 1 / (2 * r);
  const b = 1 / (2 * r);
  for (let k = 0; k < x.length; k++) x[k] = ratio * x[k] + coeff * (a * denoised[k] - b * oldDenoised[k]);
}

// SDXL denoising loop, GPU-resident (src/engines/image/gpu-loop.ts): classifier-free guidance, the CompVis epsilon
// denoiser and one K_DPMPP_2M (DPM-Solver++(2M)) update, fused. Per element k < n, with the UNet output
// eps [2, n] = (eps_u; eps_c):
//   guided   = eps_u + cfg · (eps_c − eps_u)
//   denoised = x − sigma · guided
//   final (next sigma = 0):  x = denoised
//   first order:             x = ratio · x + coeff · denoised
//   second order:            x = ratio · x + coeff · (a · denoised − b · old)
//   old = denoised
// ratio = sigma_next / sigma, coeff = −expm1(−h), a = 1 + 1/(2r), b = 1/(2r): float64 on the CPU (as scheduler.ts),
// passed as f32. Every value is f32, as in the Float32Array reference (pipeline.ts + scheduler.ts).
struct Params {
  n: u32,
  flags: u32,
  sigma: f32,
  cfg: f32,
  ratio: f32,
  coeff: f32,
  a: f32,
  b: f32,
}

const FIRST_ORDER: u32 = 1u;
const FINAL: u32 = 2u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> eps: array<f32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> old: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let k = gid.x + gid.y * groups.x * 256u;
  if (k >= params.n) {
    return;
  }
  let eu = eps[k];
  let ec = eps[k + params.n];
  let guided = eu + params.cfg * (ec - eu);
  let xk = x[k];
  let denoised = xk - params.sigma * guided;
  var next: f32;
  if ((params.flags & FINAL) != 0u) {
    next = denoised;
  } else if ((params.flags & FIRST_ORDER) != 0u) {
    next = params.ratio * xk + params.coeff * denoised;
  } else {
    next = params.ratio * xk + params.coeff * (params.a * denoised - params.b * old[k]);
  }
  x[k] = next;
  old[k] = denoised;
}

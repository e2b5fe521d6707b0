// SDXL denoising loop, GPU-resident (src/engines/image/gpu-loop.ts): the UNet `sample` input for classifier-free
// guidance. From the latents x [n] (one sample, CHW) write sample [2, n] = x · c_in for both rows (uncond; cond),
// c_in = 1 / sqrt(sigma² + 1) computed in float64 on the CPU and passed as f32.
struct Params {
  n: u32,
  c_in: f32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> sample: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let k = gid.x + gid.y * groups.x * 256u;
  if (k >= params.n) {
    return;
  }
  let v = x[k] * params.c_in;
  sample[k] = v;
  sample[k + params.n] = v;
}

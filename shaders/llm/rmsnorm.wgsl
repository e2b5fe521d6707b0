// RMSNorm as Llama computes it in float32: out[i] = x[i] / sqrt(mean(x²) + eps) · weight[i]. One workgroup per row
// (workgroup_id.x: the token; one when decoding, many in prefill).
// The sum of squares goes through wg_sum_f: reduce_workgroup.wgsl or, where the device has subgroups,
// reduce_subgroup.wgsl, appended to this source (shaders.ts, withReductions).
// CPU reference: rmsNormReference in src/engines/llm/wgsl/reference.ts.

struct Params {
  n: u32,
  eps: f32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const WG = 256u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wg.x * p.n;
  var s = 0.0;
  for (var i = lid; i < p.n; i += WG) { s += x[row + i] * x[row + i]; }
  let inv = inverseSqrt(wg_sum_f(s, lid) / f32(p.n) + p.eps);
  for (var i = lid; i < p.n; i += WG) { out[row + i] = x[row + i] * inv * weight[i]; }
}

// Batch-1 matrix-vector product, out[n] = Σ_k x[k]·W[n,k] (+ bias[n]) (+ out[n] when accumulating: the residual add
// fused into the projection that feeds it), for every weight storage. This file is the part all formats share: the
// parameters, the vector bindings, the epilogue and the two [n, k] row kernels. The reader appended to it
// (shaders.ts gemvSource) binds the weights `w` and defines `row_dot` (Σ over a row's elements first, first + step,
// …) and the [k, n] kernel: gemv_f32.wgsl (float32), gemv_f16.wgsl + a widening library (float16 / bfloat16).
// gemv_nk: W stored [n, k] row-major (torch / safetensors layout, and an embedding used as a tied lm_head): one
//   32-lane row group per output, lanes stride over k, reduced in workgroup memory (gemv_subgroup.wgsl: with
//   subgroupAdd).
// gemv_nk_thread: the same, one invocation per output and no barrier: for short rows (k ≤ 256), where a 32-lane
//   reduction would idle most lanes (and workgroup barriers are what a CPU adapter such as SwiftShader runs slowest).
// CPU reference: gemvReference in src/engines/llm/wgsl/reference.ts.

struct Params {
  k: u32,
  n: u32,
  flags: u32,      // bit 0: add bias; bit 1: accumulate into out
  stride: u32,     // workgroups per row of the 2-D dispatch
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

const LANES = 32u;
const ROWS = 4u;
var<workgroup> partial: array<f32, 128>;

fn store(n: u32, acc: f32) {
  var v = acc;
  if ((p.flags & 1u) != 0u) { v += bias[n]; }
  if ((p.flags & 2u) != 0u) { v += out[n]; }
  out[n] = v;
}

@compute @workgroup_size(128)
fn gemv_nk(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = lid / LANES;
  let lane = lid % LANES;
  let n = (wg.x + wg.y * p.stride) * ROWS + row;
  var acc = 0.0;
  if (n < p.n) { acc = row_dot(n, lane, LANES); }
  partial[lid] = acc;
  workgroupBarrier();
  for (var s = LANES / 2u; s > 0u; s >>= 1u) {
    if (lane < s) { partial[lid] += partial[lid + s]; }
    workgroupBarrier();
  }
  if (lane == 0u && n < p.n) { store(n, partial[lid]); }
}

@compute @workgroup_size(64)
fn gemv_nk_thread(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = (wg.x + wg.y * p.stride) * 64u + lid;
  if (n >= p.n) { return; }
  store(n, row_dot(n, 0u, 1u));
}

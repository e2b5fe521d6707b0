// Batch-1 matrix-vector product over float16 weights, stored as the file stores them (two halves per u32 word,
// element 2i in the low half) and widened with the core builtin unpack2x16float: no `shader-f16` feature needed, so it
// runs on every adapter (SwiftShader, Dawn on NVIDIA); the arithmetic is float32. out[n] = Σ_k x[k]·W[n,k] (+ bias[n])
// (+ out[n] when accumulating). The same entry points as gemv.wgsl:
// gemv_nk: W [n, k] row-major (torch layout, a tied fp16 embedding used as the lm_head): one 32-lane row group per
//   output, lanes stride over whole words (element pairs) when k is even, else over single elements.
// gemv_nk_thread: the same, one invocation per output (short rows, k ≤ 256).
// gemv_kn: W [k, n] (ONNX MatMul initializers): one invocation per output pair (2m, 2m + 1) reading one word per k
//   when n is even (neighbouring invocations read neighbouring words), else one invocation per output.
// CPU reference: gemvReference in src/engines/llm/wgsl/reference.ts.

struct Params {
  k: u32,
  n: u32,
  flags: u32,      // bit 0: add bias; bit 1: accumulate into out
  stride: u32,     // workgroups per row of the 2-D dispatch
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

const LANES = 32u;
const ROWS = 4u;
var<workgroup> partial: array<f32, 128>;

/** Element i of W (in halves from the start of the buffer), widened to f32. */
fn half_at(i: u32) -> f32 {
  let pair = unpack2x16float(w[i >> 1u]);
  return select(pair.x, pair.y, (i & 1u) != 0u);
}

fn store(n: u32, acc: f32) {
  var v = acc;
  if ((p.flags & 1u) != 0u) { v += bias[n]; }
  if ((p.flags & 2u) != 0u) { v += out[n]; }
  out[n] = v;
}

/** Σ over row n's elements lane, lane + step, … (step in elements or, for even k, in pairs). */
fn row_dot(n: u32, first: u32, step: u32) -> f32 {
  var acc = 0.0;
  if ((p.k & 1u) == 0u) {
    let base = n * (p.k >> 1u);
    for (var j = first; j < (p.k >> 1u); j += step) {
      let h = unpack2x16float(w[base + j]);
      acc += h.x * x[2u * j] + h.y * x[2u * j + 1u];
    }
  } else {
    let base = n * p.k;
    for (var k = first; k < p.k; k += step) { acc += half_at(base + k) * x[k]; }
  }
  return acc;
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

// Dispatch: ceil(n / 2 / 64) workgroups when n is even (one invocation per pair), ceil(n / 64) when odd.
@compute @workgroup_size(64)
fn gemv_kn(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.x + wg.y * p.stride) * 64u + lid;
  if ((p.n & 1u) == 0u) {
    let half_n = p.n >> 1u;
    if (i >= half_n) { return; }
    var acc = vec2<f32>(0.0);
    for (var k = 0u; k < p.k; k++) { acc += x[k] * unpack2x16float(w[k * half_n + i]); }
    store(2u * i, acc.x);
    store(2u * i + 1u, acc.y);
  } else {
    if (i >= p.n) { return; }
    var acc = 0.0;
    for (var k = 0u; k < p.k; k++) { acc += x[k] * half_at(k * p.n + i); }
    store(i, acc);
  }
}

// Prefill: the float32 projections of many tokens at once, out[t, n] = Σ_k x[t, k]·W[n, k] (+ bias[n]) (+ out[t, n]
// when accumulating: the residual add), so each weight is read once per 16 tokens instead of once per token.
// Tiled: a workgroup owns 64 outputs × 16 tokens; per 32-wide slice of k it stages the tokens' x (and, for gemm_nk,
// the weight tile, read along k so neighbouring lanes read neighbouring words) in workgroup memory, and each lane
// keeps 16 accumulators (one output, 16 tokens) in registers. Rows of x past the step's tokens hold stale values:
// they are computed and never read (the dispatch covers ceil(tokens / 16) token tiles of `rows` allocated).
// gemm_nk: W stored [n, k] (torch / safetensors, tied heads); gemm_kn: W stored [k, n] (ONNX MatMul initializers).
// Flag bit 3 fuses SwiGLU into the input: x[t, k] is read as silu(x[t, k])·up[t, k] (the MLP's down projection reads
// the gate and up projections directly: one pass fewer per layer).
// The weights (binding 2) and `weight(i)`, element i of W widened to f32, come from a reader appended to this source
// (shaders.ts gemmSource): gemm_f32.wgsl for float32, gemm_f16.wgsl (+ a widen_*.wgsl library) for float16/bfloat16.
// CPU reference: gemmReference in src/engines/llm/wgsl/reference.ts.

struct Params {
  k: u32,
  n: u32,
  flags: u32,      // bit 0: add bias; bit 1: accumulate into out; bit 3: x = silu(x)·up
  rows: u32,       // token rows allocated in x and out
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read> up: array<f32>;

const TN = 64u;
const TT = 16u;
const KT = 32u;
var<workgroup> xs: array<f32, 512>;   // [TT, KT]
var<workgroup> ws: array<f32, 2112>;  // [TN, KT + 1] (padded: no bank conflicts on the column reads)

fn load_x(t0: u32, k0: u32, lid: u32) {
  for (var i = lid; i < TT * KT; i += TN) {
    let t = t0 + i / KT;
    let k = k0 + i % KT;
    var v = 0.0;
    if (t < p.rows && k < p.k) {
      v = x[t * p.k + k];
      if ((p.flags & 8u) != 0u) { v = v / (1.0 + exp(-v)) * up[t * p.k + k]; }
    }
    xs[i] = v;
  }
}

fn store(t0: u32, n: u32, acc: ptr<function, array<f32, 16>>) {
  if (n >= p.n) { return; }
  for (var tt = 0u; tt < TT; tt++) {
    let t = t0 + tt;
    if (t >= p.rows) { return; }
    var v = (*acc)[tt];
    if ((p.flags & 1u) != 0u) { v += bias[n]; }
    if ((p.flags & 2u) != 0u) { v += out[t * p.n + n]; }
    out[t * p.n + n] = v;
  }
}

@compute @workgroup_size(64)
fn gemm_nk(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n0 = wg.x * TN;
  let t0 = wg.y * TT;
  var acc: array<f32, 16>;
  for (var k0 = 0u; k0 < p.k; k0 += KT) {
    load_x(t0, k0, lid);
    for (var i = lid; i < TN * KT; i += TN) {
      let r = i / KT;
      let kk = i % KT;
      var v = 0.0;
      if (n0 + r < p.n && k0 + kk < p.k) { v = weight((n0 + r) * p.k + k0 + kk); }
      ws[r * (KT + 1u) + kk] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < KT; kk++) {
      let wv = ws[lid * (KT + 1u) + kk];
      for (var tt = 0u; tt < TT; tt++) { acc[tt] += wv * xs[tt * KT + kk]; }
    }
    workgroupBarrier();
  }
  store(t0, n0 + lid, &acc);
}

@compute @workgroup_size(64)
fn gemm_kn(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = wg.x * TN + lid;
  let t0 = wg.y * TT;
  let col = min(n, p.n - 1u);
  var acc: array<f32, 16>;
  for (var k0 = 0u; k0 < p.k; k0 += KT) {
    load_x(t0, k0, lid);
    workgroupBarrier();
    let kend = min(KT, p.k - k0);
    for (var kk = 0u; kk < kend; kk++) {
      let wv = weight((k0 + kk) * p.n + col);
      for (var tt = 0u; tt < TT; tt++) { acc[tt] += wv * xs[tt * KT + kk]; }
    }
    workgroupBarrier();
  }
  store(t0, n, &acc);
}

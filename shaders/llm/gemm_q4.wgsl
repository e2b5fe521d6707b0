// Prefill over 4-bit weights in onnxruntime's MatMulNBits layout (see gemv_q4.wgsl for the layout), many tokens at
// once: out[t, n] = Σ_k x[t, k]·(q[n, k] − zp[n, k / bs])·scale[n, k / bs] (+ bias[n]) (+ out[t, n]). A workgroup owns
// 64 outputs × 16 tokens; per 32-wide slice of k the tokens' x is staged in workgroup memory and each lane
// dequantises its row's 4 words (32 nibbles) once and applies each value to 16 tokens held in registers. x past k
// is staged as 0, so the padding of a partial last block adds nothing. Rows of x past the step's tokens hold stale
// values: computed, never read. Flag bit 3 fuses SwiGLU into the input as in gemm.wgsl: x read as silu(x)·up.
// CPU reference: gemmReference in src/engines/llm/wgsl/reference.ts.

struct Params {
  k: u32,
  n: u32,
  flags: u32,      // bit 0: add bias; bit 1: accumulate into out; bit 2: zero points given; bit 3: x = silu(x)·up; bit 4: fp16 scales
  rows: u32,       // token rows allocated in x and out
  blocks: u32,     // blocks per row = ceil(k / bs)
  block_size: u32, // bs, a multiple of 8
  zp_stride: u32,  // bytes of zero points per row
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> q: array<u32>;
@group(0) @binding(3) var<storage, read> scales: array<u32>;
@group(0) @binding(4) var<storage, read> zp: array<u32>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
@group(0) @binding(7) var<storage, read> up: array<f32>;

/** Scale i: float32, or with flag bit 4 float16 (two per word, as MatMulNBits stores fp16 scales). */
fn scale_at(i: u32) -> f32 {
  if ((p.flags & 16u) == 0u) { return bitcast<f32>(scales[i]); }
  let pair = unpack2x16float(scales[i >> 1u]);
  return select(pair.x, pair.y, (i & 1u) != 0u);
}

const TN = 64u;
const TT = 16u;
const KT = 32u;
var<workgroup> xs: array<f32, 512>;   // [TT, KT]

fn zero_point(n: u32, b: u32) -> f32 {
  if ((p.flags & 4u) == 0u) { return 8.0; }
  let byte_index = n * p.zp_stride + b / 2u;
  let byte = (zp[byte_index / 4u] >> ((byte_index % 4u) * 8u)) & 0xffu;
  return f32((byte >> ((b % 2u) * 4u)) & 0xfu);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = wg.x * TN + lid;
  let t0 = wg.y * TT;
  let row = min(n, p.n - 1u);
  let words_per_block = p.block_size / 8u;
  var acc: array<f32, 16>;
  for (var k0 = 0u; k0 < p.k; k0 += KT) {
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
    workgroupBarrier();
    for (var kk = 0u; kk < KT && k0 + kk < p.k; kk += 8u) {
      let k = k0 + kk;
      let b = k / p.block_size;
      let word = q[(row * p.blocks + b) * words_per_block + (k % p.block_size) / 8u];
      let scale = scale_at(row * p.blocks + b);
      let zero = zero_point(row, b);
      for (var j = 0u; j < 8u; j++) {
        let wv = (f32((word >> (4u * j)) & 0xfu) - zero) * scale;
        for (var tt = 0u; tt < TT; tt++) { acc[tt] += wv * xs[tt * KT + kk + j]; }
      }
    }
    workgroupBarrier();
  }
  if (n >= p.n) { return; }
  for (var tt = 0u; tt < TT; tt++) {
    let t = t0 + tt;
    if (t >= p.rows) { return; }
    var v = acc[tt];
    if ((p.flags & 1u) != 0u) { v += bias[n]; }
    if ((p.flags & 2u) != 0u) { v += out[t * p.n + n]; }
    out[t * p.n + n] = v;
  }
}

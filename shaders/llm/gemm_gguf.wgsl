// Prefill over weights stored as a GGUF file stores them, many tokens at once: out[t, n] = Σ_k x[t, k]·W[n, k]
// (+ bias[n]) (+ out[t, n]), W row-major [n, k] in GGML blocks (layouts: gemv_gguf.wgsl). Appended by the host to
// gemv_gguf.wgsl's source (its Params, bindings 1–4 and block readers), the TYPE placeholder bound per block type alike.
// Tiled like gemm.wgsl: a workgroup owns 64 outputs × 16 tokens; per 32-element unit of k it stages the tokens' x in
// workgroup memory, each lane dequantises its row's unit once (32 values in registers) and applies each value to 16
// tokens. x past k is staged as 0 and F16 values past k dequantise to 0, so a partial last unit adds nothing. Rows of
// x past the step's tokens hold stale values: computed, never read. Flag bit 3 fuses SwiGLU into the input as in
// gemm.wgsl: x read as silu(x)·up.
// CPU reference: gemmReference (dequantizeGguf) in src/engines/llm/wgsl/reference.ts.

@group(0) @binding(7) var<storage, read> up: array<f32>;

const TN = 64u;
const TT = 16u;
const KT = 32u;
var<workgroup> xs: array<f32, 512>;   // [TT, KT]
/** The lane's row unit, dequantised. */
var<private> wu: array<f32, 32>;

// --- one unit (32 elements of row n) dequantised into wu ------------------------------------------------------------

fn dequant_f16(n: u32, u: u32) {
  let k0 = u * 32u;
  let base = n * p.row_bytes + 2u * k0;
  for (var e = 0u; e < 32u; e++) {
    wu[e] = select(0.0, half_at(base + 2u * e), k0 + e < p.k);
  }
}

fn dequant_q8_0(n: u32, u: u32) {
  let base = n * p.row_bytes + u * 34u;
  let d = half_at(base);
  for (var i = 0u; i < 8u; i++) {
    let word = word_at(base + 2u + 4u * i);
    for (var j = 0u; j < 4u; j++) { wu[4u * i + j] = d * sbyte(word, j); }
  }
}

fn dequant_q4_0(n: u32, u: u32) {
  let base = n * p.row_bytes + u * 18u;
  let d = half_at(base);
  for (var i = 0u; i < 4u; i++) {
    let word = word_at(base + 2u + 4u * i);
    for (var j = 0u; j < 4u; j++) {
      let byte = (word >> (8u * j)) & 0xffu;
      wu[4u * i + j] = d * (f32(byte & 0xfu) - 8.0);
      wu[16u + 4u * i + j] = d * (f32(byte >> 4u) - 8.0);
    }
  }
}

fn dequant_q4_k(n: u32, u: u32) {
  let b = u / 8u;
  let sub = u % 8u;
  let base = n * p.row_bytes + b * 144u;
  let qs = base + 16u + (sub / 2u) * 32u;
  let shift = (sub % 2u) * 4u;
  let sm = k4_scale_min(base, sub);
  let scale = half_at(base) * sm.x;
  let offset = half_at(base + 2u) * sm.y;
  for (var i = 0u; i < 8u; i++) {
    let word = w[(qs >> 2u) + i];
    for (var j = 0u; j < 4u; j++) { wu[4u * i + j] = scale * f32((word >> (8u * j + shift)) & 0xfu) - offset; }
  }
}

fn dequant_q6_k(n: u32, u: u32) {
  let b = u / 8u;
  let sub = u % 8u;
  let base = n * p.row_bytes + b * 210u;
  // Unit `sub` = quarter (sub % 4) of half (sub / 4): low nibbles from ql, 2 high bits from qh, scales 2 per unit.
  let part = sub / 4u;
  let quarter = sub % 4u;
  let ql = base + part * 64u + (quarter % 2u) * 32u;
  let qh = base + 128u + part * 32u;
  let nibble = select(0u, 4u, quarter >= 2u);
  let d = half_at(base + 208u);
  let s0 = d * f32(bitcast<i32>(byte_at(base + 192u + part * 8u + quarter * 2u) << 24u) >> 24u);
  let s1 = d * f32(bitcast<i32>(byte_at(base + 193u + part * 8u + quarter * 2u) << 24u) >> 24u);
  for (var i = 0u; i < 8u; i++) {
    let low = word_at(ql + 4u * i);
    let high = word_at(qh + 4u * i);
    for (var j = 0u; j < 4u; j++) {
      let q = ((low >> (8u * j + nibble)) & 0xfu) | (((high >> (8u * j + 2u * quarter)) & 3u) << 4u);
      wu[4u * i + j] = select(s0, s1, i >= 4u) * (f32(q) - 32.0);
    }
  }
}

@compute @workgroup_size(64)
fn gemm(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = wg.x * TN + lid;
  let t0 = wg.y * TT;
  let row = min(n, p.n - 1u);
  var acc: array<f32, 16>;
  for (var u = 0u; u < p.units; u++) {
    let k0 = u * KT;
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
    dequant_TYPE(row, u);
    for (var e = 0u; e < KT; e++) {
      let wv = wu[e];
      for (var tt = 0u; tt < TT; tt++) { acc[tt] += wv * xs[tt * KT + e]; }
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

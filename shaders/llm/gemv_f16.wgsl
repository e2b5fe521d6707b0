// gemv.wgsl's reader for 16-bit float weights, stored as the file stores them (two per u32 word, element 2i in the
// low half) and widened by `widen2` from the library appended after it (shaders.ts withWidening): widen_f16.wgsl
// (IEEE half, the core builtin unpack2x16float: no `shader-f16` feature needed, so it runs on every adapter:
// SwiftShader, Dawn on NVIDIA) or widen_bf16.wgsl (bfloat16, a shift); the arithmetic is float32.
// row_dot: over a row of W [n, k], lanes stride over whole words (element pairs) when k is even, else over single
//   elements (gemv.wgsl's gemv_nk and gemv_nk_thread call it).
// gemv_kn: W [k, n] (ONNX MatMul initializers): one invocation per output pair (2m, 2m + 1) reading one word per k
//   when n is even (neighbouring invocations read neighbouring words), else one invocation per output.
// CPU reference: gemvReference in src/engines/llm/wgsl/reference.ts.

@group(0) @binding(2) var<storage, read> w: array<u32>;

/** Element i of W (in halves from the start of the buffer), widened to f32. */
fn half_at(i: u32) -> f32 {
  let pair = widen2(w[i >> 1u]);
  return select(pair.x, pair.y, (i & 1u) != 0u);
}

/** Σ over row n's elements lane, lane + step, … (step in elements or, for even k, in pairs). */
fn row_dot(n: u32, first: u32, step: u32) -> f32 {
  var acc = 0.0;
  if ((p.k & 1u) == 0u) {
    let base = n * (p.k >> 1u);
    for (var j = first; j < (p.k >> 1u); j += step) {
      let h = widen2(w[base + j]);
      acc += h.x * x[2u * j] + h.y * x[2u * j + 1u];
    }
  } else {
    let base = n * p.k;
    for (var k = first; k < p.k; k += step) { acc += half_at(base + k) * x[k]; }
  }
  return acc;
}

// Dispatch: ceil(n / 2 / 64) workgroups when n is even (one invocation per pair), ceil(n / 64) when odd.
@compute @workgroup_size(64)
fn gemv_kn(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.x + wg.y * p.stride) * 64u + lid;
  if ((p.n & 1u) == 0u) {
    let half_n = p.n >> 1u;
    if (i >= half_n) { return; }
    var acc = vec2<f32>(0.0);
    for (var k = 0u; k < p.k; k++) { acc += x[k] * widen2(w[k * half_n + i]); }
    store(2u * i, acc.x);
    store(2u * i + 1u, acc.y);
  } else {
    if (i >= p.n) { return; }
    var acc = 0.0;
    for (var k = 0u; k < p.k; k++) { acc += x[k] * half_at(k * p.n + i); }
    store(i, acc);
  }
}

// gemv.wgsl's reader for float32 weights: the weights binding, `row_dot` over a row of W [n, k], and gemv_kn:
// W stored [k, n] (ONNX MatMul initializers), one invocation per output, reading across n (coalesced).

@group(0) @binding(2) var<storage, read> w: array<f32>;

/** Σ over row n's elements first, first + step, … */
fn row_dot(n: u32, first: u32, step: u32) -> f32 {
  let base = n * p.k;
  var acc = 0.0;
  for (var k = first; k < p.k; k += step) { acc += w[base + k] * x[k]; }
  return acc;
}

@compute @workgroup_size(64)
fn gemv_kn(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = (wg.x + wg.y * p.stride) * 64u + lid;
  if (n >= p.n) { return; }
  var acc = 0.0;
  for (var k = 0u; k < p.k; k++) { acc += x[k] * w[k * p.n + n]; }
  store(n, acc);
}

// gemm.wgsl's weight reader for float32 matrices (appended to gemm.wgsl: shaders.ts gemmSource).

@group(0) @binding(2) var<storage, read> w: array<f32>;

fn weight(i: u32) -> f32 {
  return w[i];
}

// gemm.wgsl's weight reader for 16-bit float matrices, two per u32 word (appended to gemm.wgsl, then a widening
// library defines `widen2`: widen_f16.wgsl for IEEE half, no `shader-f16` needed; widen_bf16.wgsl for bfloat16;
// shaders.ts gemmSource). Arithmetic stays float32.

@group(0) @binding(2) var<storage, read> w: array<u32>;

/** Element i of W (in halves from the start of the buffer), widened to f32. */
fn weight(i: u32) -> f32 {
  let pair = widen2(w[i >> 1u]);
  return select(pair.x, pair.y, (i & 1u) != 0u);
}

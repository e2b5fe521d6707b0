// Widening library for the 16-bit-float kernels (gemv_f16.wgsl, gemv_f16_subgroup.wgsl, gemm_f16.wgsl), appended to
// their source when the matrix is bfloat16 (most Hugging Face model.safetensors): one u32 word holds elements 2i (low
// half) and 2i + 1 (high half); a bfloat16 is the top 16 bits of a float32, so widening is a shift (exact). The IEEE
// half twin is widen_f16.wgsl (shaders.ts withWidening picks one).

fn widen2(word: u32) -> vec2<f32> {
  return vec2<f32>(bitcast<f32>(word << 16u), bitcast<f32>(word & 0xffff0000u));
}

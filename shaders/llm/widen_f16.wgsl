// Widening library for the 16-bit-float kernels (gemv_f16.wgsl, gemv_f16_subgroup.wgsl, gemm_f16.wgsl), appended to
// their source when the matrix is IEEE half (fp16 ONNX exports, safetensors F16): one u32 word holds elements 2i (low
// half) and 2i + 1 (high half); the core builtin unpack2x16float widens them, no `shader-f16` needed. The bfloat16
// twin is widen_bf16.wgsl (shaders.ts withWidening picks one).

fn widen2(word: u32) -> vec2<f32> {
  return unpack2x16float(word);
}

// The token's embedding row → the hidden state x. The token id is read from the step state on the GPU (state[4t] for
// token t = workgroup_id.y, whose row of x it fills: one token when decoding, many in prefill), so a pre-recorded step
// needs no per-token uniforms. embed_f32: a float32 [vocab, hidden] table; embed_f16: a float16 one (two halves per
// word, widened with unpack2x16float); embed_q4: the same table in MatMulNBits' 4-bit layout (see gemv_q4.wgsl), one
// row dequantised.
// CPU reference: embedReference in src/engines/llm/wgsl/reference.ts.

struct Params {
  hidden: u32,
  flags: u32,      // bit 2: zero points given (embed_q4); bit 4: fp16 scales (embed_q4)
  blocks: u32,     // embed_q4: blocks per row
  block_size: u32,
  zp_stride: u32,
  vocab: u32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> state: array<u32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;
@group(0) @binding(3) var<storage, read> table: array<f32>;
@group(0) @binding(4) var<storage, read> q: array<u32>;
@group(0) @binding(5) var<storage, read> scales: array<u32>;
@group(0) @binding(6) var<storage, read> zp: array<u32>;
@group(0) @binding(7) var<storage, read> table16: array<u32>;

/** Scale i: float32, or with flag bit 4 float16 (two per word, as MatMulNBits stores fp16 scales). */
fn scale_at(i: u32) -> f32 {
  if ((p.flags & 16u) == 0u) { return bitcast<f32>(scales[i]); }
  let pair = unpack2x16float(scales[i >> 1u]);
  return select(pair.x, pair.y, (i & 1u) != 0u);
}

@compute @workgroup_size(64)
fn embed_f32(@builtin(global_invocation_id) id: vec3<u32>) {
  let d = id.x;
  if (d >= p.hidden) { return; }
  let token = min(state[4u * id.y], p.vocab - 1u);
  x[id.y * p.hidden + d] = table[token * p.hidden + d];
}

@compute @workgroup_size(64)
fn embed_q4(@builtin(global_invocation_id) id: vec3<u32>) {
  let d = id.x;
  if (d >= p.hidden) { return; }
  let n = min(state[4u * id.y], p.vocab - 1u);
  let b = d / p.block_size;
  let e = d % p.block_size;
  let word = q[(n * p.blocks + b) * (p.block_size / 8u) + e / 8u];
  let value = f32((word >> (4u * (e % 8u))) & 0xfu);
  var zero = 8.0;
  if ((p.flags & 4u) != 0u) {
    let byte_index = n * p.zp_stride + b / 2u;
    let byte = (zp[byte_index / 4u] >> ((byte_index % 4u) * 8u)) & 0xffu;
    zero = f32((byte >> ((b % 2u) * 4u)) & 0xfu);
  }
  x[id.y * p.hidden + d] = (value - zero) * scale_at(n * p.blocks + b);
}

@compute @workgroup_size(64)
fn embed_f16(@builtin(global_invocation_id) id: vec3<u32>) {
  let d = id.x;
  if (d >= p.hidden) { return; }
  let token = min(state[4u * id.y], p.vocab - 1u);
  let i = token * p.hidden + d;
  let pair = unpack2x16float(table16[i >> 1u]);
  x[id.y * p.hidden + d] = select(pair.x, pair.y, (i & 1u) != 0u);
}

// Batch-1 matrix-vector products over weights stored as a GGUF file stores them (llama.cpp's GGML block types),
// dequantised on the fly: out[n] = Σ_k x[k]·W[n, k] (+ bias[n]) (+ out[n]), W row-major [n, k] with blocks along k.
// The file's bytes are uploaded as they are (array<u32> over the tensor's bytes; blocks of 34, 18 or 210 bytes are
// only 2-byte aligned, read through the helpers below). A "unit" is 32 consecutive elements of a row:
//   F16   2 bytes per element;                                       units = ceil(k / 32)
//   Q8_0  blocks of 32: f16 d, 32 × int8 q;                 W = d·q;   units = k / 32
//   Q4_0  blocks of 32: f16 d, 16 bytes (q[j] low nibble of byte j, q[j+16] high);  W = d·(q − 8)
//   Q4_K  super-blocks of 256: f16 d, f16 dmin, 12 bytes of 6-bit sub-block scales/mins, 128 bytes of nibbles
//         (sub-blocks 2c and 2c+1 in the low and high nibbles of bytes 32c…32c+31);   W = d·sc·q − dmin·m
//   Q6_K  super-blocks of 256: ql[128] low nibbles, qh[64] high 2 bits, 16 × int8 scales, f16 d (at the end);
//         W = d·scale·(q − 32)
// gemv_<type>: one 32-lane row group per output, lanes striding over units, reduced in workgroup memory.
// gemv_<type>_thread: one invocation per output and no barrier, for short rows (k ≤ 256).
// embed_<type>: the token's row (token id from the step state: state[4t] for token t = workgroup_id.y, one token
// when decoding, many in prefill) dequantised into that token's row of x.
// gemm_<type> (prefill, many tokens): gemm_gguf.wgsl, appended to this source.
// CPU reference: dequantizeGguf in src/engines/llm/wgsl/gguf-reference.ts.

struct Params {
  k: u32,
  n: u32,
  flags: u32,      // bit 0: add bias; bit 1: accumulate into out; bit 3 (gemm_gguf.wgsl): x = silu(x)·up
  stride: u32,     // workgroups per row of the 2-D dispatch
  units: u32,      // 32-element units per row
  row_bytes: u32,  // bytes per row of W
  rows: u32,       // gemm_gguf.wgsl: token rows allocated in x and out
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

// embed_<type> only: the step states (state[4t] = token t's id) and the hidden states written.
@group(0) @binding(5) var<storage, read> state: array<u32>;
@group(0) @binding(6) var<storage, read_write> hidden: array<f32>;

const LANES = 32u;
const ROWS = 4u;
var<workgroup> partial: array<f32, 128>;

fn byte_at(o: u32) -> u32 {
  return (w[o >> 2u] >> ((o & 3u) * 8u)) & 0xffu;
}

/** The float16 at byte offset o (o even). */
fn half_at(o: u32) -> f32 {
  let word = w[o >> 2u];
  return unpack2x16float(select(word & 0xffffu, word >> 16u, (o & 2u) != 0u)).x;
}

/** The 4 bytes at byte offset o (o even), little-endian. */
fn word_at(o: u32) -> u32 {
  let i = o >> 2u;
  if ((o & 2u) == 0u) { return w[i]; }
  return (w[i] >> 16u) | (w[i + 1u] << 16u);
}

fn sbyte(word: u32, j: u32) -> f32 {
  return f32(bitcast<i32>(word << (24u - 8u * j)) >> 24u);
}

// --- one unit (32 elements of row n) · x --------------------------------------------------------------------------

fn unit_f16(n: u32, u: u32) -> f32 {
  let k0 = u * 32u;
  let base = n * p.row_bytes + 2u * k0;
  let end = min(32u, p.k - k0);
  var acc = 0.0;
  for (var e = 0u; e < end; e++) { acc += half_at(base + 2u * e) * x[k0 + e]; }
  return acc;
}

fn unit_q8_0(n: u32, u: u32) -> f32 {
  let base = n * p.row_bytes + u * 34u;
  let k0 = u * 32u;
  var acc = 0.0;
  for (var i = 0u; i < 8u; i++) {
    let word = word_at(base + 2u + 4u * i);
    for (var j = 0u; j < 4u; j++) { acc += sbyte(word, j) * x[k0 + 4u * i + j]; }
  }
  return half_at(base) * acc;
}

fn unit_q4_0(n: u32, u: u32) -> f32 {
  let base = n * p.row_bytes + u * 18u;
  let k0 = u * 32u;
  var qx = 0.0;
  var sx = 0.0;
  for (var i = 0u; i < 4u; i++) {
    let word = word_at(base + 2u + 4u * i);
    for (var j = 0u; j < 4u; j++) {
      let byte = (word >> (8u * j)) & 0xffu;
      let lo = x[k0 + 4u * i + j];
      let hi = x[k0 + 16u + 4u * i + j];
      qx += f32(byte & 0xfu) * lo + f32(byte >> 4u) * hi;
      sx += lo + hi;
    }
  }
  return half_at(base) * (qx - 8.0 * sx);
}

/** Sub-block j's 6-bit scale and min of the Q4_K super-block at byte offset base. */
fn k4_scale_min(base: u32, j: u32) -> vec2<f32> {
  let s = base + 4u;
  if (j < 4u) { return vec2<f32>(f32(byte_at(s + j) & 63u), f32(byte_at(s + j + 4u) & 63u)); }
  let hi = byte_at(s + j + 4u);
  return vec2<f32>(f32((hi & 15u) | ((byte_at(s + j - 4u) >> 6u) << 4u)), f32((hi >> 4u) | ((byte_at(s + j) >> 6u) << 4u)));
}

fn unit_q4_k(n: u32, u: u32) -> f32 {
  let b = u / 8u;
  let sub = u % 8u;
  let base = n * p.row_bytes + b * 144u;
  let qs = base + 16u + (sub / 2u) * 32u;
  let shift = (sub % 2u) * 4u;
  let k0 = b * 256u + sub * 32u;
  var qx = 0.0;
  var sx = 0.0;
  for (var i = 0u; i < 8u; i++) {
    let word = w[(qs >> 2u) + i];
    for (var j = 0u; j < 4u; j++) {
      let xv = x[k0 + 4u * i + j];
      qx += f32((word >> (8u * j + shift)) & 0xfu) * xv;
      sx += xv;
    }
  }
  let sm = k4_scale_min(base, sub);
  return half_at(base) * sm.x * qx - half_at(base + 2u) * sm.y * sx;
}

/** Element l (0…255) of the Q6_K super-block at byte offset base, before d·scale: q − 32 and its scale index. */
fn q6_k_value(base: u32, l: u32) -> vec2<f32> {
  let part = l / 128u;
  let r = l % 128u;
  let quarter = r / 32u;
  let e = r % 32u;
  let ql = byte_at(base + part * 64u + (quarter % 2u) * 32u + e);
  let qh = byte_at(base + 128u + part * 32u + e);
  let low = select(ql & 0xfu, ql >> 4u, quarter >= 2u);
  let q = low | (((qh >> (2u * quarter)) & 3u) << 4u);
  let scale_byte = byte_at(base + 192u + part * 8u + quarter * 2u + e / 16u);
  let scale = f32(bitcast<i32>(scale_byte << 24u) >> 24u);
  return vec2<f32>(f32(q) - 32.0, scale);
}

fn unit_q6_k(n: u32, u: u32) -> f32 {
  let b = u / 8u;
  let sub = u % 8u;
  let base = n * p.row_bytes + b * 210u;
  let k0 = b * 256u + sub * 32u;
  var acc = 0.0;
  for (var e = 0u; e < 32u; e++) {
    let v = q6_k_value(base, sub * 32u + e);
    acc += v.x * v.y * x[k0 + e];
  }
  return half_at(base + 208u) * acc;
}

fn unit_dot(n: u32, u: u32) -> f32 {
  // TYPE is replaced per pipeline by the host (one module per type keeps each kernel's code small).
  return unit_TYPE(n, u);
}

fn store(n: u32, acc: f32) {
  var v = acc;
  if ((p.flags & 1u) != 0u) { v += bias[n]; }
  if ((p.flags & 2u) != 0u) { v += out[n]; }
  out[n] = v;
}

@compute @workgroup_size(128)
fn gemv(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = lid / LANES;
  let lane = lid % LANES;
  let n = (wg.x + wg.y * p.stride) * ROWS + row;
  var acc = 0.0;
  if (n < p.n) {
    for (var u = lane; u < p.units; u += LANES) { acc += unit_dot(n, u); }
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var s = LANES / 2u; s > 0u; s >>= 1u) {
    if (lane < s) { partial[lid] += partial[lid + s]; }
    workgroupBarrier();
  }
  if (lane == 0u && n < p.n) { store(n, partial[lid]); }
}

@compute @workgroup_size(64)
fn gemv_thread(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = (wg.x + wg.y * p.stride) * 64u + lid;
  if (n >= p.n) { return; }
  var acc = 0.0;
  for (var u = 0u; u < p.units; u++) { acc += unit_dot(n, u); }
  store(n, acc);
}

// --- embedding: one dequantised element per invocation -------------------------------------------------------------

fn element_f16(n: u32, d: u32) -> f32 { return half_at(n * p.row_bytes + 2u * d); }

fn element_q8_0(n: u32, d: u32) -> f32 {
  let base = n * p.row_bytes + (d / 32u) * 34u;
  let o = base + 2u + d % 32u;
  return half_at(base) * f32(bitcast<i32>(byte_at(o) << 24u) >> 24u);
}

fn element_q4_0(n: u32, d: u32) -> f32 {
  let base = n * p.row_bytes + (d / 32u) * 18u;
  let e = d % 32u;
  let byte = byte_at(base + 2u + e % 16u);
  return half_at(base) * (f32(select(byte & 0xfu, byte >> 4u, e >= 16u)) - 8.0);
}

fn element_q4_k(n: u32, d: u32) -> f32 {
  let base = n * p.row_bytes + (d / 256u) * 144u;
  let l = d % 256u;
  let sub = l / 32u;
  let byte = byte_at(base + 16u + (sub / 2u) * 32u + l % 32u);
  let q = f32((byte >> ((sub % 2u) * 4u)) & 0xfu);
  let sm = k4_scale_min(base, sub);
  return half_at(base) * sm.x * q - half_at(base + 2u) * sm.y;
}

fn element_q6_k(n: u32, d: u32) -> f32 {
  let base = n * p.row_bytes + (d / 256u) * 210u;
  let v = q6_k_value(base, d % 256u);
  return half_at(base + 208u) * v.y * v.x;
}

@compute @workgroup_size(64)
fn embed(@builtin(global_invocation_id) id: vec3<u32>) {
  let d = id.x;
  if (d >= p.k) { return; }
  let token = min(state[4u * id.y], p.n - 1u);
  hidden[id.y * p.k + d] = element_TYPE(token, d);
}

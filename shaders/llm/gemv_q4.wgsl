// Batch-1 matrix-vector product over 4-bit weights in onnxruntime's MatMulNBits layout, dequantised on the fly:
// W[n, k] = (q[n, k] − zp[n, k / bs]) · scale[n, k / bs], out[n] = Σ_k x[k]·W[n, k] (+ bias[n]) (+ out[n]).
// q: [n, blocks, bs / 2] bytes, element 2j in the low nibble of byte j; zero points (optional): [n, ceil(blocks / 2)]
// bytes, block 2i in the low nibble; without them the zero point is 8. Scales float32, or float16 (q4f16 exports) with
// flag bit 4, widened with unpack2x16float (no `shader-f16` needed). One 32-lane row group per output, each lane
// reading whole blocks (bs / 8 words), reduced in workgroup memory. Elements past k (the last block's padding) are
// skipped. main_thread: one invocation per output and no barrier, for short rows (k ≤ 256). embed_q4 (embed.wgsl): one row of the same matrix dequantised (a quantised embedding table).
// CPU reference: gemvQ4Reference in src/engines/llm/wgsl/reference.ts.

struct Params {
  k: u32,
  n: u32,
  flags: u32,      // bit 0: add bias; bit 1: accumulate into out; bit 2: zero points given; bit 4: fp16 scales
  stride: u32,     // workgroups per row of the 2-D dispatch
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

/** Scale i: float32, or with flag bit 4 float16 (two per word, as MatMulNBits stores fp16 scales). */
fn scale_at(i: u32) -> f32 {
  if ((p.flags & 16u) == 0u) { return bitcast<f32>(scales[i]); }
  let pair = unpack2x16float(scales[i >> 1u]);
  return select(pair.x, pair.y, (i & 1u) != 0u);
}

const LANES = 32u;
const ROWS = 4u;
var<workgroup> partial: array<f32, 128>;

fn zero_point(n: u32, b: u32) -> f32 {
  if ((p.flags & 4u) == 0u) { return 8.0; }
  let byte_index = n * p.zp_stride + b / 2u;
  let byte = (zp[byte_index / 4u] >> ((byte_index % 4u) * 8u)) & 0xffu;
  return f32((byte >> ((b % 2u) * 4u)) & 0xfu);
}

/** Σ over block b of row n of (q − zp)·x, times the block's scale. */
fn block_dot(n: u32, b: u32) -> f32 {
  let words = p.block_size / 8u;
  let base = (n * p.blocks + b) * words;
  let k0 = b * p.block_size;
  var qx = 0.0;
  var sx = 0.0;
  if (k0 + p.block_size <= p.k) {
    for (var i = 0u; i < words; i++) {
      let word = q[base + i];
      let kk = k0 + i * 8u;
      for (var j = 0u; j < 8u; j++) {
        let xv = x[kk + j];
        qx += f32((word >> (4u * j)) & 0xfu) * xv;
        sx += xv;
      }
    }
  } else {
    for (var i = 0u; i < words; i++) {
      let word = q[base + i];
      for (var j = 0u; j < 8u; j++) {
        let kk = k0 + i * 8u + j;
        if (kk < p.k) {
          let xv = x[kk];
          qx += f32((word >> (4u * j)) & 0xfu) * xv;
          sx += xv;
        }
      }
    }
  }
  return scale_at(n * p.blocks + b) * (qx - zero_point(n, b) * sx);
}

@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = lid / LANES;
  let lane = lid % LANES;
  let n = (wg.x + wg.y * p.stride) * ROWS + row;
  var acc = 0.0;
  if (n < p.n) {
    for (var b = lane; b < p.blocks; b += LANES) { acc += block_dot(n, b); }
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var s = LANES / 2u; s > 0u; s >>= 1u) {
    if (lane < s) { partial[lid] += partial[lid + s]; }
    workgroupBarrier();
  }
  if (lane == 0u && n < p.n) {
    var v = partial[lid];
    if ((p.flags & 1u) != 0u) { v += bias[n]; }
    if ((p.flags & 2u) != 0u) { v += out[n]; }
    out[n] = v;
  }
}

@compute @workgroup_size(64)
fn main_thread(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = (wg.x + wg.y * p.stride) * 64u + lid;
  if (n >= p.n) { return; }
  var v = 0.0;
  for (var b = 0u; b < p.blocks; b++) { v += block_dot(n, b); }
  if ((p.flags & 1u) != 0u) { v += bias[n]; }
  if ((p.flags & 2u) != 0u) { v += out[n]; }
  out[n] = v;
}

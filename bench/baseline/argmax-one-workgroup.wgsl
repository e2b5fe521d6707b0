// BASELINE for bench/decode-kernels.mjs: the single-workgroup argmax shaders/llm/argmax.wgsl was until issue 14
// (kept unchanged so the bench can time the multi-workgroup argmax against it on the same device).
// Greedy decoding on the GPU: the index of the largest logit (ties → the lowest index; NaN never wins) into
// result[0], so only a token id is read back. One workgroup.
// CPU reference: argmaxReference in src/engines/llm/wgsl/reference.ts.

struct Params {
  n: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> result: array<u32>;

var<workgroup> best_value: array<f32, 256>;
var<workgroup> best_index: array<u32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  var bv = -3.4028234e38;
  var bi = 0xffffffffu;
  for (var i = lid; i < p.n; i += 256u) {
    let v = logits[i];
    if (v > bv || (bi == 0xffffffffu && v == bv)) {
      bv = v;
      bi = i;
    }
  }
  best_value[lid] = bv;
  best_index[lid] = bi;
  workgroupBarrier();
  for (var k = 128u; k > 0u; k >>= 1u) {
    if (lid < k) {
      let ov = best_value[lid + k];
      let oi = best_index[lid + k];
      if (ov > best_value[lid] || (ov == best_value[lid] && oi < best_index[lid])) {
        best_value[lid] = ov;
        best_index[lid] = oi;
      }
    }
    workgroupBarrier();
  }
  if (lid == 0u) { result[0] = select(best_index[0], 0u, best_index[0] == 0xffffffffu); }
}

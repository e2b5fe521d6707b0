// Causal attention of this token's query over the KV cache (slots 0..pos, pos = state[1]), grouped-query: head h
// reads kv head h / (heads / kv_heads). One workgroup per head: scores (q·k · scale) into a scratch row, softmax with
// the max subtracted, then the weighted sum of v split over groups of lanes and reduced in workgroup memory.
// CPU reference: attentionReference in src/engines/llm/wgsl/reference.ts.

struct Params {
  heads: u32,
  kv_heads: u32,
  head_dim: u32,
  capacity: u32,
  scale: f32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> state: array<u32>;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> k_cache: array<f32>;
@group(0) @binding(4) var<storage, read> v_cache: array<f32>;
@group(0) @binding(5) var<storage, read_write> scores: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

const WG = 256u;
var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wg.x;
  let kvh = h / (p.heads / p.kv_heads);
  let len = state[1] + 1u;
  let hd = p.head_dim;
  let kv_size = p.kv_heads * hd;
  let q0 = h * hd;
  let row = h * p.capacity;

  var m = -3.4028234e38;
  for (var t = lid; t < len; t += WG) {
    let k0 = t * kv_size + kvh * hd;
    var s = 0.0;
    for (var d = 0u; d < hd; d++) { s += q[q0 + d] * k_cache[k0 + d]; }
    s *= p.scale;
    scores[row + t] = s;
    m = max(m, s);
  }
  red[lid] = m;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) { red[lid] = max(red[lid], red[lid + k]); }
    workgroupBarrier();
  }
  let mx = red[0];
  workgroupBarrier();

  var l = 0.0;
  for (var t = lid; t < len; t += WG) {
    let e = exp(scores[row + t] - mx);
    scores[row + t] = e;
    l += e;
  }
  red[lid] = l;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) { red[lid] += red[lid + k]; }
    workgroupBarrier();
  }
  let total = red[0];
  storageBarrier();
  workgroupBarrier();

  let groups = WG / hd;
  let g = lid / hd;
  let d = lid % hd;
  var acc = 0.0;
  if (g < groups) {
    for (var t = g; t < len; t += groups) { acc += scores[row + t] * v_cache[t * kv_size + kvh * hd + d]; }
  }
  red[lid] = acc;
  workgroupBarrier();
  if (lid < hd) {
    var sum = 0.0;
    for (var j = 0u; j < groups; j++) { sum += red[j * hd + lid]; }
    out[q0 + lid] = sum / total;
  }
}

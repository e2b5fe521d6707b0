// Causal grouped-query attention over the KV cache, split-K (flash-decoding): each token t of the step (state[4t + 1]
// = its position pos) attends to cache slots 0..pos; head h reads kv head h / (heads / kv_heads). The slots are cut
// into splits of `chunk`; `split` runs one workgroup per (head, split, token) and writes that split's max score m,
// Σ e^(s − m) and Σ e^(s − m)·v into `partial` ([token, head, split, 2 + head_dim]); `combine` (one workgroup per
// (head, token)) rescales the splits of 0..pos to a common max and normalises. Splits past pos do nothing, so a short
// context costs what it reads while a long one spreads over `splits` workgroups per head instead of one.
// Limits (checked by the decoder): head_dim ≤ 256, chunk ≤ 256. Caches are [slot, kv_head, head_dim]; q and out are
// [token, head, head_dim].
// The split's max and sum go through wg_max_f / wg_sum_f: reduce_workgroup.wgsl or, where the device has subgroups,
// reduce_subgroup.wgsl, appended to this source (shaders.ts, withReductions).
// CPU reference: attentionReference in src/engines/llm/wgsl/reference.ts.

struct Params {
  heads: u32,
  kv_heads: u32,
  head_dim: u32,
  chunk: u32,      // cache slots per split
  splits: u32,     // splits per (head, token) in `partial`
  scale: f32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> state: array<u32>;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> k_cache: array<f32>;
@group(0) @binding(4) var<storage, read> v_cache: array<f32>;
@group(0) @binding(5) var<storage, read_write> partial: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

const WG = 64u;
var<workgroup> qs: array<f32, 256>;
var<workgroup> sc: array<f32, 256>;

@compute @workgroup_size(64)
fn split(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wg.x;
  let s = wg.y;
  let t = wg.z;
  let hd = p.head_dim;
  let kvh = h / (p.heads / p.kv_heads);
  let kv_size = p.kv_heads * hd;
  let len = state[4u * t + 1u] + 1u;
  let start = s * p.chunk;
  let end = min(start + p.chunk, len);
  let count = select(0u, end - start, end > start);
  let q0 = (t * p.heads + h) * hd;
  for (var d = lid; d < hd; d += WG) { qs[d] = q[q0 + d]; }
  workgroupBarrier();

  var m = -3.4028234e38;
  for (var i = lid; i < count; i += WG) {
    let k0 = (start + i) * kv_size + kvh * hd;
    var dot = 0.0;
    for (var d = 0u; d < hd; d++) { dot += qs[d] * k_cache[k0 + d]; }
    let score = dot * p.scale;
    sc[i] = score;
    m = max(m, score);
  }
  let mx = wg_max_f(m, lid);

  var l = 0.0;
  for (var i = lid; i < count; i += WG) {
    let e = exp(sc[i] - mx);
    sc[i] = e;
    l += e;
  }
  let total = wg_sum_f(l, lid);
  if (count == 0u) { return; }

  let base = ((t * p.heads + h) * p.splits + s) * (hd + 2u);
  for (var d = lid; d < hd; d += WG) {
    var acc = 0.0;
    for (var i = 0u; i < count; i++) { acc += sc[i] * v_cache[(start + i) * kv_size + kvh * hd + d]; }
    partial[base + 2u + d] = acc;
  }
  if (lid == 0u) {
    partial[base] = mx;
    partial[base + 1u] = total;
  }
}

@compute @workgroup_size(64)
fn combine(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wg.x;
  let t = wg.y;
  let hd = p.head_dim;
  let len = state[4u * t + 1u] + 1u;
  let used = min((len + p.chunk - 1u) / p.chunk, p.splits);
  let base = (t * p.heads + h) * p.splits;
  var mx = -3.4028234e38;
  for (var s = 0u; s < used; s++) { mx = max(mx, partial[(base + s) * (hd + 2u)]); }
  var total = 0.0;
  for (var s = 0u; s < used; s++) {
    let at = (base + s) * (hd + 2u);
    total += partial[at + 1u] * exp(partial[at] - mx);
  }
  for (var d = lid; d < hd; d += WG) {
    var acc = 0.0;
    for (var s = 0u; s < used; s++) {
      let at = (base + s) * (hd + 2u);
      acc += partial[at + 2u + d] * exp(partial[at] - mx);
    }
    out[(t * p.heads + h) * hd + d] = acc / total;
  }
}

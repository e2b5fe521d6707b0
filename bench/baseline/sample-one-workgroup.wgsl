// BASELINE for bench/decode-kernels.mjs: the single-workgroup sampler shaders/llm/sample.wgsl was until issue 14
// (kept unchanged so the bench can time the multi-workgroup sampler against it on the same device).
// Sampling on the GPU, so only a token id is read back: the CPU sampler's semantics (src/engines/llm/sampling.ts,
// sampleToken) over the logits of one row, with the uniform draw `u` taken from the request's seeded generator on the
// CPU (one draw per sampled token, as sampleToken makes), so a seed gives the same tokens as the CPU path up to float32
// rounding at the edges of the draw. One workgroup of 256 lanes, each owning a contiguous range of token ids.
//  1. work = logits; tokens outside the grammar bitmask are excluded; CTRL repetition penalty (seen tokens), then
//     frequency/presence penalties (generated counts); logit_bias in order (≤ -100 bans; banned ids come as −1000);
//     if a token with bias ≥ 100 is still allowed, only such tokens stay.
//  2. argmax (ties → lowest id): the answer when greedy.
//  3. weights w = exp((l − max) / T); top-k keeps the k highest logits (ties → lower ids) by a binary search on the
//     logits' ordered bits; min-p drops w < min_p (w_max = 1); top-p finds the cutoff c by a binary search on the
//     weights' bits (the largest c with mass(w ≥ c) ≥ top_p · total), keeps w > c and ties at c in id order until the
//     goal_mass is reached.
//  4. the draw: the first kept id (ascending) at which the running sum of kept weights passes u · Σ kept.
// Excluded tokens are marked by a value ≤ −1e38, never by ±Infinity (WGSL may assume no infinities).
// result: [token id, error] — error 1: a logit is NaN or infinite; 2: no token is allowed.
// The sampler buffer (u32 words): header (see TS `samplerWords`), then penalties [id, count, seen] ×, bias [id, f32] ×,
// mask words.
// CPU reference: sampleToken in src/engines/llm/sampling.ts (the tests draw with the same u).

struct Params {
  vocab: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> cfg: array<u32>;
@group(0) @binding(3) var<storage, read_write> work: array<f32>;
@group(0) @binding(4) var<storage, read_write> weight: array<f32>;
@group(0) @binding(5) var<storage, read_write> result: array<u32>;

const WG = 256u;
const EXCLUDED = -3.0e38;
const MAX_FORCED = 256u;
// header words
const H_FLAGS = 0u;       // bit 0 greedy, 1 mask, 2 top-k, 3 top-p, 4 min-p
const H_TOP_K = 1u;
const H_INV_T = 2u;
const H_TOP_P = 3u;
const H_MIN_P = 4u;
const H_U = 5u;
const H_REP = 6u;
const H_FREQ = 7u;
const H_PRES = 8u;
const H_N_PEN = 9u;
const H_N_BIAS = 10u;
const H_PEN_AT = 11u;
const H_BIAS_AT = 12u;
const H_MASK_AT = 13u;
const H_MASK_WORDS = 14u;

var<workgroup> red_f: array<f32, 256>;
var<workgroup> red_u: array<u32, 256>;
var<workgroup> red_i: array<u32, 256>;
var<workgroup> shared_u: u32;
var<workgroup> shared_f: f32;
var<workgroup> forced_ids: array<u32, 256>;
var<workgroup> forced_vals: array<f32, 256>;
var<workgroup> n_forced: u32;
var<workgroup> prefix_f: array<f32, 256>;
var<workgroup> prefix_u: array<u32, 256>;
var<workgroup> header: array<u32, 16>;

fn excluded(l: f32) -> bool { return l <= -1.0e38; }
/** f32 bits → u32 keys in the same order (negative values flipped). */
fn order_key(l: f32) -> u32 {
  let b = bitcast<u32>(l);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

fn sum_u(v: u32, lid: u32) -> u32 {
  red_u[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red_u[lid] += red_u[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { shared_u = red_u[0]; }
  return workgroupUniformLoad(&shared_u);
}

fn sum_f(v: f32, lid: u32) -> f32 {
  red_f[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red_f[lid] += red_f[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { shared_f = red_f[0]; }
  return workgroupUniformLoad(&shared_f);
}

/** Exclusive prefix over lanes of per-lane counts (prefix_u) and sums (prefix_f), by lane 0. */
fn lane_prefix(cu: u32, cf: f32, lid: u32) {
  prefix_u[lid] = cu;
  prefix_f[lid] = cf;
  workgroupBarrier();
  if (lid == 0u) {
    var au = 0u;
    var af = 0.0;
    for (var i = 0u; i < WG; i++) {
      let u = prefix_u[i];
      let f = prefix_f[i];
      prefix_u[i] = au;
      prefix_f[i] = af;
      au += u;
      af += f;
    }
  }
  workgroupBarrier();
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  let n = p.vocab;
  let per = (n + WG - 1u) / WG;
  let lo = min(lid * per, n);
  let hi = min(lo + per, n);
  if (lid < 16u) { header[lid] = cfg[lid]; }
  // Uniform copies of the header: the control flow below (with barriers inside) depends on them.
  let h = workgroupUniformLoad(&header);
  let flags = h[H_FLAGS];

  // 1. Masked, penalised, biased logits.
  var bad = 0u;
  let mask_at = h[H_MASK_AT];
  let mask_words = h[H_MASK_WORDS];
  for (var j = lo; j < hi; j++) {
    let l = logits[j];
    if ((bitcast<u32>(l) & 0x7f800000u) == 0x7f800000u) { bad = 1u; }
    var v = l;
    if ((flags & 2u) != 0u) {
      let w = j / 32u;
      let bits = select(0u, cfg[mask_at + w], w < mask_words);
      if (((bits >> (j % 32u)) & 1u) == 0u) { v = EXCLUDED; }
    }
    work[j] = v;
  }
  if (sum_u(bad, lid) != 0u) {
    if (lid == 0u) { result[0] = 0u; result[1] = 1u; }
    return;
  }
  storageBarrier();
  let rep = bitcast<f32>(h[H_REP]);
  let freq = bitcast<f32>(h[H_FREQ]);
  let pres = bitcast<f32>(h[H_PRES]);
  let pen_at = h[H_PEN_AT];
  for (var i = lid; i < h[H_N_PEN]; i += WG) {
    let id = cfg[pen_at + 3u * i];
    let count = cfg[pen_at + 3u * i + 1u];
    let seen = cfg[pen_at + 3u * i + 2u];
    if (id < n && !excluded(work[id])) {
      var x = work[id];
      if (seen != 0u && rep != 1.0) { x = select(x * rep, x / rep, x > 0.0); }
      if (count > 0u) { x -= f32(count) * freq + pres; }
      work[id] = x;
    }
  }
  storageBarrier();
  workgroupBarrier();
  if (lid == 0u) {
    let bias_at = h[H_BIAS_AT];
    let nb = h[H_N_BIAS];
    for (var i = 0u; i < nb; i++) {
      let id = cfg[bias_at + 2u * i];
      let b = bitcast<f32>(cfg[bias_at + 2u * i + 1u]);
      if (id < n) {
        if (b <= -100.0) { work[id] = EXCLUDED; } else if (!excluded(work[id])) { work[id] = work[id] + b; }
      }
    }
    var nf = 0u;
    for (var i = 0u; i < nb; i++) {
      let id = cfg[bias_at + 2u * i];
      let b = bitcast<f32>(cfg[bias_at + 2u * i + 1u]);
      if (b >= 100.0 && id < n && !excluded(work[id]) && nf < MAX_FORCED) {
        forced_ids[nf] = id;
        forced_vals[nf] = work[id];
        nf++;
      }
    }
    n_forced = nf;
  }
  storageBarrier();
  let nf = workgroupUniformLoad(&n_forced);
  if (nf > 0u) {
    for (var j = lo; j < hi; j++) { work[j] = EXCLUDED; }
  }
  storageBarrier();
  workgroupBarrier();
  if (lid == 0u) {
    for (var i = 0u; i < nf; i++) { work[forced_ids[i]] = forced_vals[i]; }
  }
  storageBarrier();
  workgroupBarrier();

  // 2. max and argmax (ties → lowest id).
  var bv = EXCLUDED;
  var bi = 0xffffffffu;
  for (var j = lo; j < hi; j++) {
    let v = work[j];
    if (!excluded(v) && (bi == 0xffffffffu || v > bv)) { bv = v; bi = j; }
  }
  red_f[lid] = bv;
  red_i[lid] = bi;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      let ov = red_f[lid + s];
      let oi = red_i[lid + s];
      let mine = red_i[lid];
      if (oi != 0xffffffffu && (mine == 0xffffffffu || ov > red_f[lid] || (ov == red_f[lid] && oi < mine))) {
        red_f[lid] = ov;
        red_i[lid] = oi;
      }
    }
    workgroupBarrier();
  }
  if (lid == 0u) { shared_u = red_i[0]; shared_f = red_f[0]; }
  let argmax = workgroupUniformLoad(&shared_u);
  let mx = workgroupUniformLoad(&shared_f);
  if (argmax == 0xffffffffu) {
    if (lid == 0u) { result[0] = 0u; result[1] = 2u; }
    return;
  }
  if ((flags & 1u) != 0u) {
    if (lid == 0u) { result[0] = argmax; result[1] = 0u; }
    return;
  }

  // 3. Weights, top-k, min-p, top-p.
  let inv_t = bitcast<f32>(h[H_INV_T]);
  var cand = 0u;
  for (var j = lo; j < hi; j++) { if (!excluded(work[j])) { cand++; } }
  let candidates = sum_u(cand, lid);
  let k = h[H_TOP_K];
  var kth = 0u;       // key of the k-th highest logit
  var ties_in = 0xffffffffu;  // ties at kth kept, in id order
  let top_k = (flags & 4u) != 0u && k < candidates;
  if (top_k) {
    var a = 0u;
    var b = 0xffffffffu;
    for (var it = 0u; it < 32u && a < b; it++) {
      let mid = a + (b - a) / 2u + ((b - a) & 1u);
      var c = 0u;
      for (var j = lo; j < hi; j++) { let v = work[j]; if (!excluded(v) && order_key(v) >= mid) { c++; } }
      if (sum_u(c, lid) >= k) { a = mid; } else { b = mid - 1u; }
    }
    kth = a;
    var above = 0u;
    for (var j = lo; j < hi; j++) { let v = work[j]; if (!excluded(v) && order_key(v) > kth) { above++; } }
    ties_in = k - sum_u(above, lid);
  }
  var my_ties = 0u;
  if (top_k) {
    for (var j = lo; j < hi; j++) { let v = work[j]; if (!excluded(v) && order_key(v) == kth) { my_ties++; } }
  }
  lane_prefix(my_ties, 0.0, lid);
  var rank = prefix_u[lid];
  let min_p = select(0.0, bitcast<f32>(h[H_MIN_P]), (flags & 16u) != 0u);
  var mass = 0.0;
  for (var j = lo; j < hi; j++) {
    let v = work[j];
    var w = 0.0;
    var keep = !excluded(v);
    if (keep && top_k) {
      let key = order_key(v);
      if (key < kth) { keep = false; }
      else if (key == kth) {
        keep = rank < ties_in;
        rank++;
      }
    }
    if (keep) { w = exp((v - mx) * inv_t); }
    mass += w;
    weight[j] = w;
  }
  let total = sum_f(mass, lid);
  if (min_p > 0.0) {
    for (var j = lo; j < hi; j++) { if (weight[j] < min_p) { weight[j] = 0.0; } }
  }
  storageBarrier();
  var cut = 0.0;
  var ties_kept = 0xffffffffu;
  if ((flags & 8u) != 0u) {
    let goal_mass = bitcast<f32>(h[H_TOP_P]) * total;
    var a = 0u;
    var b = 0x3f800000u;
    for (var it = 0u; it < 32u && a < b; it++) {
      let mid = a + (b - a) / 2u + ((b - a) & 1u);
      let c = bitcast<f32>(mid);
      var m = 0.0;
      for (var j = lo; j < hi; j++) { let w = weight[j]; if (w >= c) { m += w; } }
      if (sum_f(m, lid) >= goal_mass) { a = mid; } else { b = mid - 1u; }
    }
    cut = bitcast<f32>(a);
    if (cut > 0.0) {
      var above = 0.0;
      var ties = 0u;
      for (var j = lo; j < hi; j++) {
        let w = weight[j];
        if (w > cut) { above += w; } else if (w == cut) { ties++; }
      }
      let kept_above = sum_f(above, lid);
      let all_ties = sum_u(ties, lid);
      if (lid == 0u) {
        var t = 0u;
        var acc = kept_above;
        while (t < all_ties && acc < goal_mass) { acc += cut; t++; }
        shared_u = t;
      }
      ties_kept = workgroupUniformLoad(&shared_u);
    }
  }

  // 4. The draw: kept(j) = w > cut, or w == cut > 0 among the first ties_kept ties (in id order).
  var my_cut_ties = 0u;
  if (cut > 0.0) {
    for (var j = lo; j < hi; j++) { if (weight[j] == cut) { my_cut_ties++; } }
  }
  lane_prefix(my_cut_ties, 0.0, lid);
  let tie_base = prefix_u[lid];
  var lane_mass = 0.0;
  var my_last = 0xffffffffu;
  var tr = 0u;
  for (var j = lo; j < hi; j++) {
    let w = weight[j];
    var kept = w > cut;
    if (!kept && cut > 0.0 && w == cut) {
      kept = tie_base + tr < ties_kept;
      tr++;
    }
    if (kept) {
      lane_mass += w;
      my_last = j;
    }
  }
  lane_prefix(0u, lane_mass, lid);
  let start = prefix_f[lid];
  let kept_total = sum_f(lane_mass, lid);
  let goal = bitcast<f32>(h[H_U]) * kept_total;
  if (lid == 0u) { shared_u = 0xffffffffu; }
  red_i[lid] = select(0u, my_last + 1u, my_last != 0xffffffffu);
  workgroupBarrier();
  if (lane_mass > 0.0 && start <= goal && goal < start + lane_mass) {
    var acc = start;
    tr = 0u;
    for (var j = lo; j < hi; j++) {
      let w = weight[j];
      var kept = w > cut;
      if (!kept && cut > 0.0 && w == cut) {
        kept = tie_base + tr < ties_kept;
        tr++;
      }
      if (kept) {
        acc += w;
        if (goal < acc) {
          shared_u = j;
          break;
        }
      }
    }
  }
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red_i[lid] = max(red_i[lid], red_i[lid + s]); }
    workgroupBarrier();
  }
  if (lid == 0u) {
    var id = shared_u;
    if (id == 0xffffffffu) { id = red_i[0] - 1u; } // rounding past the last kept token: the last one
    result[0] = id;
    result[1] = 0u;
  }
}

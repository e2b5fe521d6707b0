// Sampling on the GPU, so only a token id is read back: the CPU sampler's semantics (src/engines/llm/sampling,
// sampleToken) over the logits of one row, with the uniform draw `u` taken from the request's seeded generator on the
// CPU (one draw per sampled token, as sampleToken makes), so a seed gives the same tokens as the CPU path up to float32
// rounding at the edges of the draw. The vocabulary is spread over many workgroups: chunks of CHUNK tokens, one
// workgroup each, and a few one-workgroup passes over the chunks' summaries. Seven dispatches in order (the entry
// points below; gpu-sampling.ts, SAMPLER_STAGES), each reading what the ones before wrote:
//  prepare      (per chunk) work = logits with the grammar bitmask applied (excluded: ≤ −1e38); a NaN/∞ flag.
//  edit         (one)       CTRL repetition penalty (seen tokens), frequency/presence penalties (generated counts),
//                           logit_bias in order (≤ −100 bans; banned ids come as −1000); if a token with bias ≥ 100 is
//                           still allowed, only such tokens stay.
//  sort_chunks  (per chunk) the chunk's max (ties → lowest id) and candidate count; when top-k or top-p is on, the
//                           chunk's logits as order keys (u32s of the same order; 0 = excluded) sorted descending.
//  pick_top_k   (one)       errors, argmax (the answer when greedy); top-k: the k-th highest key by a binary search whose
//                           counts come from a binary search in each sorted chunk; ties at the k-th kept in id order,
//                           so each chunk keeps a prefix of its sorted keys (C_KEPT).
//  weigh        (per chunk) w = exp((l − max) / T) for the kept prefix; the chunk's total; min-p drops w < min_p
//                           (w_max = 1); the weights and their running sums in sorted (non-increasing) order.
//  pick_nucleus (one)       top-p: the cutoff c, the largest c with mass(w ≥ c) ≥ top_p · total (a binary search on
//                           the weights' bits, each chunk's mass read at a binary-searched index of its running sums);
//                           w > c kept, ties at c in id order until the goal mass; then the chunk the draw lands in.
//  draw         (one)       in that chunk, the first kept id (ascending) at which the running sum of kept weights
//                           passes u · Σ kept (rounding past the last kept token: the last one).
// Without top-k and top-p the chunks are not sorted (nothing searches them). Reductions go through the wg_* functions
// of reduce_workgroup.wgsl or, where the device has subgroups, reduce_subgroup.wgsl, appended to this source
// (shaders.ts, withReductions): counts, maxima and the argmax are exact either way; float sums may round differently.
// result: [token id, error] — error 1: a logit is NaN or infinite; 2: no token is allowed.
// The sampler buffer `cfg` (u32 words): header (see TS `samplerWords`), then penalties [id, count, seen] ×,
// bias [id, f32] ×, mask words. `scratch` (samplerScratchWords): sorted keys, weights, running sums (CHUNK words per
// chunk each), then STAT_WORDS per chunk, then the global words.
// CPU reference: sampleToken in src/engines/llm/sampling (the tests draw with the same u).

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
@group(0) @binding(4) var<storage, read_write> scratch: array<u32>;
@group(0) @binding(5) var<storage, read_write> result: array<u32>;

const WG = 64u;
/** Tokens per chunk (SAMPLER_CHUNK in gpu-sampling.ts): PER_LANE per lane. 64 lanes per workgroup: on SwiftShader
 * the cost of a workgroup grows with its lanes × barriers (4× less here than with 256 lanes); on GPUs the chunks,
 * not the lanes, give the parallelism. */
const CHUNK = 1024u;
const PER_LANE = 16u;
const EXCLUDED = -3.0e38;
const MAX_FORCED = 256u;
const NONE = 0xffffffffu;
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
// per-chunk words
const STAT_WORDS = 8u;
const C_BAD = 0u;         // a NaN or infinite logit
const C_MAXKEY = 1u;      // the largest key (0: no candidate)
const C_ARGMAX = 2u;      // its lowest id
const C_CAND = 3u;        // candidates (not excluded)
const C_KEPT = 4u;        // the sorted prefix top-k keeps (CHUNK without top-k)
const C_TOTAL = 5u;       // f32: Σ w of the kept prefix, before min-p
const C_K_BEFORE = 6u;    // ties at the k-th key in the chunks before
const C_P_BEFORE = 7u;    // ties at the cutoff in the chunks before
// global words
const G_STATE = 0u;       // 1: result written (error, greedy), the later passes do nothing
const G_MX = 1u;
const G_ARGMAX = 2u;
const G_KTH = 3u;
const G_TIES_IN = 4u;
const G_TOPK = 5u;
const G_CUT = 6u;
const G_TIES_KEPT = 7u;
const G_CHUNK = 8u;
const G_START = 9u;
const G_GOAL = 10u;
const G_LAST = 11u;       // 1: rounding put the goal past every chunk: take the chosen chunk's last kept token
const GLOBAL_WORDS = 16u;

var<workgroup> header: array<u32, 16>;
var<workgroup> keys: array<u32, 1024>;
var<workgroup> forced_ids: array<u32, 256>;
var<workgroup> forced_vals: array<f32, 256>;
var<workgroup> n_forced: u32;
var<workgroup> shared_u: u32;

fn excluded(l: f32) -> bool { return l <= -1.0e38; }
/** f32 bits → u32 keys in the same order (negative values flipped). */
fn order_key(l: f32) -> u32 {
  let b = bitcast<u32>(l);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}
/** The logit a key came from. */
fn key_value(k: u32) -> f32 { return bitcast<f32>(select(~k, k & 0x7fffffffu, (k & 0x80000000u) != 0u)); }

fn chunks() -> u32 { return (p.vocab + CHUNK - 1u) / CHUNK; }
fn key_at(c: u32, i: u32) -> u32 { return c * CHUNK + i; }
fn weight_at(c: u32, i: u32) -> u32 { return (chunks() + c) * CHUNK + i; }
fn cum_at(c: u32, i: u32) -> u32 { return (2u * chunks() + c) * CHUNK + i; }
fn stat(c: u32, w: u32) -> u32 { return 3u * chunks() * CHUNK + c * STAT_WORDS + w; }
fn gw(w: u32) -> u32 { return 3u * chunks() * CHUNK + chunks() * STAT_WORDS + w; }
fn getf(i: u32) -> f32 { return bitcast<f32>(scratch[i]); }

/** The header, uniform (control flow with barriers depends on it). */
fn load_header(lid: u32) -> array<u32, 16> {
  if (lid < 16u) { header[lid] = cfg[lid]; }
  return workgroupUniformLoad(&header);
}

/** Whether an earlier pass wrote the result (error, greedy). */
fn finished(lid: u32) -> bool {
  if (lid == 0u) { shared_u = scratch[gw(G_STATE)]; }
  return workgroupUniformLoad(&shared_u) != 0u;
}

fn uniform_word(i: u32, lid: u32) -> u32 {
  if (lid == 0u) { shared_u = scratch[i]; }
  return workgroupUniformLoad(&shared_u);
}

/** The chunks lane `lid` owns in the one-workgroup passes: a contiguous run, so lane order is chunk order. */
fn lane_chunks(lid: u32) -> vec2<u32> {
  let per = (chunks() + WG - 1u) / WG;
  let first = min(lid * per, chunks());
  return vec2<u32>(first, min(first + per, chunks()));
}

/** Keys ≥ key in chunk c (its sorted keys are descending), known to lie in [lo0, hi0]. */
fn key_ge_within(c: u32, key: u32, lo0: u32, hi0: u32) -> u32 {
  var lo = lo0;
  var hi = hi0;
  while (lo < hi) {
    let m = (lo + hi) / 2u;
    if (scratch[key_at(c, m)] >= key) { lo = m + 1u; } else { hi = m; }
  }
  return lo;
}
fn count_key_ge(c: u32, key: u32) -> u32 { return key_ge_within(c, key, 0u, CHUNK); }

/** Weights ≥ w in chunk c (its weights are non-increasing in sorted order), known to lie in [lo0, hi0]. */
fn weight_ge_within(c: u32, w: f32, lo0: u32, hi0: u32) -> u32 {
  var lo = lo0;
  var hi = hi0;
  while (lo < hi) {
    let m = (lo + hi) / 2u;
    if (getf(weight_at(c, m)) >= w) { lo = m + 1u; } else { hi = m; }
  }
  return lo;
}
fn count_weight_ge(c: u32, w: f32) -> u32 { return weight_ge_within(c, w, 0u, CHUNK); }

/** Σ of the first m weights of chunk c (the running sum at the last of them). */
fn mass_of(c: u32, m: u32) -> f32 { return select(0.0, getf(cum_at(c, max(m, 1u) - 1u)), m > 0u); }
/** Σ of the weights ≥ w in chunk c. */
fn mass_ge(c: u32, w: f32) -> f32 { return mass_of(c, count_weight_ge(c, w)); }

/**
 * The binary searches over values (top-k's key, top-p's cutoff) keep, for each chunk a lane owns (up to MAX_OWNED;
 * more are searched in full), the range of positions its count can still take: as the value range [a, b] narrows,
 * count(b) ≤ count(x) ≤ count(a), so each step searches a shrinking bracket instead of the whole chunk (a few
 * dependent loads per step instead of log2(CHUNK)).
 */
const MAX_OWNED = 8u;

/** The lanes' best (key, id): the largest key, then the lowest id. */
fn best_of(key: u32, id: u32, lid: u32) -> vec2<u32> {
  let k = wg_max_u(key, lid);
  return vec2<u32>(k, wg_min_u(select(NONE, id, key == k && id != NONE), lid));
}

@compute @workgroup_size(WG)
fn prepare(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let c = wg.x;
  let n = p.vocab;
  let flags = cfg[H_FLAGS];
  let mask_at = cfg[H_MASK_AT];
  let mask_words = cfg[H_MASK_WORDS];
  var bad = 0u;
  for (var i = 0u; i < PER_LANE; i++) {
    let j = c * CHUNK + i * WG + lid;
    if (j < n) {
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
  }
  let any_bad = wg_max_u(bad, lid);
  if (lid == 0u) { scratch[stat(c, C_BAD)] = any_bad; }
}

@compute @workgroup_size(WG)
fn edit(@builtin(local_invocation_index) lid: u32) {
  let h = load_header(lid);
  let n = p.vocab;
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
  let nf = workgroupUniformLoad(&n_forced);
  if (nf > 0u) {
    // Rare (logit_bias ≥ 100): this one workgroup rewrites the vocabulary.
    for (var j = lid; j < n; j += WG) { work[j] = EXCLUDED; }
    storageBarrier();
    workgroupBarrier();
    if (lid == 0u) {
      for (var i = 0u; i < nf; i++) { work[forced_ids[i]] = forced_vals[i]; }
    }
  }
}

/** Bitonic step: pair t of a stride, ordered descending where its block of `size` is (ascending elsewhere). */
fn compare_swap(t: u32, stride: u32, size: u32) {
  let lo = 2u * stride * (t / stride) + t % stride;
  let hi = lo + stride;
  let a = keys[lo];
  let b = keys[hi];
  if ((a < b) == ((lo & size) == 0u)) {
    keys[lo] = b;
    keys[hi] = a;
  }
}

@compute @workgroup_size(WG)
fn sort_chunks(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = load_header(lid);
  let flags = h[H_FLAGS];
  let sorted = (flags & 1u) == 0u && (flags & 12u) != 0u;
  let c = wg.x;
  let n = p.vocab;
  var best_key = 0u;
  var best_id = NONE;
  var cand = 0u;
  for (var i = 0u; i < PER_LANE; i++) {
    let idx = i * WG + lid;
    let j = c * CHUNK + idx;
    var key = 0u;
    if (j < n) {
      let v = work[j];
      if (!excluded(v)) { key = order_key(v); }
    }
    if (sorted) { keys[idx] = key; } else { scratch[key_at(c, idx)] = key; }
    if (key != 0u) {
      cand++;
      if (key > best_key) {
        best_key = key;
        best_id = j;
      }
    }
  }
  let best = best_of(best_key, best_id, lid);
  let count = wg_sum_u(cand, lid);
  if (sorted) {
    // Bitonic sort, descending. Steps with a stride under PER_LANE compare within one lane's block of PER_LANE keys:
    // no barrier between them (28 barriers in all instead of 55).
    for (var size = 2u; size <= CHUNK; size <<= 1u) {
      for (var stride = size / 2u; stride > 0u; stride >>= 1u) {
        if (stride >= PER_LANE) {
          for (var t = lid; t < CHUNK / 2u; t += WG) { compare_swap(t, stride, size); }
          workgroupBarrier();
        } else {
          for (var q = 0u; q < PER_LANE / 2u; q++) { compare_swap(lid * (PER_LANE / 2u) + q, stride, size); }
          if (stride == 1u) { workgroupBarrier(); }
        }
      }
    }
    for (var i = 0u; i < PER_LANE; i++) { scratch[key_at(c, i * WG + lid)] = keys[i * WG + lid]; }
  }
  if (lid == 0u) {
    scratch[stat(c, C_MAXKEY)] = best.x;
    scratch[stat(c, C_ARGMAX)] = best.y;
    scratch[stat(c, C_CAND)] = count;
  }
}

@compute @workgroup_size(WG)
fn pick_top_k(@builtin(local_invocation_index) lid: u32) {
  let h = load_header(lid);
  let flags = h[H_FLAGS];
  let r = lane_chunks(lid);
  var bad = 0u;
  var mk = 0u;
  var cand = 0u;
  for (var c = r.x; c < r.y; c++) {
    bad = max(bad, scratch[stat(c, C_BAD)]);
    mk = max(mk, scratch[stat(c, C_MAXKEY)]);
    cand += scratch[stat(c, C_CAND)];
  }
  let any_bad = wg_max_u(bad, lid);
  let maxkey = wg_max_u(mk, lid);
  var first = NONE;
  for (var c = r.x; c < r.y; c++) {
    if (maxkey != 0u && scratch[stat(c, C_MAXKEY)] == maxkey) {
      first = scratch[stat(c, C_ARGMAX)];
      break;
    }
  }
  let argmax = wg_min_u(first, lid);
  let candidates = wg_sum_u(cand, lid);
  var state = 0u;
  var answer = vec2<u32>(0u, 0u);
  if (any_bad != 0u) { state = 1u; answer = vec2<u32>(0u, 1u); }
  else if (maxkey == 0u) { state = 1u; answer = vec2<u32>(0u, 2u); }
  else if ((flags & 1u) != 0u) { state = 1u; answer = vec2<u32>(argmax, 0u); }
  if (lid == 0u) {
    scratch[gw(G_STATE)] = state;
    if (state != 0u) { result[0] = answer.x; result[1] = answer.y; }
  }
  if (state != 0u) { return; }

  let k = h[H_TOP_K];
  let top_k = (flags & 4u) != 0u && k < candidates;
  var kth = 0u;
  var ties_in = 0u;
  if (top_k) {
    var a = 0u;
    var b = NONE;
    var lo_b: array<u32, MAX_OWNED>;
    var hi_b: array<u32, MAX_OWNED>;
    var at_b: array<u32, MAX_OWNED>;
    for (var i = 0u; i < MAX_OWNED; i++) { hi_b[i] = CHUNK; }
    for (var it = 0u; it < 32u && a < b; it++) {
      let mid = a + (b - a) / 2u + ((b - a) & 1u);
      var m = 0u;
      for (var c = r.x; c < r.y; c++) {
        let i = c - r.x;
        if (i < MAX_OWNED) {
          at_b[i] = key_ge_within(c, mid, lo_b[i], hi_b[i]);
          m += at_b[i];
        } else {
          m += count_key_ge(c, mid);
        }
      }
      let up = wg_sum_u(m, lid) >= k;
      if (up) { a = mid; } else { b = mid - 1u; }
      for (var i = 0u; i < min(r.y - r.x, MAX_OWNED); i++) {
        if (up) { hi_b[i] = at_b[i]; } else { lo_b[i] = at_b[i]; }
      }
    }
    kth = a;
    var above = 0u;
    for (var c = r.x; c < r.y; c++) { above += count_key_ge(c, kth + 1u); }
    ties_in = k - wg_sum_u(above, lid);
  }
  var my_ties = 0u;
  if (top_k) {
    for (var c = r.x; c < r.y; c++) { my_ties += count_key_ge(c, kth) - count_key_ge(c, kth + 1u); }
  }
  var before = wg_prefix_u(my_ties, lid);
  for (var c = r.x; c < r.y; c++) {
    var kept = CHUNK;
    scratch[stat(c, C_K_BEFORE)] = before;
    if (top_k) {
      let above = count_key_ge(c, kth + 1u);
      let ties = count_key_ge(c, kth) - above;
      kept = above + min(ties, select(0u, ties_in - before, ties_in > before));
      before += ties;
    }
    scratch[stat(c, C_KEPT)] = kept;
  }
  if (lid == 0u) {
    scratch[gw(G_MX)] = bitcast<u32>(key_value(maxkey));
    scratch[gw(G_ARGMAX)] = argmax;
    scratch[gw(G_KTH)] = kth;
    scratch[gw(G_TIES_IN)] = ties_in;
    scratch[gw(G_TOPK)] = select(0u, 1u, top_k);
  }
}

@compute @workgroup_size(WG)
fn weigh(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = load_header(lid);
  if (finished(lid)) { return; }
  let flags = h[H_FLAGS];
  let c = wg.x;
  let mx = getf(gw(G_MX));
  let inv_t = bitcast<f32>(h[H_INV_T]);
  let min_p = select(0.0, bitcast<f32>(h[H_MIN_P]), (flags & 16u) != 0u);
  let kept = scratch[stat(c, C_KEPT)];
  var total = 0.0;
  var lane = 0.0;
  var ws: array<f32, PER_LANE>;
  for (var i = 0u; i < PER_LANE; i++) {
    let idx = lid * PER_LANE + i;
    let key = scratch[key_at(c, idx)];
    var w = 0.0;
    if (idx < kept && key != 0u) { w = exp((key_value(key) - mx) * inv_t); }
    total += w;
    if (w < min_p) { w = 0.0; }
    lane += w;
    ws[i] = w;
  }
  var acc = wg_prefix_f(lane, lid);
  for (var i = 0u; i < PER_LANE; i++) {
    let idx = lid * PER_LANE + i;
    acc += ws[i];
    scratch[weight_at(c, idx)] = bitcast<u32>(ws[i]);
    scratch[cum_at(c, idx)] = bitcast<u32>(acc);
  }
  let chunk_total = wg_sum_f(total, lid);
  if (lid == 0u) { scratch[stat(c, C_TOTAL)] = bitcast<u32>(chunk_total); }
}

@compute @workgroup_size(WG)
fn pick_nucleus(@builtin(local_invocation_index) lid: u32) {
  let h = load_header(lid);
  if (finished(lid)) { return; }
  let flags = h[H_FLAGS];
  let r = lane_chunks(lid);
  var t = 0.0;
  for (var c = r.x; c < r.y; c++) { t += getf(stat(c, C_TOTAL)); }
  let total = wg_sum_f(t, lid);
  var cut = 0.0;
  var ties_kept = NONE;
  if ((flags & 8u) != 0u) {
    let goal_mass = bitcast<f32>(h[H_TOP_P]) * total;
    var a = 0u;
    var b = 0x3f800000u;
    var lo_b: array<u32, MAX_OWNED>;
    var hi_b: array<u32, MAX_OWNED>;
    var at_b: array<u32, MAX_OWNED>;
    for (var i = 0u; i < MAX_OWNED; i++) { hi_b[i] = CHUNK; }
    for (var it = 0u; it < 32u && a < b; it++) {
      let mid = a + (b - a) / 2u + ((b - a) & 1u);
      let cm = bitcast<f32>(mid);
      var m = 0.0;
      for (var c = r.x; c < r.y; c++) {
        let i = c - r.x;
        if (i < MAX_OWNED) {
          at_b[i] = weight_ge_within(c, cm, lo_b[i], hi_b[i]);
          m += mass_of(c, at_b[i]);
        } else {
          m += mass_ge(c, cm);
        }
      }
      let up = wg_sum_f(m, lid) >= goal_mass;
      if (up) { a = mid; } else { b = mid - 1u; }
      for (var i = 0u; i < min(r.y - r.x, MAX_OWNED); i++) {
        if (up) { hi_b[i] = at_b[i]; } else { lo_b[i] = at_b[i]; }
      }
    }
    cut = bitcast<f32>(a);
    if (cut > 0.0) {
      let up = bitcast<f32>(a + 1u);
      var above = 0.0;
      var ties = 0u;
      for (var c = r.x; c < r.y; c++) {
        above += mass_ge(c, up);
        ties += count_weight_ge(c, cut) - count_weight_ge(c, up);
      }
      let kept_above = wg_sum_f(above, lid);
      let all_ties = wg_sum_u(ties, lid);
      if (lid == 0u) {
        var kept_ties = 0u;
        var acc = kept_above;
        while (kept_ties < all_ties && acc < goal_mass) { acc += cut; kept_ties++; }
        shared_u = kept_ties;
      }
      ties_kept = workgroupUniformLoad(&shared_u);
    }
  }
  // Each chunk's kept mass (w > cut, and its share of the kept ties) and ties before it, for the draw.
  let up = bitcast<f32>(bitcast<u32>(cut) + 1u);
  var my_ties = 0u;
  if (cut > 0.0) {
    for (var c = r.x; c < r.y; c++) { my_ties += count_weight_ge(c, cut) - count_weight_ge(c, up); }
  }
  var tb = wg_prefix_u(my_ties, lid);
  var lane_mass = 0.0;
  for (var c = r.x; c < r.y; c++) {
    var m = getf(cum_at(c, CHUNK - 1u));
    if (cut > 0.0) {
      let ties = count_weight_ge(c, cut) - count_weight_ge(c, up);
      m = mass_ge(c, up) + f32(min(ties, select(0u, ties_kept - tb, ties_kept > tb))) * cut;
      scratch[stat(c, C_P_BEFORE)] = tb;
      tb += ties;
    }
    lane_mass += m;
  }
  let lane_start = wg_prefix_f(lane_mass, lid);
  let kept_total = wg_sum_f(lane_mass, lid);
  let goal = bitcast<f32>(h[H_U]) * kept_total;
  var found = NONE;
  var found_start = 0.0;
  var last = NONE;
  var s = lane_start;
  for (var c = r.x; c < r.y; c++) {
    var m = getf(cum_at(c, CHUNK - 1u));
    if (cut > 0.0) {
      let ties = count_weight_ge(c, cut) - count_weight_ge(c, up);
      let tc = scratch[stat(c, C_P_BEFORE)];
      m = mass_ge(c, up) + f32(min(ties, select(0u, ties_kept - tc, ties_kept > tc))) * cut;
    }
    if (m > 0.0) {
      if (found == NONE && goal < s + m) {
        found = c;
        found_start = s;
      }
      last = c;
    }
    s += m;
  }
  let chosen = wg_min_u(found, lid);
  let last_chunk = wg_max_u(select(0u, last + 1u, last != NONE), lid);
  if (found != NONE && found == chosen) { scratch[gw(G_START)] = bitcast<u32>(found_start); }
  if (lid == 0u) {
    scratch[gw(G_CUT)] = bitcast<u32>(cut);
    scratch[gw(G_TIES_KEPT)] = ties_kept;
    scratch[gw(G_GOAL)] = bitcast<u32>(goal);
    scratch[gw(G_CHUNK)] = select(chosen, max(last_chunk, 1u) - 1u, chosen == NONE);
    scratch[gw(G_LAST)] = select(0u, 1u, chosen == NONE);
    if (last_chunk == 0u) {
      // Nothing kept (min_p > 1): the most likely token, as the CPU sampler keeps it.
      scratch[gw(G_STATE)] = 1u;
      result[0] = scratch[gw(G_ARGMAX)];
      result[1] = 0u;
    }
  }
}

@compute @workgroup_size(WG)
fn draw(@builtin(local_invocation_index) lid: u32) {
  let h = load_header(lid);
  if (finished(lid)) { return; }
  let flags = h[H_FLAGS];
  let c = uniform_word(gw(G_CHUNK), lid);
  let n = p.vocab;
  let mx = getf(gw(G_MX));
  let inv_t = bitcast<f32>(h[H_INV_T]);
  let min_p = select(0.0, bitcast<f32>(h[H_MIN_P]), (flags & 16u) != 0u);
  let top_k = scratch[gw(G_TOPK)] != 0u;
  let kth = scratch[gw(G_KTH)];
  let ties_in = scratch[gw(G_TIES_IN)];
  let cut = getf(gw(G_CUT));
  let ties_kept = scratch[gw(G_TIES_KEPT)];
  let goal = getf(gw(G_GOAL));
  let take_last = scratch[gw(G_LAST)] != 0u;
  let base = c * CHUNK + lid * PER_LANE;
  // Ranks among the ties at the k-th key, then at the cutoff, in id order (lanes own consecutive ids).
  var kt = 0u;
  if (top_k) {
    for (var i = 0u; i < PER_LANE; i++) {
      let j = base + i;
      if (j < n) {
        let v = work[j];
        if (!excluded(v) && order_key(v) == kth) { kt++; }
      }
    }
  }
  var k_rank = scratch[stat(c, C_K_BEFORE)] + wg_prefix_u(kt, lid);
  var ws: array<f32, PER_LANE>;
  var pt = 0u;
  for (var i = 0u; i < PER_LANE; i++) {
    let j = base + i;
    var w = 0.0;
    if (j < n) {
      let v = work[j];
      var keep = !excluded(v);
      if (keep && top_k) {
        let key = order_key(v);
        if (key < kth) { keep = false; }
        else if (key == kth) {
          keep = k_rank < ties_in;
          k_rank++;
        }
      }
      if (keep) { w = exp((v - mx) * inv_t); }
      if (w < min_p) { w = 0.0; }
    }
    ws[i] = w;
    if (cut > 0.0 && w == cut) { pt++; }
  }
  var p_rank = select(0u, scratch[stat(c, C_P_BEFORE)], cut > 0.0) + wg_prefix_u(pt, lid);
  var lane = 0.0;
  var my_last = NONE;
  for (var i = 0u; i < PER_LANE; i++) {
    let w = ws[i];
    var kept = w > cut;
    if (!kept && cut > 0.0 && w == cut) {
      kept = p_rank < ties_kept;
      p_rank++;
    }
    if (kept) {
      lane += w;
      my_last = base + i;
    } else {
      ws[i] = 0.0;
    }
  }
  let lane_start = getf(gw(G_START)) + wg_prefix_f(lane, lid);
  var pick = NONE;
  if (!take_last && lane > 0.0 && goal < lane_start + lane) {
    var acc = lane_start;
    for (var i = 0u; i < PER_LANE; i++) {
      if (ws[i] > 0.0) {
        acc += ws[i];
        if (goal < acc) {
          pick = base + i;
          break;
        }
      }
    }
    if (pick == NONE) { pick = my_last; }
  }
  let chosen = wg_min_u(pick, lid);
  let last = wg_max_u(select(0u, my_last + 1u, my_last != NONE), lid);
  if (lid == 0u) {
    var id = chosen;
    if (id == NONE) { id = select(last - 1u, scratch[gw(G_ARGMAX)], last == 0u); } // rounding past the last kept token: the last one
    result[0] = id;
    result[1] = 0u;
  }
}

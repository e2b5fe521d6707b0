// Greedy decoding on the GPU: the index of the largest logit (ties → the lowest index; NaN and -Infinity never win;
// all of them → 0) into result[0], so only a token id is read back. Spread over the vocabulary in two dispatches:
// `per_chunk` runs one workgroup per CHUNK logits and writes its best (order key, index) to scratch[2c], [2c + 1];
// `combine` (one workgroup) reduces the chunks' pairs. Keys are the logits' bits mapped to u32s of the same order (0:
// none), so the reductions are integer max/min: exact whichever reduction library is appended (wg_max_u, wg_min_u
// from reduce_workgroup.wgsl or reduce_subgroup.wgsl; shaders.ts, withReductions).
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
@group(0) @binding(3) var<storage, read_write> scratch: array<u32>;

const WG = 64u;
/** Logits per `per_chunk` workgroup (ARGMAX_CHUNK in gpu-sampling.ts). */
const CHUNK = 1024u;
const NONE = 0xffffffffu;

/** f32 bits → u32 keys in the same order (negative values flipped). */
fn order_key(l: f32) -> u32 {
  let b = bitcast<u32>(l);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

/** The best (key, index) of the lanes' candidates: the largest key, then the lowest index. */
fn best_of(key: u32, index: u32, lid: u32) -> vec2<u32> {
  let k = wg_max_u(key, lid);
  return vec2<u32>(k, wg_min_u(select(NONE, index, key == k && index != NONE), lid));
}

@compute @workgroup_size(WG)
fn per_chunk(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let base = wg.x * CHUNK;
  var bv = -3.4028234e38;
  var bi = NONE;
  for (var i = base + lid; i < min(base + CHUNK, p.n); i += WG) {
    let v = logits[i];
    if (v > bv || (bi == NONE && v == bv)) {
      bv = v;
      bi = i;
    }
  }
  let best = best_of(select(0u, order_key(bv), bi != NONE), bi, lid);
  if (lid == 0u) {
    scratch[2u * wg.x] = best.x;
    scratch[2u * wg.x + 1u] = best.y;
  }
}

@compute @workgroup_size(WG)
fn combine(@builtin(local_invocation_index) lid: u32) {
  let chunks = (p.n + CHUNK - 1u) / CHUNK;
  var bk = 0u;
  var bi = NONE;
  for (var c = lid; c < chunks; c += WG) {
    let k = scratch[2u * c];
    if (k > bk) {
      bk = k;
      bi = scratch[2u * c + 1u];
    }
  }
  let best = best_of(bk, bi, lid);
  if (lid == 0u) { result[0] = select(best.y, 0u, best.y == NONE); }
}

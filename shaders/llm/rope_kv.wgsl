// Rotary position embedding on a token's q (in place) and k, and the KV-cache write: k (rotated) and v go to
// slot `pos` (state[4t + 1] for token t = workgroup_id.y: one when decoding, many in prefill) of the layer's caches, laid out [slot, kv_head, head_dim]. cos/sin come from a table
// [position, head_dim / 2] computed once on the CPU (Llama-3 rope scaling included), so no transcendental runs here.
// interleaved 0: Hugging Face's half rotation (pairs i, i + d/2); 1: llama.c / GGUF adjacent pairs (2i, 2i + 1).
// CPU reference: ropeReference in src/engines/llm/wgsl/reference.ts.

struct Params {
  heads: u32,
  kv_heads: u32,
  head_dim: u32,
  interleaved: u32,
  capacity: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> state: array<u32>;
@group(0) @binding(2) var<storage, read> cos_sin: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> q: array<f32>;
@group(0) @binding(4) var<storage, read> k: array<f32>;
@group(0) @binding(5) var<storage, read> v: array<f32>;
@group(0) @binding(6) var<storage, read_write> k_cache: array<f32>;
@group(0) @binding(7) var<storage, read_write> v_cache: array<f32>;

fn pair(i: u32) -> vec2<u32> {
  let half = p.head_dim / 2u;
  if (p.interleaved == 0u) { return vec2<u32>(i, i + half); }
  return vec2<u32>(2u * i, 2u * i + 1u);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let half = p.head_dim / 2u;
  let t = id.y;
  let pos = state[4u * t + 1u];
  let idx = id.x;
  let q_pairs = p.heads * half;
  let k_pairs = p.kv_heads * half;
  let kv_size = p.kv_heads * p.head_dim;
  let slot = pos * kv_size;
  let q0 = t * p.heads * p.head_dim;
  let k0 = t * kv_size;
  if (idx < q_pairs) {
    let h = idx / half;
    let i = idx % half;
    let cs = cos_sin[pos * half + i];
    let at = pair(i) + vec2<u32>(q0 + h * p.head_dim);
    let a = q[at.x];
    let b = q[at.y];
    q[at.x] = a * cs.x - b * cs.y;
    q[at.y] = b * cs.x + a * cs.y;
  } else if (idx < q_pairs + k_pairs) {
    let j = idx - q_pairs;
    let h = j / half;
    let i = j % half;
    let cs = cos_sin[pos * half + i];
    let at = pair(i) + vec2<u32>(h * p.head_dim);
    let a = k[k0 + at.x];
    let b = k[k0 + at.y];
    k_cache[slot + at.x] = a * cs.x - b * cs.y;
    k_cache[slot + at.y] = b * cs.x + a * cs.y;
  } else if (idx < q_pairs + k_pairs + kv_size) {
    let e = idx - q_pairs - k_pairs;
    v_cache[slot + e] = v[k0 + e];
  }
}

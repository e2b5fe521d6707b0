// LoRA merge, in place: W += scale · up @ down, over a weight in the layout its ONNX graph stores it.
// W is [rows, cols] row-major, or transposed ([cols, rows]: MatMul weights); float32, or float16 packed two to a u32
// (unpack2x16float/pack2x16float are core WGSL, so no shader-f16 feature is needed). One invocation per u32 word.
// The CPU reference is mergeOnCpu in src/engines/image/lora/merge.ts (same float32 accumulation in rank order).

struct Params {
  rows: u32,
  cols: u32,
  rank: u32,
  transposed: u32,
  count: u32,      // elements of W
  half: u32,       // 1: W is float16
  scale: f32,
  stride: u32,     // invocations per row of the 2-D dispatch
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> up: array<f32>;     // [rows, rank]
@group(0) @binding(2) var<storage, read> down: array<f32>;   // [rank, cols]
@group(0) @binding(3) var<storage, read_write> weight: array<u32>;

fn delta(e: u32) -> f32 {
  var o = e / p.cols;
  var k = e % p.cols;
  if (p.transposed == 1u) {
    o = e % p.rows;
    k = e / p.rows;
  }
  var acc = 0.0;
  for (var r = 0u; r < p.rank; r++) {
    acc = acc + up[o * p.rank + r] * down[r * p.cols + k];
  }
  return p.scale * acc;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let w = id.x + id.y * p.stride;
  if (p.half == 0u) {
    if (w >= p.count) { return; }
    weight[w] = bitcast<u32>(bitcast<f32>(weight[w]) + delta(w));
    return;
  }
  let e = 2u * w;
  if (e >= p.count) { return; }
  var v = unpack2x16float(weight[w]);
  v.x = v.x + delta(e);
  if (e + 1u < p.count) { v.y = v.y + delta(e + 1u); }
  weight[w] = pack2x16float(v);
}

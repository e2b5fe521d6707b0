// Subgroup variant of gemv_q4's main (appended to gemv_q4.wgsl, after `enable subgroups;`, where the adapter has
// subgroups of at most 32 lanes): the 32 lanes of a row group are summed with subgroupAdd, then lane 0 of the row adds
// the 32 / subgroup_size subgroup sums. Assumes subgroups are consecutive local invocation indices (see
// gemv_subgroup.wgsl). CPU reference: gemvReference in src/engines/llm/wgsl/reference.ts.

@compute @workgroup_size(128)
fn main_subgroup(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32,
  @builtin(subgroup_invocation_id) sg_lane: u32, @builtin(subgroup_size) sg_size: u32) {
  let row = lid / LANES;
  let lane = lid % LANES;
  let n = (wg.x + wg.y * p.stride) * ROWS + row;
  var acc = 0.0;
  if (n < p.n) {
    for (var b = lane; b < p.blocks; b += LANES) { acc += block_dot(n, b); }
  }
  let sum = subgroupAdd(acc);
  if (sg_lane == 0u) { partial[lid / sg_size] = sum; }
  workgroupBarrier();
  if (lane == 0u && n < p.n) {
    let per_row = LANES / sg_size;
    var v = 0.0;
    for (var i = 0u; i < per_row; i++) { v += partial[row * per_row + i]; }
    if ((p.flags & 1u) != 0u) { v += bias[n]; }
    if ((p.flags & 2u) != 0u) { v += out[n]; }
    out[n] = v;
  }
}

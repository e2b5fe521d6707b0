// Subgroup variant of gemv_nk, for every weight format (appended to gemv.wgsl, after `enable subgroups;`, before the
// weights' reader: shaders.ts gemvSource), where the adapter has subgroups of at most 32 lanes: each 32-lane row
// group sums its lanes with subgroupAdd (one step per subgroup instead of five barrier-separated halvings), then lane 0 of the row adds the 32 / subgroup_size subgroup sums. Assumes subgroups
// are consecutive local invocation indices (true of 1-D workgroups on the drivers we know; the tests check it).
// CPU reference: gemvReference in src/engines/llm/wgsl/reference.ts.

@compute @workgroup_size(128)
fn gemv_nk_subgroup(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32,
  @builtin(subgroup_invocation_id) sg_lane: u32, @builtin(subgroup_size) sg_size: u32) {
  let row = lid / LANES;
  let lane = lid % LANES;
  let n = (wg.x + wg.y * p.stride) * ROWS + row;
  var acc = 0.0;
  if (n < p.n) { acc = row_dot(n, lane, LANES); }
  let sum = subgroupAdd(acc);
  if (sg_lane == 0u) { partial[lid / sg_size] = sum; }
  workgroupBarrier();
  if (lane == 0u && n < p.n) {
    let per_row = LANES / sg_size;
    var v = 0.0;
    for (var i = 0u; i < per_row; i++) { v += partial[row * per_row + i]; }
    store(n, v);
  }
}

// Workgroup reductions through workgroup memory (the fallback of reduce_subgroup.wgsl, same functions): appended to a
// kernel that declares `const WG: u32` (its workgroup size, a power of two) and calls them from uniform control flow
// with every lane of the workgroup. Sums and maxima return the same value to every lane (uniform, through
// workgroupUniformLoad, so callers may branch on it around barriers); prefixes are exclusive, in lane order. Float
// sums are pairwise trees: the same inputs always give the same bits.

var<workgroup> red_f: array<f32, WG>;
var<workgroup> red_u: array<u32, WG>;
var<workgroup> red_out_f: f32;
var<workgroup> red_out_u: u32;

fn wg_sum_f(v: f32, lid: u32) -> f32 {
  red_f[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red_f[lid] += red_f[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { red_out_f = red_f[0]; }
  return workgroupUniformLoad(&red_out_f);
}

fn wg_max_f(v: f32, lid: u32) -> f32 {
  red_f[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red_f[lid] = max(red_f[lid], red_f[lid + s]); }
    workgroupBarrier();
  }
  if (lid == 0u) { red_out_f = red_f[0]; }
  return workgroupUniformLoad(&red_out_f);
}

fn wg_sum_u(v: u32, lid: u32) -> u32 {
  red_u[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red_u[lid] += red_u[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { red_out_u = red_u[0]; }
  return workgroupUniformLoad(&red_out_u);
}

fn wg_max_u(v: u32, lid: u32) -> u32 {
  red_u[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red_u[lid] = max(red_u[lid], red_u[lid + s]); }
    workgroupBarrier();
  }
  if (lid == 0u) { red_out_u = red_u[0]; }
  return workgroupUniformLoad(&red_out_u);
}

fn wg_min_u(v: u32, lid: u32) -> u32 {
  red_u[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red_u[lid] = min(red_u[lid], red_u[lid + s]); }
    workgroupBarrier();
  }
  if (lid == 0u) { red_out_u = red_u[0]; }
  return workgroupUniformLoad(&red_out_u);
}

/** Σ v over lanes < lid (Hillis–Steele over the lanes shifted by one). */
fn wg_prefix_f(v: f32, lid: u32) -> f32 {
  red_f[lid] = v;
  workgroupBarrier();
  let before = select(0.0, red_f[max(lid, 1u) - 1u], lid > 0u);
  workgroupBarrier();
  red_f[lid] = before;
  workgroupBarrier();
  for (var s = 1u; s < WG; s <<= 1u) {
    let add = select(0.0, red_f[max(lid, s) - s], lid >= s);
    workgroupBarrier();
    red_f[lid] += add;
    workgroupBarrier();
  }
  let out = red_f[lid];
  workgroupBarrier();
  return out;
}

fn wg_prefix_u(v: u32, lid: u32) -> u32 {
  red_u[lid] = v;
  workgroupBarrier();
  for (var s = 1u; s < WG; s <<= 1u) {
    let add = select(0u, red_u[max(lid, s) - s], lid >= s);
    workgroupBarrier();
    red_u[lid] += add;
    workgroupBarrier();
  }
  let out = red_u[lid] - v;
  workgroupBarrier();
  return out;
}

// Workgroup reductions through subgroup operations: the functions of reduce_workgroup.wgsl (same names, same
// contract), for devices with the `subgroups` feature; the kernel's source is preceded by `enable subgroups;` and
// followed by this file (src/engines/llm/wgsl/shaders.ts, withReductions). Each subgroup reduces its lanes in one
// operation, its first lane writes the subgroup's result, and lane 0 combines the WG / subgroup-size results in
// order (two barriers instead of log2(WG) + 1). Assumes, as gemv_subgroup.wgsl does, that a subgroup is a run of
// consecutive local invocation indices starting at a multiple of its size (the kernel tests check the results).
// Float sums are exact up to rounding (the order differs from the fallback's tree); integer results are identical.

var<workgroup> red_f: array<f32, WG>;
var<workgroup> red_u: array<u32, WG>;
var<workgroup> red_out_f: f32;
var<workgroup> red_out_u: u32;

/** Lanes in this subgroup (all lanes are active where these functions are called). */
fn sg_lanes() -> u32 { return subgroupAdd(1u); }

fn wg_sum_f(v: f32, lid: u32) -> f32 {
  let n = sg_lanes();
  let s = subgroupAdd(v);
  if (subgroupElect()) { red_f[lid / n] = s; }
  workgroupBarrier();
  if (lid == 0u) {
    var t = 0.0;
    for (var i = 0u; i < max(WG / n, 1u); i++) { t += red_f[i]; }
    red_out_f = t;
  }
  return workgroupUniformLoad(&red_out_f);
}

fn wg_max_f(v: f32, lid: u32) -> f32 {
  let n = sg_lanes();
  let s = subgroupMax(v);
  if (subgroupElect()) { red_f[lid / n] = s; }
  workgroupBarrier();
  if (lid == 0u) {
    var t = red_f[0];
    for (var i = 1u; i < max(WG / n, 1u); i++) { t = max(t, red_f[i]); }
    red_out_f = t;
  }
  return workgroupUniformLoad(&red_out_f);
}

fn wg_sum_u(v: u32, lid: u32) -> u32 {
  let n = sg_lanes();
  let s = subgroupAdd(v);
  if (subgroupElect()) { red_u[lid / n] = s; }
  workgroupBarrier();
  if (lid == 0u) {
    var t = 0u;
    for (var i = 0u; i < max(WG / n, 1u); i++) { t += red_u[i]; }
    red_out_u = t;
  }
  return workgroupUniformLoad(&red_out_u);
}

fn wg_max_u(v: u32, lid: u32) -> u32 {
  let n = sg_lanes();
  let s = subgroupMax(v);
  if (subgroupElect()) { red_u[lid / n] = s; }
  workgroupBarrier();
  if (lid == 0u) {
    var t = red_u[0];
    for (var i = 1u; i < max(WG / n, 1u); i++) { t = max(t, red_u[i]); }
    red_out_u = t;
  }
  return workgroupUniformLoad(&red_out_u);
}

fn wg_min_u(v: u32, lid: u32) -> u32 {
  let n = sg_lanes();
  let s = subgroupMin(v);
  if (subgroupElect()) { red_u[lid / n] = s; }
  workgroupBarrier();
  if (lid == 0u) {
    var t = red_u[0];
    for (var i = 1u; i < max(WG / n, 1u); i++) { t = min(t, red_u[i]); }
    red_out_u = t;
  }
  return workgroupUniformLoad(&red_out_u);
}

/** Σ v over lanes < lid: the subgroup's exclusive prefix plus the totals of the subgroups before it. */
fn wg_prefix_f(v: f32, lid: u32) -> f32 {
  let n = sg_lanes();
  let inside = subgroupExclusiveAdd(v);
  let total = subgroupAdd(v);
  if (subgroupElect()) { red_f[lid / n] = total; }
  workgroupBarrier();
  if (lid == 0u) {
    var acc = 0.0;
    for (var i = 0u; i < max(WG / n, 1u); i++) {
      let t = red_f[i];
      red_f[i] = acc;
      acc += t;
    }
  }
  workgroupBarrier();
  let out = red_f[lid / n] + inside;
  workgroupBarrier();
  return out;
}

fn wg_prefix_u(v: u32, lid: u32) -> u32 {
  let n = sg_lanes();
  let inside = subgroupExclusiveAdd(v);
  let total = subgroupAdd(v);
  if (subgroupElect()) { red_u[lid / n] = total; }
  workgroupBarrier();
  if (lid == 0u) {
    var acc = 0u;
    for (var i = 0u; i < max(WG / n, 1u); i++) {
      let t = red_u[i];
      red_u[i] = acc;
      acc += t;
    }
  }
  workgroupBarrier();
  let out = red_u[lid / n] + inside;
  workgroupBarrier();
  return out;
}

// Canny stage 6 (Hearth SDXL ControlNet preprocessor): hysteresis, one pass of an iteration run until nothing changes.
// Weak pixels (1) 8-connected to strong pixels (2) become strong. Each workgroup (16x16 invocations, 2x2 pixels
// each) loads its 32x32 tile plus a 1-pixel halo into workgroup memory and propagates inside the tile until the tile
// is stable (the halo is read-only), then writes the promoted pixels back and raises `changed`. The host repeats
// passes until a pass leaves `changed` at 0: then no weak pixel touches a strong one, which is exactly the
// connected-component result. Promotions are monotonic and always justified, so the result does not depend on the
// order in which workgroups or invocations run (labels are atomics: tiles read halos that others may be writing).
// Unpromoted weak pixels stay 1. CPU reference: src/engines/sdxl/canny-reference.ts (hysteresisRef, a flood fill).

struct Params {
  width: u32,
  height: u32,
  low_sq: u32,
  high_sq: u32,
  k0: u32,
  k1: u32,
  k2: u32,
  pad0: u32,
};

const TILE: u32 = 32u;         // pixels per tile side
const SPAN: u32 = 34u;         // TILE + 2 (halo)
const SPAN_AREA: u32 = 1156u;  // SPAN * SPAN
const THREADS: u32 = 256u;     // 16 x 16 invocations
const MAX_LOCAL_ITERS: u32 = 1024u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> labels: array<atomic<u32>>;
@group(0) @binding(2) var<storage, read_write> changed: atomic<u32>;

var<workgroup> tile: array<atomic<u32>, 1156>;
// 1 + the last local sweep in which some pixel of the tile was promoted, and its copy for workgroupUniformLoad.
var<workgroup> last_change: atomic<u32>;
var<workgroup> last_change_copy: u32;

/** Promotes tile pixel `ti` if it is weak and touches a strong pixel; returns whether it did. */
fn promote(ti: u32) -> bool {
  if (atomicLoad(&tile[ti]) != 1u) {
    return false;
  }
  if (atomicLoad(&tile[ti - SPAN - 1u]) == 2u || atomicLoad(&tile[ti - SPAN]) == 2u ||
      atomicLoad(&tile[ti - SPAN + 1u]) == 2u || atomicLoad(&tile[ti - 1u]) == 2u ||
      atomicLoad(&tile[ti + 1u]) == 2u || atomicLoad(&tile[ti + SPAN - 1u]) == 2u ||
      atomicLoad(&tile[ti + SPAN]) == 2u || atomicLoad(&tile[ti + SPAN + 1u]) == 2u) {
    atomicStore(&tile[ti], 2u);
    return true;
  }
  return false;
}

@compute @workgroup_size(16, 16)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
  let w = i32(params.width);
  let h = i32(params.height);
  let ox = i32(wid.x * TILE) - 1;
  let oy = i32(wid.y * TILE) - 1;
  for (var k = li; k < SPAN_AREA; k += THREADS) {
    let tx = ox + i32(k % SPAN);
    let ty = oy + i32(k / SPAN);
    var v = 0u;
    if (tx >= 0 && ty >= 0 && tx < w && ty < h) {
      v = atomicLoad(&labels[u32(ty) * params.width + u32(tx)]);
    }
    atomicStore(&tile[k], v);
  }
  workgroupBarrier();

  // This invocation's 4 pixels: (lid.x + 16a, lid.y + 16b). Only weak pixels inside the image can change.
  var mine = array<u32, 4>(0u, 0u, 0u, 0u);   // tile index, or 0 when the pixel is not a candidate
  for (var j = 0u; j < 4u; j++) {
    let px = lid.x + 16u * (j & 1u);
    let py = lid.y + 16u * (j >> 1u);
    let ti = (py + 1u) * SPAN + px + 1u;
    let gx = wid.x * TILE + px;
    let gy = wid.y * TILE + py;
    if (gx < params.width && gy < params.height && atomicLoad(&tile[ti]) == 1u) {
      mine[j] = ti;
    }
  }

  // Gauss-Seidel style sweeps: a promotion is visible to the rest of the tile as soon as it is stored, and a sweep
  // in which nothing changed anywhere in the tile ends the loop (every check of that sweep saw the final state).
  for (var iter = 0u; iter < MAX_LOCAL_ITERS; iter++) {
    var any = false;
    for (var j = 0u; j < 4u; j++) {
      if (mine[j] != 0u && promote(mine[j])) {
        any = true;
      }
    }
    if (any) {
      atomicStore(&last_change, iter + 1u);
    }
    workgroupBarrier();
    if (li == 0u) {
      last_change_copy = atomicLoad(&last_change);
    }
    if (workgroupUniformLoad(&last_change_copy) <= iter) {
      break;
    }
  }

  for (var j = 0u; j < 4u; j++) {
    let ti = mine[j];
    if (ti != 0u && atomicLoad(&tile[ti]) == 2u) {
      let gx = wid.x * TILE + lid.x + 16u * (j & 1u);
      let gy = wid.y * TILE + lid.y + 16u * (j >> 1u);
      atomicStore(&labels[gy * params.width + gx], 2u);
      atomicStore(&changed, 1u);
    }
  }
}

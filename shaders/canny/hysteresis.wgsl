// Canny stage 6 (Hearth SDXL ControlNet preprocessor): hysteresis as connected-component labelling, in a fixed four
// dispatches with no read-back. Weak (1) and strong (2) pixels are the foreground; a weak pixel becomes strong exactly
// when its 8-connected foreground component holds a strong pixel, which is what the CPU reference's flood from the
// strong pixels computes (src/engines/image/canny-reference.ts, hysteresisRef). Unpromoted weak pixels stay 1.
//
// `parent` is a union-find forest over pixel indices (the block-based union-find of Playne & Hawick, 2018):
// every link points to a smaller index of the same component, so the forest has no cycles and a root is its
// component's smallest index. Links only ever decrease (atomicMin), and a union retries until the two roots it saw
// are joined: lock-free, so it terminates whatever the order or concurrency of invocations (no invocation waits for
// another), and the result does not depend on it.
//   tile_local    one workgroup per 32×32 tile: union-find of the tile's 8-neighbour links in workgroup memory, then
//                 parent[p] = the tile-local root of p (as a global index);
//   border_merge  per pixel: the links that cross a tile border (to the W, NW, N and NE neighbours, so each is taken
//                 once) are unions in the global forest;
//   compress      per pixel: parent[p] = the root of p (path halving on the way), and a strong pixel sets its root's
//                 STRONG bit (roots keep their index in the low 31 bits);
//   promote       per pixel: a weak pixel whose root has the STRONG bit becomes strong.
// WebGPU orders the dispatches of a pass, and every value written is final for the next dispatch.

// `Params` (width, height, thresholds, Gaussian weights) is shaders/canny/params.wgsl, prepended when compiled.

const TILE: u32 = 32u;         // pixels per tile side (local)
const TILE_AREA: u32 = 1024u;  // TILE * TILE
const THREADS: u32 = 256u;     // 16 x 16 invocations per workgroup
const STRONG: u32 = 0x80000000u;
const INDEX: u32 = 0x7fffffffu;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> labels: array<u32>;
@group(0) @binding(2) var<storage, read_write> parent: array<atomic<u32>>;

var<workgroup> tile_label: array<u32, 1024>;
var<workgroup> tile_parent: array<atomic<u32>, 1024>;

// --- union-find in workgroup memory (tile-local indices) ------------------------------------------------------------

fn tile_find(i: u32) -> u32 {
  var x = i;
  loop {
    let p = atomicLoad(&tile_parent[x]);
    if (p == x) {
      break;
    }
    x = p;
  }
  return x;
}

fn tile_unite(a0: u32, b0: u32) {
  var a = a0;
  var b = b0;
  loop {
    a = tile_find(a);
    b = tile_find(b);
    if (a < b) {
      let old = atomicMin(&tile_parent[b], a);
      if (old == b) {
        break;
      }
      b = old;
    } else if (b < a) {
      let old = atomicMin(&tile_parent[a], b);
      if (old == a) {
        break;
      }
      a = old;
    } else {
      break;
    }
  }
}

// --- union-find in the global forest (pixel indices; STRONG bits appear only in `compress`) -------------------------

/** The root of i, halving the path on the way (each link written is to an ancestor: smaller, same component). */
fn find(i: u32) -> u32 {
  var x = i;
  loop {
    let p = atomicLoad(&parent[x]) & INDEX;
    if (p == x) {
      break;
    }
    let g = atomicLoad(&parent[p]) & INDEX;
    if (g != p) {
      atomicMin(&parent[x], g); // x is not a root, so it carries no STRONG bit
    }
    x = g;
  }
  return x;
}

fn unite(a0: u32, b0: u32) {
  var a = a0;
  var b = b0;
  loop {
    a = find(a);
    b = find(b);
    if (a < b) {
      let old = atomicMin(&parent[b], a);
      if (old == b) {
        break;
      }
      b = old;
    } else if (b < a) {
      let old = atomicMin(&parent[a], b);
      if (old == a) {
        break;
      }
      a = old;
    } else {
      break;
    }
  }
}

fn is_edge(i: u32) -> bool {
  return labels[i] != 0u;
}

// --- entry points ---------------------------------------------------------------------------------------------------

@compute @workgroup_size(16, 16)
fn tile_local(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let ox = wid.x * TILE;
  let oy = wid.y * TILE;
  for (var k = li; k < TILE_AREA; k += THREADS) {
    let gx = ox + k % TILE;
    let gy = oy + k / TILE;
    var v = 0u;
    if (gx < params.width && gy < params.height) {
      v = labels[gy * params.width + gx];
    }
    tile_label[k] = v;
    atomicStore(&tile_parent[k], k);
  }
  workgroupBarrier();

  for (var k = li; k < TILE_AREA; k += THREADS) {
    if (tile_label[k] != 0u) {
      let lx = k % TILE;
      if (lx > 0u && tile_label[k - 1u] != 0u) {
        tile_unite(k, k - 1u);
      }
      if (k >= TILE) {
        if (lx > 0u && tile_label[k - TILE - 1u] != 0u) {
          tile_unite(k, k - TILE - 1u);
        }
        if (tile_label[k - TILE] != 0u) {
          tile_unite(k, k - TILE);
        }
        if (lx + 1u < TILE && tile_label[k - TILE + 1u] != 0u) {
          tile_unite(k, k - TILE + 1u);
        }
      }
    }
  }
  workgroupBarrier();

  for (var k = li; k < TILE_AREA; k += THREADS) {
    if (tile_label[k] != 0u) {
      // tile_label is 0 outside the image, so (gx, gy) is inside
      let r = tile_find(k);
      let gi = (oy + k / TILE) * params.width + ox + k % TILE;
      atomicStore(&parent[gi], (oy + r / TILE) * params.width + ox + r % TILE);
    }
  }
}

@compute @workgroup_size(16, 16)
fn border_merge(@builtin(global_invocation_id) gid: vec3<u32>) {
  let x = gid.x;
  let y = gid.y;
  let w = params.width;
  if (x >= w || y >= params.height) {
    return;
  }
  let tx = x % TILE;
  let ty = y % TILE;
  if (tx != 0u && ty != 0u && tx != TILE - 1u) {
    return; // every link to the W, NW, N and NE stays inside the tile
  }
  let i = y * w + x;
  if (!is_edge(i)) {
    return;
  }
  if (tx == 0u && x > 0u && is_edge(i - 1u)) {
    unite(i, i - 1u);
  }
  if (y > 0u) {
    let up = i - w;
    if (x > 0u && (tx == 0u || ty == 0u) && is_edge(up - 1u)) {
      unite(i, up - 1u);
    }
    if (ty == 0u && is_edge(up)) {
      unite(i, up);
    }
    if (x + 1u < w && (tx == TILE - 1u || ty == 0u) && is_edge(up + 1u)) {
      unite(i, up + 1u);
    }
  }
}

@compute @workgroup_size(16, 16)
fn compress(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= params.width || gid.y >= params.height) {
    return;
  }
  let i = gid.y * params.width + gid.x;
  let v = labels[i];
  if (v == 0u) {
    return;
  }
  let r = find(i);
  if (r != i) {
    atomicMin(&parent[i], r);
  }
  if (v == 2u) {
    atomicOr(&parent[r], STRONG);
  }
}

@compute @workgroup_size(16, 16)
fn promote(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= params.width || gid.y >= params.height) {
    return;
  }
  let i = gid.y * params.width + gid.x;
  if (labels[i] != 1u) {
    return;
  }
  let r = atomicLoad(&parent[i]) & INDEX;
  if ((atomicLoad(&parent[r]) & STRONG) != 0u) {
    labels[i] = 2u;
  }
}

// Canny stage 4 (Hearth SDXL ControlNet preprocessor): non-maximum suppression along the quantised gradient direction.
// Works on the exact squared magnitudes. Tie-breaking copies OpenCV's Canny: for 0 and 90 degrees the pixel must be
// > the left/upper neighbour and >= the right/lower one; for the diagonals > both. Neighbours outside the image
// count as 0. Output: mag_sq where the pixel is a local maximum, else 0.
// CPU reference: src/engines/image/canny-reference.ts (nmsRef).

// `Params` (width, height, thresholds, Gaussian weights) is shaders/canny/params.wgsl, prepended when compiled.

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> mag_sq: array<u32>;
@group(0) @binding(2) var<storage, read> direction: array<u32>;
@group(0) @binding(3) var<storage, read_write> suppressed: array<u32>;

fn m(x: i32, y: i32) -> u32 {
  if (x < 0 || y < 0 || x >= i32(params.width) || y >= i32(params.height)) {
    return 0u;
  }
  return mag_sq[u32(y) * params.width + u32(x)];
}

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= params.width || gid.y >= params.height) {
    return;
  }
  let x = i32(gid.x);
  let y = i32(gid.y);
  let i = gid.y * params.width + gid.x;
  let c = mag_sq[i];
  var keep = false;
  switch (direction[i]) {
    case 0u: {
      keep = c > m(x - 1, y) && c >= m(x + 1, y);
    }
    case 2u: {
      keep = c > m(x, y - 1) && c >= m(x, y + 1);
    }
    case 1u: {
      keep = c > m(x + 1, y - 1) && c > m(x - 1, y + 1);
    }
    default: {
      keep = c > m(x - 1, y - 1) && c > m(x + 1, y + 1);
    }
  }
  suppressed[i] = select(0u, c, keep);
}

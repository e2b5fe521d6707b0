// Canny stage 3 (Hearth SDXL ControlNet preprocessor): 3x3 Sobel with clamp-to-edge borders.
//   gx = [-1 0 1; -2 0 2; -1 0 1] * I,  gy = [-1 -2 -1; 0 0 0; 1 2 1] * I   (y grows downwards, unnormalised,
//   so on 0..255 intensities |gx|,|gy| <= 1020: the units of OpenCV's Canny thresholds).
// Outputs: magnitude = sqrt(gx^2 + gy^2) (f32, L2), mag_sq = gx^2 + gy^2 (exact u32, what NMS and the thresholds use),
// direction quantised exactly as OpenCV's Canny does, with integers (TG22 = round(tan(22.5 deg) * 2^15) = 13573):
//   0 = 0 deg   (gradient horizontal: neighbours left/right)       if |gy|*2^15 <  |gx|*TG22
//   2 = 90 deg  (gradient vertical: neighbours up/down)            if |gy|*2^15 >  |gx|*TG22 + |gx|*2^16
//   1 = 45 deg  (neighbours (x+1,y-1),(x-1,y+1)): otherwise, gx and gy of opposite signs
//   3 = 135 deg (neighbours (x-1,y-1),(x+1,y+1)): otherwise, gx and gy of the same sign (0 counts as positive)
// Angles are counter-clockwise with y pointing up. Input values must be integers (as gaussian.wgsl writes).
// CPU reference: src/engines/image/canny-reference.ts (sobelRef).

// `Params` (width, height, thresholds, Gaussian weights) is shaders/canny/params.wgsl, prepended when compiled.

const TG22: i32 = 13573;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> magnitude: array<f32>;
@group(0) @binding(3) var<storage, read_write> mag_sq: array<u32>;
@group(0) @binding(4) var<storage, read_write> direction: array<u32>;

fn px(x: i32, y: i32) -> i32 {
  let xx = u32(clamp(x, 0, i32(params.width) - 1));
  let yy = u32(clamp(y, 0, i32(params.height) - 1));
  return i32(src[yy * params.width + xx]);
}

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= params.width || gid.y >= params.height) {
    return;
  }
  let x = i32(gid.x);
  let y = i32(gid.y);
  let gx = (px(x + 1, y - 1) + 2 * px(x + 1, y) + px(x + 1, y + 1)) - (px(x - 1, y - 1) + 2 * px(x - 1, y) + px(x - 1, y + 1));
  let gy = (px(x - 1, y + 1) + 2 * px(x, y + 1) + px(x + 1, y + 1)) - (px(x - 1, y - 1) + 2 * px(x, y - 1) + px(x + 1, y - 1));
  let m2 = u32(gx * gx + gy * gy);

  let ax = abs(gx);
  let ay = abs(gy) << 15u;
  let tg22x = ax * TG22;
  var dir = 0u;
  if (ay < tg22x) {
    dir = 0u;
  } else if (ay > tg22x + (ax << 16u)) {
    dir = 2u;
  } else if ((gx < 0) != (gy < 0)) {
    dir = 1u;
  } else {
    dir = 3u;
  }

  let i = gid.y * params.width + gid.x;
  magnitude[i] = sqrt(f32(m2));
  mag_sq[i] = m2;
  direction[i] = dir;
}

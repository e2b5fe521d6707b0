// Canny stage 2 (Hearth SDXL ControlNet preprocessor): separable 5x5 Gaussian blur, two passes, clamp-to-edge borders.
// The kernel is OpenCV-style 8-bit fixed point: weights k2,k1,k0,k1,k2 summing to 256 (sigma 1.4 -> 28,61,78,61,28).
// blur_h: tmp = sum_d k[d] * gray[x+d]                  (exact integer, 8 fractional bits, no rounding)
// blur_v: out = (sum_d k[d] * tmp[y+d] + 32768) >> 16    (exact integer, rounded half up to 0..255, like OpenCV's
//         bit-exact GaussianBlur on CV_8U), stored as f32.
// Input values must be integers 0..255 (as grayscale.wgsl writes); they are truncated to u32.
// CPU reference: src/engines/image/canny-reference.ts (gaussianRef).

// `Params` (width, height, thresholds, Gaussian weights) is shaders/canny/params.wgsl, prepended when compiled.

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;          // grayscale
@group(0) @binding(2) var<storage, read_write> tmp: array<u32>;    // horizontal pass, x256 fixed point
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;    // blurred, integers 0..255

fn weight(d: i32) -> u32 {
  let a = abs(d);
  if (a == 0) {
    return params.k0;
  }
  if (a == 1) {
    return params.k1;
  }
  return params.k2;
}

@compute @workgroup_size(16, 16)
fn blur_h(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= params.width || gid.y >= params.height) {
    return;
  }
  let w = i32(params.width);
  let x = i32(gid.x);
  let row = gid.y * params.width;
  var acc = 0u;
  for (var d = -2; d <= 2; d++) {
    let xx = u32(clamp(x + d, 0, w - 1));
    acc += weight(d) * u32(src[row + xx]);
  }
  tmp[row + gid.x] = acc;
}

@compute @workgroup_size(16, 16)
fn blur_v(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= params.width || gid.y >= params.height) {
    return;
  }
  let h = i32(params.height);
  let y = i32(gid.y);
  var acc = 0u;
  for (var d = -2; d <= 2; d++) {
    let yy = u32(clamp(y + d, 0, h - 1));
    acc += weight(d) * tmp[yy * params.width + gid.x];
  }
  dst[gid.y * params.width + gid.x] = f32((acc + 32768u) >> 16u);
}

// Canny stage 1 (Hearth SDXL ControlNet preprocessor): RGBA8 -> luminance.
// ITU-R BT.601 weights in OpenCV's fixed-point form (cvtColor RGB2GRAY on 8-bit images):
//   Y = (4899*R + 9617*G + 1868*B + 8192) >> 14      (4899/16384 = 0.299, 9617/16384 = 0.587, 1868/16384 = 0.114)
// so Y is an integer 0..255, computed exactly; stored as f32. Alpha is ignored.
// CPU reference: src/engines/image/canny-reference.ts (grayscaleRef).

// `Params` (width, height, thresholds, Gaussian weights) is shaders/canny/params.wgsl, prepended when compiled.

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> rgba: array<u32>;          // one pixel per u32, little-endian: R is the low byte
@group(0) @binding(2) var<storage, read_write> gray: array<f32>;

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= params.width || gid.y >= params.height) {
    return;
  }
  let i = gid.y * params.width + gid.x;
  let p = rgba[i];
  let r = p & 0xffu;
  let g = (p >> 8u) & 0xffu;
  let b = (p >> 16u) & 0xffu;
  gray[i] = f32((r * 4899u + g * 9617u + b * 1868u + 8192u) >> 14u);
}

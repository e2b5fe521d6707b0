// Canny stage 7 (Hearth SDXL ControlNet preprocessor): edge labels -> images.
// to_rgba: RGBA8 white edges (label 2) on opaque black, like the ControlNet canny preprocessors produce.
// to_chw:  float32 [3, H, W] in {0, 1}: the ControlNet `controlnet_cond` layout (same buffer as [1, 3, H, W]).
// CPU reference: src/engines/image/canny-reference.ts (edgesToRgbaRef, edgesToChwRef).

// `Params` (width, height, thresholds, Gaussian weights) is shaders/canny/params.wgsl, prepended when compiled.

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read_write> rgba_out: array<u32>;
@group(0) @binding(3) var<storage, read_write> chw_out: array<f32>;

@compute @workgroup_size(16, 16)
fn to_rgba(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= params.width || gid.y >= params.height) {
    return;
  }
  let i = gid.y * params.width + gid.x;
  rgba_out[i] = select(0xff000000u, 0xffffffffu, labels[i] == 2u);
}

@compute @workgroup_size(16, 16)
fn to_chw(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= params.width || gid.y >= params.height) {
    return;
  }
  let i = gid.y * params.width + gid.x;
  let plane = params.width * params.height;
  let v = select(0.0, 1.0, labels[i] == 2u);
  chw_out[i] = v;
  chw_out[plane + i] = v;
  chw_out[2u * plane + i] = v;
}

// Canny stage 5 (Hearth SDXL ControlNet preprocessor): double threshold on the suppressed squared magnitudes.
// low_sq = floor(low^2), high_sq = floor(high^2) (OpenCV's L2gradient convention, thresholds in units of the
// unnormalised Sobel magnitude of 0..255 intensities). strong (2) if m2 > high_sq, weak (1) if m2 > low_sq, else 0.
// CPU reference: src/engines/image/canny-reference.ts (thresholdRef).

// `Params` (width, height, thresholds, Gaussian weights) is shaders/canny/params.wgsl, prepended when compiled.

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> suppressed: array<u32>;
@group(0) @binding(2) var<storage, read_write> labels: array<u32>;

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= params.width || gid.y >= params.height) {
    return;
  }
  let i = gid.y * params.width + gid.x;
  let v = suppressed[i];
  labels[i] = select(select(0u, 1u, v > params.low_sq), 2u, v > params.high_sq);
}

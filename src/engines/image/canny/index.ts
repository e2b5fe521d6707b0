// Canny edge detection on WebGPU: the preprocessor that turns an input image into the control image of the SDXL
// canny ControlNet. Runs the kernels in shaders/canny/*.wgsl; src/engines/image/canny-cpu.ts is the CPU
// reference of exactly the same algorithm, and tests/unit/canny.test.ts checks every stage against it.
//
// Algorithm (OpenCV's `GaussianBlur` + `Canny(..., L2gradient=true)` on the gray image; all borders clamp-to-edge):
//   1. gray     = (4899 R + 9617 G + 1868 B + 8192) >> 14            (BT.601, OpenCV fixed point; integers 0..255)
//   2. blur     = separable 5-tap Gaussian, sigma 1.4 by default, weights quantised to /256 (28 61 78 61 28),
//                 horizontal pass kept exact, vertical pass rounded to an integer 0..255 (OpenCV's 8-bit GaussianBlur)
//   3. Sobel 3x3 (unnormalised) -> m2 = gx² + gy² (exact), magnitude = sqrt(m2), direction in 4 bins by OpenCV's
//      integer tan(22.5°) test
//   4. non-maximum suppression on m2 along the direction (OpenCV's tie-breaking)
//   5. strong if m2 > floor(high²), weak if m2 > floor(low²)  — thresholds in OpenCV's units
//   6. hysteresis: weak pixels 8-connected to strong ones become strong, as connected-component labelling with a
//      lock-free union-find (tile-local in workgroup memory, then across tile borders): four dispatches whatever the
//      image, no read-back (shaders/canny/hysteresis.wgsl)
//   7. white-on-black RGBA8, or float32 [3, H, W] in {0, 1} (ControlNet `controlnet_cond`) kept on the GPU.
// Because every stage up to m2 is integer arithmetic, GPU and CPU results are bit-identical (the float magnitude is
// only a by-product; decisions use m2), and hysteresis computes exactly the reference's components.
//
// Shader sources: in the browser (Vite) they are loaded with `?raw` imports; anywhere else (Node tests, tools) pass
// them to `CannyDetector.create(device, sources)`, e.g. read from shaders/canny/<name>.wgsl. The stage read-backs
// the tests use are tests/unit/canny-stages.ts.
//
// Split by concern: params.ts (options, kernel parameters, WebGPU constants), pipelines.ts (shaders → pipelines),
// detector.ts (CannyDetector).
export { CANNY_SHADER_NAMES, cannyParams, HYSTERESIS_DISPATCHES } from './params';
export type { CannyOptions, CannyParams, CannyShaderName, CannyShaderSources } from './params';
export { CannyDetector } from './detector';

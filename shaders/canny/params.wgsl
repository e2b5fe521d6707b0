// The uniform every Canny kernel reads (shaders/canny/*.wgsl); canny.ts prepends this file to each kernel's source
// and writes it with the values of CannyParams.
struct Params {
  width: u32,
  height: u32,
  low_sq: u32,   // floor(low²): weak above it
  high_sq: u32,  // floor(high²): strong above it
  k0: u32,       // Gaussian weight at the centre (Q8)
  k1: u32,       // at distance 1
  k2: u32,       // at distance 2
  pad0: u32,
};

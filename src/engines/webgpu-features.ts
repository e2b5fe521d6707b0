/** What engines ask of the WebGPU adapter before choosing a variant: whether it offers `shader-f16`. */

let f16: Promise<boolean> | undefined;

/** Whether navigator.gpu's default adapter has `shader-f16` (false without WebGPU); asked once per worker. */
export function adapterHasShaderF16(): Promise<boolean> {
  f16 ??= (globalThis.navigator as Navigator | undefined)?.gpu?.requestAdapter()
    .then((a) => Boolean(a?.features.has('shader-f16'))) ?? Promise.resolve(false);
  return f16;
}

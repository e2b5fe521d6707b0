// The page-side entry of the transformers.js comparison (bench/transformers.mjs bundles it for the browser with Vite):
// the library as an app would import it. Not part of Hearth.
export { env, pipeline } from '@huggingface/transformers';

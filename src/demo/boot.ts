/**
 * Starts Hearth for the demo page before any component is defined, so every component finds `window.hearth`.
 * Query parameters: `devices=wasm` (or `webgpu,wasm`) picks engine devices, `diagnostics=1` mounts the test routes,
 * `sw=0` skips the service worker (the page then answers only through `hearth.fetch`), `wgsl=0` leaves LLMs to
 * onnxruntime-web (no WGSL decoder).
 */
import { startHearth } from '../runtime/client';
import type { OrtDevice } from '../engines/embeddings/types';

const params = new URLSearchParams(location.search);
const devices = params.get('devices')?.split(',').filter((d): d is OrtDevice => d === 'webgpu' || d === 'wasm');

export const hearth = startHearth({
  devices: devices?.length ? devices : undefined,
  wgslLlm: params.get('wgsl') !== '0',
  diagnostics: params.has('diagnostics'),
  serviceWorker: params.get('sw') !== '0',
});
window.hearth = hearth;

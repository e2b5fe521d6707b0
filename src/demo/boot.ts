/**
 * Starts Hearth for the demo page before any component is defined, so every component finds `window.hearth`.
 * Query parameters: `devices=wasm` (or `webgpu,wasm`) picks engine devices, `diagnostics=1` mounts the test routes,
 * `sw=0` skips the service worker (the page then answers only through `hearth.fetch`), `alias=NAME=MODEL`
 * (repeatable) serves NAME with MODEL, e.g. `alias=accounts/fireworks/models/stable-diffusion-xl-1024-v1-0=hearth/tiny-sdxl`.
 */
import { startHearth } from '../runtime/client';
import type { OrtDevice } from '../engines/embeddings/types';

const params = new URLSearchParams(location.search);
const devices = params.get('devices')?.split(',').filter((d): d is OrtDevice => d === 'webgpu' || d === 'wasm');

/** `alias=NAME=MODEL`: split at the last "=" (model ids have none; names might). */
const aliases = Object.fromEntries(params.getAll('alias').flatMap((a) => {
  const at = a.lastIndexOf('=');
  return at > 0 ? [[a.slice(0, at), a.slice(at + 1)]] : [];
}));

export const hearth = startHearth({
  aliases,
  devices: devices?.length ? devices : undefined,
  diagnostics: params.has('diagnostics'),
  serviceWorker: params.get('sw') !== '0',
});
window.hearth = hearth;

/**
 * Starts Hearth for the demo page before any component is defined, so every component finds `window.hearth`.
 * Query parameters: `devices=wasm` (or `webgpu,wasm`) picks engine devices (`devices=none`: no local engine),
 * `remote=NAME=BASEURL` (repeatable) adds a remote backend for every model, local-first (keys are set in the model
 * manager, never in the URL; remotes saved there are added too), `alias=NAME=MODEL` (repeatable) serves NAME with
 * MODEL, e.g. `alias=accounts/fireworks/models/stable-diffusion-xl-1024-v1-0=hearth/tiny-sdxl`, `diagnostics=1`
 * mounts the test routes, `sw=0` skips the service worker (the page then answers only through `hearth.fetch`),
 * `wgsl=0` leaves LLMs to onnxruntime-web (no WGSL decoder), `apiworker=0` runs the API on the page's main thread
 * (the path before the API worker, for comparison), `deadlines=llm:3000,graceMs:1000` sets engine job deadlines in ms
 * (kinds `embeddings`, `llm`, `image`, and `graceMs`, `unresponsiveMs`).
 */
import { startHearth } from '../runtime/client';
import { DEFAULT_DEADLINES } from '../runtime/deadlines';
import type { OrtDevice } from '../engines/embeddings/types';
import type { RemoteConfig } from '../api/remote/types';
import { savedRemotes } from '../components/remote-store';

const params = new URLSearchParams(location.search);
const devices = params.get('devices')?.split(',').filter((d): d is OrtDevice => d === 'webgpu' || d === 'wasm');
const remotes: RemoteConfig[] = params.getAll('remote').flatMap((spec) => {
  const at = spec.indexOf('=');
  return at > 0 && URL.canParse(spec.slice(at + 1)) ? [{ name: spec.slice(0, at), baseURL: spec.slice(at + 1), policy: 'local-first' as const }] : [];
});

/** `alias=NAME=MODEL`: split at the last "=" (model ids have none; names might). */
const aliases = Object.fromEntries(params.getAll('alias').flatMap((a) => {
  const at = a.lastIndexOf('=');
  return at > 0 ? [[a.slice(0, at), a.slice(at + 1)]] : [];
}));

/** `deadlines=KIND:MS,…` (a kind of the kinds table, or graceMs / unresponsiveMs). */
const deadlines = Object.fromEntries((params.get('deadlines') ?? '').split(',').flatMap((pair) => {
  const [kind, ms] = pair.split(':');
  return Object.hasOwn(DEFAULT_DEADLINES, kind) && Number(ms) > 0 ? [[kind, Number(ms)]] : [];
}));

export const hearth = startHearth({
  deadlines,
  aliases,
  devices: params.get('devices') === 'none' ? [] : devices?.length ? devices : undefined,
  // URL remotes first (they win for the models both match), then the ones saved in the model manager.
  remotes: [...remotes, ...savedRemotes().filter((r) => !remotes.some((u) => u.name === r.name))],
  wgslLlm: params.get('wgsl') !== '0',
  diagnostics: params.has('diagnostics'),
  serviceWorker: params.get('sw') !== '0',
  apiWorker: params.get('apiworker') !== '0',
});
window.hearth = hearth;

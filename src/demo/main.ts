/**
 * The demo page (a first, plain version; the lit components replace it): starts Hearth as host with its service
 * worker, then calls the API with plain `fetch` exactly as any page would.
 * Query parameters: `devices=wasm` (or `webgpu,wasm`) picks engine devices, `diagnostics=1` mounts the test routes,
 * `sw=0` skips the service worker (the page then answers only through `hearth.fetch`).
 */
import { startHearth, type Hearth } from '../runtime/client';
import type { OrtDevice } from '../engines/embeddings/types';

declare global {
  interface Window { hearth?: Hearth }
}

const params = new URLSearchParams(location.search);
const devices = params.get('devices')?.split(',').filter((d): d is OrtDevice => d === 'webgpu' || d === 'wasm');
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const hearth = startHearth({
  devices: devices?.length ? devices : undefined,
  diagnostics: params.has('diagnostics'),
  serviceWorker: params.get('sw') !== '0',
});
window.hearth = hearth;
void (async () => {
  await hearth.host?.elected;
  await Promise.race([hearth.serviceWorker, new Promise((r) => setTimeout(r, 3000))]);
  const controlled = Boolean(navigator.serviceWorker?.controller);
  $('status').textContent = `Ready. ${controlled ? 'The service worker answers /inference/v1 for every tab of this site.' : 'No service worker: using the in-page client.'} ` +
    `This tab ${hearth.host?.isHost() ? 'hosts the engines' : 'uses the host tab\'s engines'}. WebGPU: ${'gpu' in navigator ? 'available' : 'not available'}.`;
  await refreshModels();
})().catch((e: unknown) => {
  $('status').textContent = `Hearth failed to start: ${(e as Error).message}`;
});

const api = (path: string, init?: RequestInit) => hearth.fetch(`/inference/v1${path}`, init);

async function refreshModels() {
  const res = await api('/models');
  const body = await res.json() as { data: { id: string; kind: string; built_in: boolean; downloaded: boolean; loaded: boolean; device: string | null }[] };
  const tbody = $('models').querySelector('tbody')!;
  tbody.replaceChildren(...body.data.map((m) => {
    const tr = document.createElement('tr');
    for (const v of [m.id, m.kind, m.built_in ? 'yes' : 'no', m.downloaded ? 'yes' : 'no', m.loaded ? 'yes' : 'no', m.device ?? '—']) {
      const td = document.createElement('td');
      td.textContent = String(v);
      tr.append(td);
    }
    return tr;
  }));
  const select = $<HTMLSelectElement>('emb-model');
  if (!select.options.length) {
    for (const m of body.data.filter((m) => m.kind === 'embeddings')) select.add(new Option(`${m.id}${m.built_in ? ' (built in)' : ' (downloads)'}`, m.id));
  }
}

$('models-refresh').addEventListener('click', () => void refreshModels());
$('emb-run').addEventListener('click', async () => {
  const input = $<HTMLTextAreaElement>('emb-input').value.split('\n').filter((l) => l.trim());
  const model = $<HTMLSelectElement>('emb-model').value;
  const request = { model, input };
  $('code').textContent = `const res = await fetch('/inference/v1/embeddings', {\n  method: 'POST',\n  headers: { 'content-type': 'application/json' },\n  body: JSON.stringify(${JSON.stringify(request)}),\n});\n\n// or with the OpenAI SDK:\nconst openai = new OpenAI({ baseURL: new URL('/inference/v1', location.href).href, apiKey: 'local', dangerouslyAllowBrowser: true });\nawait openai.embeddings.create(${JSON.stringify(request)});`;
  $('emb-out').textContent = 'Running…';
  const t0 = performance.now();
  const res = await api('/embeddings', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request) });
  const body = await res.json() as { data?: { embedding: number[] }[]; usage?: unknown; error?: { message: string } };
  const ms = (performance.now() - t0).toFixed(1);
  $('emb-out').textContent = body.error
    ? `HTTP ${res.status}: ${body.error.message}`
    : `HTTP ${res.status} in ${ms} ms on ${res.headers.get('x-hearth-backend')}\n` +
      body.data!.map((d, i) => `[${i}] ${d.embedding.length} dims: ${d.embedding.slice(0, 6).map((x) => x.toFixed(4)).join(', ')}, …`).join('\n') +
      `\nusage: ${JSON.stringify(body.usage)}`;
  await refreshModels();
});

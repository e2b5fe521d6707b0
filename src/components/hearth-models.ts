// <hearth-models>: the model manager: catalog with kind, size and state (GET /models), per-model download with byte progress, speed and ETA, delete, opening a local GGUF file (hearth.models.add), storage usage and persistence, cached LoRA adapters, and the WebGPU adapter in use.
import { LitElement, css, html, nothing } from 'lit';
import { customElement, state } from 'lit/decorators.js';
import { ifDefined } from 'lit/directives/if-defined.js';
import { emitRequest, errorText, hearthClient, listModels, modelsChanged, type CachedAdapter, type ModelInfo } from './api';
import { formatBytes, formatDuration, formatRate } from './format';
import { baseStyles } from './styles';
import { describeAdapter, KEY_LIMITS, type AdapterSummary } from './webgpu-info';

interface Download {
  loaded: number;
  total: number | null;
  started: number;
  now: number;
  done: boolean;
  error?: string;
  variant?: string;
  abort: AbortController;
}

interface StorageState {
  usage?: number;
  quota?: number;
  models?: number;
  persisted?: boolean;
  persistAnswer?: string;
  loras?: CachedAdapter[];
}

@customElement('hearth-models')
export class HearthModels extends LitElement {
  static override styles = [baseStyles, css`
    .head { display: flex; justify-content: space-between; align-items: center; gap: 0.6rem; flex-wrap: wrap; margin-bottom: 0.5rem; }
    .head h2 { margin: 0; }
    .table-wrap { overflow-x: auto; }
    td.id { min-width: 14rem; }
    td.size { min-width: 8.5rem; }
    td.state { min-width: 11rem; }
    .id strong { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.85rem; overflow-wrap: anywhere; }
    .desc { color: var(--_muted); font-size: 0.78rem; margin-top: 0.15rem; display: -webkit-box; -webkit-line-clamp: 2; -webkit-box-orient: vertical; overflow: hidden; }
    .badges { display: flex; flex-wrap: wrap; gap: 0.25rem; }
    .actions { display: flex; gap: 0.35rem; flex-wrap: wrap; }
    .actions button { padding: 0.25rem 0.6rem; font-size: 0.8rem; }
    tr.progress-row td { border-bottom: 1px solid var(--_line); padding-top: 0; }
    .progress { display: grid; grid-template-columns: minmax(8rem, 1fr) auto auto; gap: 0.6rem; align-items: center; font-size: 0.8rem; }
    .progress .text { font-variant-numeric: tabular-nums; color: var(--_muted); white-space: nowrap; }
    .progress button { padding: 0.15rem 0.55rem; font-size: 0.75rem; }
    .cards { display: grid; gap: 0.8rem; grid-template-columns: repeat(auto-fit, minmax(17rem, 1fr)); margin-top: 1rem; }
    .card { border: 1px solid var(--_line); border-radius: calc(var(--_radius) * 0.8); padding: 0.8rem 0.9rem; background: var(--_field); }
    dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 0.25rem 0.8rem; margin: 0; font-size: 0.84rem; }
    dt { color: var(--_muted); }
    dd { margin: 0; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
    .meter { margin: 0.5rem 0; }
    label.open-gguf { font-weight: 600; border-radius: calc(var(--_radius) * 0.6); padding: 0.42rem 0.9rem; border: 1px solid var(--_accent); color: var(--_accent); cursor: pointer; }
    label.open-gguf:focus-within { outline: 2px solid var(--_accent); outline-offset: 2px; }
    .note { background: var(--_soft); border-radius: calc(var(--_radius) * 0.6); padding: 0.5rem 0.7rem; font-size: 0.85rem; margin-bottom: 0.6rem; }
  `];

  @state() private models: ModelInfo[] = [];
  @state() private error = '';
  @state() private hostAvailable = true;
  @state() private downloads = new Map<string, Download>();
  @state() private onDisk = new Map<string, number>();
  @state() private storage: StorageState = {};
  @state() private adapter?: AdapterSummary;
  @state() private loading = false;
  /** The local GGUF file being added, and the outcome of the last one. */
  @state() private opening = '';
  @state() private opened: { ok: boolean; text: string } | null = null;

  private readonly onChanged = () => { void this.refresh(false); };

  override connectedCallback(): void {
    super.connectedCallback();
    window.addEventListener('hearth-models-changed', this.onChanged);
    void this.refresh(false);
    void describeAdapter().then((a) => { this.adapter = a; });
  }

  override disconnectedCallback(): void {
    window.removeEventListener('hearth-models-changed', this.onChanged);
    super.disconnectedCallback();
  }

  /** Reloads GET /models, storage figures and sizes on disk. `fresh` also refetches the shared model list. */
  async refresh(fresh = true): Promise<void> {
    this.loading = true;
    try {
      this.models = await listModels(fresh);
      this.error = '';
    } catch (e) {
      this.error = errorText(e);
    } finally {
      this.loading = false;
    }
    this.hostAvailable = await hearthClient.available();
    await Promise.all([this.refreshStorage(), this.refreshOnDisk()]);
  }

  private async refreshStorage() {
    const next: StorageState = { ...this.storage };
    const estimate = await navigator.storage?.estimate?.().catch(() => undefined);
    next.usage = estimate?.usage;
    next.quota = estimate?.quota;
    next.persisted = await navigator.storage?.persisted?.().catch(() => undefined);
    next.models = await hearthClient.storedModelBytes();
    next.loras = await hearthClient.cachedLoras().catch(() => undefined);
    this.storage = next;
  }

  /** Bytes each downloaded model holds in the Cache API (from the stored responses' content-length). */
  private async refreshOnDisk() {
    const sizes = await hearthClient.bytesOnDisk(this.models.filter((x) => x.downloaded).map((m) => m.id));
    if (sizes) this.onDisk = sizes;
  }

  async download(id: string): Promise<void> {
    const entry = await hearthClient.catalogEntry(id);
    if (!entry || this.downloads.get(id)?.done === false) return;
    const adapter = await describeAdapter();
    const variant = await hearthClient.downloadVariant(entry, { webgpu: adapter.available, shaderF16: Boolean(adapter.shaderF16) });
    const started = performance.now();
    const d: Download = { loaded: 0, total: null, started, now: started, done: false, variant, abort: new AbortController() };
    this.setDownload(id, d);
    try {
      await hearthClient.download(entry, {
        variant,
        signal: d.abort.signal,
        onProgress: (p) => this.setDownload(id, { ...d, loaded: p.loadedBytes, total: p.totalBytes, now: performance.now(), done: p.done }),
      });
      const last = this.downloads.get(id) ?? d;
      // Already stored: ensure() finishes without a progress event.
      this.setDownload(id, { ...last, done: true, now: performance.now(), total: last.total ?? last.loaded });
    } catch (e) {
      const last = this.downloads.get(id) ?? d;
      this.setDownload(id, { ...last, done: true, error: d.abort.signal.aborted ? 'Download cancelled.' : errorText(e) });
    }
    modelsChanged();
  }

  cancelDownload(id: string): void {
    this.downloads.get(id)?.abort.abort();
  }

  async delete(id: string): Promise<void> {
    const entry = await hearthClient.catalogEntry(id);
    if (!entry) return;
    try {
      await hearthClient.delete(entry);
      const next = new Map(this.downloads);
      next.delete(id);
      this.downloads = next;
    } catch (e) {
      this.error = `Could not delete ${id}: ${errorText(e)}`;
    }
    modelsChanged();
  }

  private setDownload(id: string, d: Download) {
    const next = new Map(this.downloads);
    next.set(id, d);
    this.downloads = next;
  }

  private async persist() {
    if (!navigator.storage?.persist) {
      this.storage = { ...this.storage, persistAnswer: 'This browser cannot keep storage persistently.' };
      return;
    }
    const granted = await navigator.storage.persist().catch(() => false);
    this.storage = {
      ...this.storage,
      persisted: granted,
      persistAnswer: granted
        ? 'Granted: the browser will not evict the models under storage pressure.'
        : 'Not granted by the browser (it decides from site engagement; bookmarking or installing the site helps).',
    };
  }

  override render() {
    return html`
      <div class="head">
        <h2>Models</h2>
        <div class="actions">
          <label class="button secondary open-gguf" title=${this.hostAvailable ? 'A GGUF file (llama, qwen2; F32, F16, Q8_0, Q4_0, Q4_K, Q6_K) to chat with' : 'Needs the host page'}>
            ${this.opening ? `Opening ${this.opening}…` : 'Open GGUF file…'}
            <input type="file" class="visually-hidden" accept=".gguf" ?disabled=${!this.hostAvailable || Boolean(this.opening)} @change=${this.onOpenGguf}>
          </label>
          <button type="button" class="secondary refresh" ?disabled=${this.loading} @click=${this.onRefresh}>Refresh</button>
        </div>
      </div>
      ${this.opened ? html`<p class=${this.opened.ok ? 'note opened' : 'error opened'} role=${this.opened.ok ? 'status' : 'alert'}>${this.opened.text}</p>` : nothing}
      ${this.hostAvailable ? nothing : html`<p class="note">Downloads and deletes need the page that hosts Hearth (it owns the model store): open the Hearth demo page, or call <code>startHearth()</code> in this page. Real models otherwise download on their first request.</p>`}
      ${this.error ? html`<div class="error" role="alert">${this.error}</div>` : nothing}
      <div class="table-wrap">
        <table class="models">
          <caption class="visually-hidden">Models in the catalog, their size and state</caption>
          <thead><tr><th scope="col">Model</th><th scope="col">Kind</th><th scope="col">Size</th><th scope="col">State</th><th scope="col">Actions</th></tr></thead>
          <tbody>${this.models.map((m) => this.renderModel(m))}</tbody>
        </table>
      </div>
      <div class="cards">
        ${this.renderStorage()}
        ${this.renderAdapter()}
      </div>
    `;
  }

  private renderModel(m: ModelInfo) {
    const d = this.downloads.get(m.id);
    const downloading = d !== undefined && !d.done;
    return html`
      <tr data-model=${m.id}>
        <td class="id"><strong>${m.id}</strong>
          <div class="desc" title=${m.description}>${m.description}</div></td>
        <td>${m.kind}</td>
        <td class="size">${this.sizeText(m)}</td>
        <td class="state"><div class="badges">
          ${m.built_in ? html`<span class="badge">built in</span>` : nothing}
          ${m.random_weights ? html`<span class="badge off" title="A real architecture with random weights: its output is noise">random test weights</span>` : nothing}
          <span class="badge ${m.downloaded ? '' : 'off'}">${m.downloaded ? 'downloaded' : 'not downloaded'}</span>
          <span class="badge ${m.loaded ? '' : 'off'}">${m.loaded ? `loaded on ${m.device ?? '?'}` : 'not loaded'}</span>
          ${m.loaded_variant ? html`<span class="badge off">${m.loaded_variant}</span>` : nothing}
          ${(m.loaded_loras ?? []).map((l) => html`<span class="badge off lora" title="LoRA merged into a loaded copy">+ LoRA ${l}</span>`)}
        </div>
        ${m.stats ? html`<div class="hint">${m.stats.requests} requests · ${m.stats.generated_tokens} tokens · ${m.stats.cancelled} cancelled</div>` : nothing}</td>
        <td><div class="actions">
          <button type="button" class="download" aria-label=${`Download ${m.id}`} title=${this.hostAvailable ? '' : 'Needs the host page'}
            ?disabled=${!this.hostAvailable || m.downloaded || downloading} @click=${() => void this.download(m.id)}>Download</button>
          <button type="button" class="quiet delete" aria-label=${`Delete ${m.id}`}
            ?disabled=${!this.hostAvailable || !m.downloaded || downloading} @click=${() => void this.delete(m.id)}>Delete</button>
        </div></td>
      </tr>
      ${d ? this.renderProgress(m.id, d) : nothing}
    `;
  }

  private sizeText(m: ModelInfo) {
    if (m.size_bytes != null) return formatBytes(m.size_bytes);
    if (m.approx_size_bytes != null) return html`≈ ${formatBytes(m.approx_size_bytes)} <span class="hint">as listed</span>`;
    const disk = this.onDisk.get(m.id);
    if (disk) return html`${formatBytes(disk)} <span class="hint">on disk</span>`;
    return html`<span class="hint">size unknown until download</span>`;
  }

  private renderProgress(id: string, d: Download) {
    const seconds = (d.now - d.started) / 1000;
    const speed = seconds > 0 ? d.loaded / seconds : 0;
    const pct = d.total ? Math.min(100, (d.loaded / d.total) * 100) : null;
    // Done: full; size known: bytes; size unknown: no value (an indeterminate bar).
    const max = d.done ? Math.max(1, d.total ?? d.loaded) : d.total ?? 1;
    const value = d.done ? max : d.total ? d.loaded : undefined;
    let text: string;
    if (d.error) text = '';
    else if (d.done) text = `Downloaded ${formatBytes(d.loaded)} (100%) in ${formatDuration(seconds)}${d.variant ? ` · variant ${d.variant}` : ''}`;
    else {
      const eta = d.total && speed > 0 ? (d.total - d.loaded) / speed : null;
      text = [
        `${formatBytes(d.loaded)} / ${d.total ? formatBytes(d.total) : 'size unknown'}`,
        pct != null ? `(${Math.floor(pct)}%)` : null, // floored: 99.96 % is not "100%" before the last bytes land
        speed > 0 ? `· ${formatRate(speed)}` : null,
        eta != null ? `· ETA ${formatDuration(eta)}` : null,
      ].filter(Boolean).join(' ');
    }
    return html`<tr class="progress-row" data-progress=${id}><td colspan="5">
      ${d.error
        ? html`<div class="error" role="alert">${d.error}</div>`
        : html`<div class="progress">
            <progress aria-label=${`Download of ${id}`} max=${max} value=${ifDefined(value)}></progress>
            <span class="text" aria-live="polite">${text}</span>
            ${d.done ? nothing : html`<button type="button" class="quiet" @click=${() => this.cancelDownload(id)}>Cancel</button>`}
          </div>`}
    </td></tr>`;
  }

  private renderStorage() {
    const s = this.storage;
    const share = s.usage != null && s.quota ? s.usage / s.quota : null;
    return html`<section class="card" aria-labelledby="storage-h">
      <h3 id="storage-h">Storage</h3>
      <dl>
        <dt>Model files</dt><dd class="models-bytes">${s.models != null ? formatBytes(s.models) : '—'}</dd>
        <dt>Site usage</dt><dd>${formatBytes(s.usage)} of ${formatBytes(s.quota)}</dd>
        <dt>LoRA adapters</dt><dd class="loras">${this.lorasText(s.loras)}
          ${s.loras?.length ? html`<button type="button" class="quiet clear-loras" @click=${() => void this.clearLoras()}>Clear</button>` : nothing}</dd>
        <dt>Persistent</dt><dd>${s.persisted === undefined ? 'unknown' : s.persisted ? 'yes' : 'no (the browser may evict models when space runs low)'}</dd>
      </dl>
      ${share != null ? html`<progress class="meter" aria-label="Share of the storage quota in use" max="1" .value=${share}></progress>` : nothing}
      <button type="button" class="secondary persist" ?disabled=${s.persisted === true} @click=${() => void this.persist()}>Keep models (persistent storage)</button>
      ${s.persistAnswer ? html`<p class="hint" role="status">${s.persistAnswer}</p>` : nothing}
    </section>`;
  }

  private lorasText(loras?: CachedAdapter[]): string {
    if (!loras) return '—';
    if (!loras.length) return 'none cached';
    const names = loras.map((l) => decodeURIComponent(new URL(l.url).pathname.replace(/^.*?([^/]+\/[^/]+)\/resolve\/main\//, '$1/')));
    return `${loras.length} cached, ${formatBytes(loras.reduce((n, l) => n + l.bytes, 0))}: ${names.join(', ')}`;
  }

  private async clearLoras() {
    await hearthClient.clearLoras().catch(() => undefined);
    await this.refreshStorage();
  }

  private renderAdapter() {
    const a = this.adapter;
    return html`<section class="card adapter" aria-labelledby="gpu-h">
      <h3 id="gpu-h">WebGPU adapter</h3>
      ${!a ? html`<p class="hint">Asking the browser…</p>` : !a.available ? html`<p>${a.reason}</p>` : html`
        <dl>
          <dt>Vendor</dt><dd>${a.vendor}</dd>
          <dt>Architecture</dt><dd>${a.architecture}${a.fallback ? ' (fallback adapter: CPU, slow)' : ''}</dd>
          ${a.description ? html`<dt>Description</dt><dd>${a.description}</dd>` : nothing}
          <dt>shader-f16</dt><dd>${a.shaderF16 ? 'yes' : 'no (q4f16 models run on Hearth\'s WGSL decoder only)'}</dd>
          ${KEY_LIMITS.map((k) => html`<dt>${k}</dt><dd>${limitText(k, a.limits?.[k])}</dd>`)}
          <dt>Engines</dt><dd>${this.enginesText()}</dd>
        </dl>`}
    </section>`;
  }

  private enginesText(): string {
    const devices = [...new Set(this.models.filter((m) => m.loaded && m.device).map((m) => m.device!))];
    return devices.length ? `loaded models run on ${devices.join(', ')}` : 'no model loaded yet';
  }

  /** A GGUF file from the picker: checked, stored and registered by the page's Hearth; the outcome is shown. */
  private async onOpenGguf(e: Event) {
    const input = e.target as HTMLInputElement;
    const file = input.files?.[0];
    input.value = '';
    if (!file || !(await hearthClient.available())) return;
    this.opening = file.name;
    try {
      const entry = (await hearthClient.addLocalModel(file))!;
      this.opened = { ok: true, text: `${file.name} is ready as ${entry.id}: pick it in the chat or completion tab.` };
      modelsChanged();
    } catch (err) {
      this.opened = { ok: false, text: `${file.name}: ${errorText(err)}` };
    } finally {
      this.opening = '';
    }
  }

  private onRefresh() {
    emitRequest(this, { path: '/models', method: 'GET' });
    void this.refresh(true);
  }
}

function limitText(key: string, v: number | undefined): string {
  if (v === undefined) return '—';
  return /Size$/.test(key) && v >= 1 << 20 ? `${formatBytes(v)} (${v.toLocaleString('en-US')})` : v.toLocaleString('en-US');
}

declare global {
  interface HTMLElementTagNameMap { 'hearth-models': HearthModels }
}

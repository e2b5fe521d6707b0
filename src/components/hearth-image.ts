// <hearth-image>: SDXL text-to-image (JSON), image-to-image and ControlNet canny (multipart) on the image_generation paths (Accept: application/json, or with `live-progress` Hearth's text/event-stream), a model picker, a gallery with download links, and a `progress` slot.
import { LitElement, css, html, nothing, type PropertyValues } from 'lit';
import { customElement, property, query, state } from 'lit/decorators.js';
import { ApiError, apiFetch, emitRequest, errorText, hearthClient, isAbort, listModels, modelsChanged, readApiError, type ModelInfo } from './api';
import { readSse } from './sse-reader';
import type { HearthModelSelect } from './hearth-model-select';
import './hearth-model-select';
import { formatDuration } from './format';
import { baseStyles } from './styles';

export const SDXL_PATH = '/image_generation/accounts/fireworks/models/stable-diffusion-xl-1024-v1-0';

/** The spec's supported SDXL resolutions (width × height), used when the model's own list is not known. */
export const RESOLUTIONS: readonly (readonly [number, number])[] = [
  [1024, 1024], [1152, 896], [896, 1152], [1216, 832], [832, 1216], [1344, 768], [768, 1344], [1536, 640], [640, 1536],
];

type Mode = 'text' | 'image' | 'controlnet';
const MODES: { id: Mode; label: string; path: string }[] = [
  { id: 'text', label: 'Text to image', path: SDXL_PATH },
  { id: 'image', label: 'Image to image', path: `${SDXL_PATH}/image_to_image` },
  { id: 'controlnet', label: 'ControlNet (canny)', path: `${SDXL_PATH}/control_net` },
];

interface GeneratedImage { base64: string; finishReason: 'SUCCESS' | 'CONTENT_FILTERED' | 'ERROR' | string; seed: number; mime?: string }

/** Events of the `text/event-stream` answer (Hearth's extension for live progress). */
type ImageStreamEvent =
  | { type: 'progress'; step: number; steps: number; sample: number }
  | ({ type: 'image'; index: number } & GeneratedImage)
  | { error: { message: string; type: string; code: string | null; param: string | null } };

/** Live progress a future SDXL engine (or the host page) can report: step `value` of `max`. */
export interface ImageProgress { value: number; max: number; label?: string }

@customElement('hearth-image')
export class HearthImage extends LitElement {
  static override styles = [baseStyles, css`
    [role='tablist'] { display: flex; gap: 0.25rem; border-bottom: 1px solid var(--_line); margin-bottom: 0.8rem; flex-wrap: wrap; }
    [role='tab'] {
      background: transparent; color: var(--_muted); border: 0; border-bottom: 3px solid transparent;
      border-radius: calc(var(--_radius) * 0.6) calc(var(--_radius) * 0.6) 0 0; padding: 0.45rem 0.8rem;
    }
    [role='tab'][aria-selected='true'] { color: var(--_accent); border-bottom-color: var(--_accent); background: var(--_soft); }
    form { display: flex; flex-direction: column; gap: 0.7rem; }
    .two { display: grid; gap: 0.7rem; grid-template-columns: repeat(auto-fit, minmax(14rem, 1fr)); }
    .grid { grid-template-columns: repeat(auto-fill, minmax(8rem, 1fr)); align-items: end; }
    details.extras { margin: 0.25rem 0; }
    details.extras summary { cursor: pointer; }
    details.extras .grid { grid-template-columns: repeat(auto-fill, minmax(12rem, 1fr)); margin-top: 0.5rem; }
    .check label { display: flex; gap: 0.4rem; align-items: center; }
    #size { min-width: 9.5rem; }
    .grid .field:has(#size) { grid-column: span 2; }
    .upload { display: grid; grid-template-columns: minmax(0, 1fr) auto; gap: 0.7rem; align-items: end; }
    .thumb { width: 4.5rem; height: 4.5rem; object-fit: cover; border-radius: calc(var(--_radius) * 0.6); border: 1px solid var(--_line); }
    .actions { display: flex; gap: 0.5rem; align-items: center; }
    .status { margin-top: 0.7rem; }
    .gallery { display: grid; gap: 0.8rem; grid-template-columns: repeat(auto-fill, minmax(12rem, 1fr)); margin-top: 0.9rem; }
    figure { margin: 0; border: 1px solid var(--_line); border-radius: calc(var(--_radius) * 0.8); overflow: hidden; background: var(--_field); }
    figure img { display: block; width: 100%; height: auto; }
    .filtered { aspect-ratio: 1; display: grid; place-items: center; color: var(--_muted); font-size: 0.85rem; padding: 1rem; text-align: center; }
    figcaption { display: flex; justify-content: space-between; gap: 0.4rem; padding: 0.4rem 0.6rem; font-size: 0.78rem; }
    .empty { margin-top: 0.9rem; border: 2px dashed var(--_line); border-radius: var(--_radius); padding: 1.6rem; text-align: center; color: var(--_muted); font-size: 0.9rem; }
  `];

  @property() mode: Mode = 'text';
  /** The image model (sent as `model`); the path's own model when empty. */
  @property() model = 'hearth/tiny-sdxl';
  /** Ask for `text/event-stream` (Hearth's extension) to show each denoising step; off: `application/json` as in the spec. */
  @property({ type: Boolean, attribute: 'live-progress' }) liveProgress = false;
  @property() prompt = 'A lighthouse on a cliff at sunset, oil painting';
  @property({ attribute: 'negative-prompt' }) negativePrompt = '';
  /** "1024x1024": one of the model's resolutions (the first one when empty or unsupported). */
  @property() size = '';
  @property({ type: Number }) steps = 20;
  @property({ type: Number, attribute: 'cfg-scale' }) cfgScale = 7;
  @property({ type: Number }) seed = 0;
  @property({ type: Number }) samples = 1;
  /** A LoRA adapter: a Hugging Face repo (`owner/name`; `hearth/…` for the built-in ones) and its .safetensors file. */
  @property({ attribute: 'lora-adapter' }) loraAdapter = '';
  @property({ attribute: 'lora-file' }) loraFile = '';
  /** Ask the safety checker to filter the images (`safety_check`). */
  @property({ type: Boolean, attribute: 'safety-check' }) safetyCheck = false;
  /** A Hugging Face token for private adapters: sent with the request only, never stored or shown. */
  @state() private hfKey = '';
  /** Live progress, when the engine reports it (rendered in the `progress` slot's default content). */
  @property({ attribute: false }) progress?: ImageProgress;

  @state() private initMode: 'IMAGE_STRENGTH' | 'STEP_SCHEDULE' = 'IMAGE_STRENGTH';
  @state() private imageStrength = 0.35;
  @state() private scheduleStart = 0.65;
  /** Noise level where sampling stops: 0 runs the schedule to the end (see tests/fixtures/sdxl/README.md). */
  @state() private scheduleEnd = 0;
  @state() private conditioningScale = 0.5;
  @state() private file?: File;
  @state() private preview?: string;
  /** ControlNet tab: the canny edges the model will see, from the in-page engine (when this page hosts one). */
  @state() private edges?: string;
  @state() private busy = false;
  @state() private started = 0;
  @state() private elapsed = 0;
  @state() private images: GeneratedImage[] = [];
  @state() private error: ApiError | string = '';
  @state() private lastInfo = '';
  @state() private resolutions: readonly (readonly [number, number])[] = RESOLUTIONS;

  @query('form') private form!: HTMLFormElement;
  private abort?: AbortController;
  /** The user set steps: a model's default no longer replaces it. */
  private stepsTouched = false;
  private timer?: ReturnType<typeof setInterval>;

  override connectedCallback(): void {
    super.connectedCallback();
    if (this.hasAttribute('steps')) this.stepsTouched = true;
  }

  override disconnectedCallback(): void {
    this.abort?.abort();
    clearInterval(this.timer);
    if (this.preview) URL.revokeObjectURL(this.preview);
    if (this.edges) URL.revokeObjectURL(this.edges);
    super.disconnectedCallback();
  }

  cancel(): void {
    this.abort?.abort();
  }

  override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('model')) void this.loadModelFacts();
  }

  /** The model's resolutions and default steps: from GET /models when it lists them, else from the in-page catalog. */
  private async loadModelFacts() {
    const model = this.model;
    const info = (await listModels().catch(() => [] as ModelInfo[])).find((m) => m.id === model);
    const entry = await hearthClient.catalogEntry(model);
    if (model !== this.model) return;
    const list = info?.resolutions?.map((r) => [r.width, r.height] as const) ?? entry?.image?.resolutions;
    this.resolutions = list?.length ? list : RESOLUTIONS;
    if (!this.resolutions.some(([w, h]) => `${w}x${h}` === this.size)) this.size = `${this.resolutions[0][0]}x${this.resolutions[0][1]}`;
    const defaultSteps = info?.default_steps ?? entry?.image?.defaultSteps;
    if (defaultSteps && !this.stepsTouched) this.steps = Math.max(10, defaultSteps);
  }

  async generate(): Promise<void> {
    if (this.busy) return;
    if (this.form && !this.form.reportValidity()) return;
    const mode = MODES.find((m) => m.id === this.mode)!;
    const headers: Record<string, string> = { Accept: this.liveProgress ? 'text/event-stream' : 'application/json' };
    const shownHeaders = { ...headers, ...(this.hfKey && this.loraAdapter.trim() ? { 'Huggingface-Access-Key': '<your token>' } : {}) };
    if (this.hfKey && this.loraAdapter.trim()) headers['Huggingface-Access-Key'] = this.hfKey;
    let init: RequestInit;
    if (this.mode === 'text') {
      const [width, height] = (this.size || `${this.resolutions[0][0]}x${this.resolutions[0][1]}`).split('x').map(Number);
      const body = {
        ...(this.model ? { model: this.model } : {}),
        text_prompts: [{ text: this.prompt, weight: 1 }, ...(this.negativePrompt.trim() ? [{ text: this.negativePrompt, weight: -1 }] : [])],
        width, height, steps: this.steps, cfg_scale: this.cfgScale, seed: this.seed, samples: this.samples,
        ...this.extraFields(),
      };
      emitRequest(this, { path: mode.path, body, headers: shownHeaders });
      init = { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) };
    } else {
      const fields = this.multipartFields();
      emitRequest(this, { path: mode.path, body: fields, multipart: true, headers: shownHeaders });
      const form = new FormData();
      for (const [k, v] of Object.entries(fields)) form.append(k, v);
      init = { method: 'POST', headers, body: form };
    }
    this.busy = true;
    this.error = '';
    this.progress = undefined;
    this.started = performance.now();
    this.elapsed = 0;
    this.timer = setInterval(() => { this.elapsed = performance.now() - this.started; }, 250);
    const abort = new AbortController();
    this.abort = abort;
    try {
      const res = await apiFetch(mode.path, { ...init, signal: abort.signal });
      if (!res.ok) throw await readApiError(res);
      const images = res.headers.get('content-type')?.startsWith('text/event-stream')
        ? await this.readStream(res, abort.signal)
        : await res.json() as GeneratedImage[];
      if (abort.signal.aborted) throw new DOMException('Cancelled', 'AbortError');
      this.images = [...images, ...this.images];
      this.lastInfo = `${images.length} image${images.length === 1 ? '' : 's'} in ${formatDuration((performance.now() - this.started) / 1000)}`;
    } catch (e) {
      this.error = abort.signal.aborted || isAbort(e) ? 'Cancelled.' : e instanceof ApiError ? e : errorText(e);
    } finally {
      clearInterval(this.timer);
      if (this.abort === abort) this.abort = undefined;
      this.busy = false;
      modelsChanged();
    }
  }

  /** Progress events drive `progress`; image events are collected; an error event is thrown as the API's error. */
  private async readStream(res: Response, signal: AbortSignal): Promise<GeneratedImage[]> {
    const images: GeneratedImage[] = [];
    for await (const e of readSse<ImageStreamEvent>(res, signal)) {
      if ('error' in e) throw new ApiError(e.error.message, 0, e.error.type, e.error.code, e.error.param);
      if (e.type === 'progress') {
        const samples = Math.max(1, this.samples);
        this.progress = {
          value: e.sample * e.steps + e.step, max: samples * e.steps,
          label: `Step ${e.step} of ${e.steps}${samples > 1 ? ` · image ${e.sample + 1} of ${samples}` : ''}`,
        };
      } else if (e.type === 'image') {
        images[e.index] = { base64: e.base64, finishReason: e.finishReason, seed: e.seed, mime: e.mime };
      }
    }
    return images.filter(Boolean);
  }

  private multipartFields(): Record<string, string | File> {
    const f: Record<string, string | File> = this.model ? { model: this.model, prompt: this.prompt } : { prompt: this.prompt };
    if (this.negativePrompt.trim()) f.negative_prompt = this.negativePrompt;
    if (this.mode === 'image') {
      if (this.file) f.init_image = this.file;
      f.init_image_mode = this.initMode;
      if (this.initMode === 'IMAGE_STRENGTH') f.image_strength = String(this.imageStrength);
      else {
        f.step_schedule_start = String(this.scheduleStart);
        f.step_schedule_end = String(this.scheduleEnd);
      }
    } else {
      if (this.file) f.control_image = this.file;
      f.control_net_name = 'canny';
      f.conditioning_scale = String(this.conditioningScale);
    }
    Object.assign(f, { steps: String(this.steps), cfg_scale: String(this.cfgScale), seed: String(this.seed), samples: String(this.samples) });
    for (const [k, v] of Object.entries(this.extraFields())) f[k] = String(v);
    return f;
  }

  /** LoRA and safety-check fields, present only when set. */
  private extraFields(): Record<string, string | boolean> {
    const out: Record<string, string | boolean> = {};
    if (this.loraAdapter.trim()) {
      out.lora_adapter_name = this.loraAdapter.trim();
      if (this.loraFile.trim()) out.lora_weight_filename = this.loraFile.trim();
    }
    if (this.safetyCheck) out.safety_check = true;
    return out;
  }

  override render() {
    return html`
      <div role="tablist" aria-label="Image generation mode" @keydown=${this.onTabKey}>
        ${MODES.map((m) => html`<button type="button" role="tab" id="tab-${m.id}" aria-controls="panel"
          aria-selected=${m.id === this.mode ? 'true' : 'false'} tabindex=${m.id === this.mode ? 0 : -1}
          @click=${() => this.selectMode(m.id)}>${m.label}</button>`)}
      </div>
      <form id="panel" role="tabpanel" aria-labelledby="tab-${this.mode}" @submit=${this.onSubmit}>
        <hearth-model-select kind="image" .value=${this.model} @change=${(e: Event) => { this.model = (e.target as HearthModelSelect).value; }}></hearth-model-select>
        <div class="two">
          <div class="field">
            <label for="prompt">Prompt</label>
            <textarea id="prompt" rows="3" required maxlength="2000" .value=${this.prompt} @input=${(e: Event) => { this.prompt = (e.target as HTMLTextAreaElement).value; }}></textarea>
          </div>
          <div class="field">
            <label for="negative">Negative prompt</label>
            <textarea id="negative" rows="3" maxlength="2000" placeholder="What to avoid (weight −1)" .value=${this.negativePrompt} @input=${(e: Event) => { this.negativePrompt = (e.target as HTMLTextAreaElement).value; }}></textarea>
          </div>
        </div>
        ${this.mode === 'text' ? nothing : this.renderUpload()}
        <div class="grid">
          ${this.mode === 'text' ? html`<div class="field">
            <label for="size">Size</label>
            <select id="size" @change=${(e: Event) => { this.size = (e.target as HTMLSelectElement).value; }}>
              ${this.resolutions.map(([w, h]) => html`<option value="${w}x${h}" ?selected=${`${w}x${h}` === this.size}>${w} × ${h}</option>`)}
            </select>
          </div>` : nothing}
          ${this.numberField('steps', 'Steps', this.steps, 10, 150, 1, (v) => { this.steps = v; this.stepsTouched = true; })}
          ${this.numberField('cfg', 'CFG scale', this.cfgScale, 0, 35, 0.5, (v) => { this.cfgScale = v; })}
          ${this.numberField('seed', 'Seed (0 = random)', this.seed, 0, 4294967295, 1, (v) => { this.seed = v; })}
          ${this.numberField('samples', 'Samples', this.samples, 1, 10, 1, (v) => { this.samples = v; })}
        </div>
        <details class="extras" ?open=${Boolean(this.loraAdapter)}>
          <summary>LoRA adapter and safety check</summary>
          <div class="grid">
            <div class="field">
              <label for="lora">LoRA repo</label>
              <input id="lora" placeholder="owner/name (hearth/tiny-sdxl-lora is built in)" .value=${this.loraAdapter}
                @change=${(e: Event) => { this.loraAdapter = (e.target as HTMLInputElement).value; }}>
            </div>
            <div class="field">
              <label for="lora-file">Weights file</label>
              <input id="lora-file" placeholder="pytorch_lora_weights.safetensors" .value=${this.loraFile}
                @change=${(e: Event) => { this.loraFile = (e.target as HTMLInputElement).value; }}>
            </div>
            <div class="field">
              <label for="hf-key">Hugging Face token (private repos)</label>
              <input id="hf-key" type="password" autocomplete="off" .value=${this.hfKey}
                @change=${(e: Event) => { this.hfKey = (e.target as HTMLInputElement).value; }}>
            </div>
            <div class="field check">
              <label><input id="safety" type="checkbox" .checked=${this.safetyCheck}
                @change=${(e: Event) => { this.safetyCheck = (e.target as HTMLInputElement).checked; }}> Safety check</label>
            </div>
          </div>
        </details>
        <div class="actions">
          <button type="submit" class="generate" ?disabled=${this.busy}>Generate</button>
          <button type="button" class="secondary" ?disabled=${!this.busy} @click=${this.cancel}>Cancel</button>
          <span class="readout">${this.lastInfo}</span>
        </div>
      </form>
      <div class="status" aria-live="polite">
        ${this.busy ? html`<slot name="progress">${this.renderProgress()}</slot>` : nothing}
        ${this.error ? html`<div class="error" role="alert">${this.error instanceof ApiError ? html`${this.error.message}<span class="hint">${this.error.summary}</span>` : this.error}</div>` : nothing}
      </div>
      ${this.images.length ? html`<div class="gallery" aria-label="Generated images" role="list">
        ${this.images.map((img, i) => this.renderImage(img, i))}
      </div>` : html`<p class="empty">Generated images appear here, each with its seed and a download link.</p>`}
    `;
  }

  private renderUpload() {
    const isInit = this.mode === 'image';
    return html`
      <div class="upload">
        <div class="field">
          <label for="file">${isInit ? 'Init image' : 'Control image (edges are taken with canny)'}</label>
          <input id="file" type="file" accept="image/png,image/jpeg,image/webp" required @change=${this.onFile}>
        </div>
        ${this.preview ? html`<img class="thumb" src=${this.preview} alt="The chosen ${isInit ? 'init' : 'control'} image">` : nothing}
        ${!isInit && this.edges ? html`<img class="thumb" src=${this.edges} alt="Canny edges of the control image, as the ControlNet sees them">` : nothing}
      </div>
      <div class="grid">
        ${isInit ? html`
          <div class="field">
            <label for="init-mode">Init image mode <span class="hint">(init_image_mode)</span></label>
            <select id="init-mode" @change=${(e: Event) => { this.initMode = (e.target as HTMLSelectElement).value as typeof this.initMode; }}>
              <option value="IMAGE_STRENGTH" ?selected=${this.initMode === 'IMAGE_STRENGTH'}>Image strength</option>
              <option value="STEP_SCHEDULE" ?selected=${this.initMode === 'STEP_SCHEDULE'}>Step schedule</option>
            </select>
          </div>
          ${this.initMode === 'IMAGE_STRENGTH'
            ? this.numberField('strength', 'Image strength', this.imageStrength, 0, 1, 0.05, (v) => { this.imageStrength = v; })
            : html`${this.numberField('sched-start', 'Schedule start', this.scheduleStart, 0, 1, 0.05, (v) => { this.scheduleStart = v; })}
                   ${this.numberField('sched-end', 'Schedule end', this.scheduleEnd, 0, 1, 0.05, (v) => { this.scheduleEnd = v; })}`}
        ` : this.numberField('cond', 'Conditioning scale', this.conditioningScale, 0, 1, 0.05, (v) => { this.conditioningScale = v; })}
      </div>
    `;
  }

  private renderProgress() {
    const p = this.progress;
    const time = formatDuration(this.elapsed / 1000);
    return p
      ? html`<progress max=${p.max} .value=${p.value} aria-label="Generation progress"></progress><p class="readout">${p.label ?? `Step ${p.value} of ${p.max}`} · ${time}</p>`
      : html`<progress aria-label="Generating"></progress><p class="readout">Generating… ${time}</p>`;
  }

  private renderImage(img: GeneratedImage, i: number) {
    const src = `data:${img.mime ?? 'image/png'};base64,${img.base64}`;
    return html`<figure role="listitem">
      ${img.finishReason === 'SUCCESS' && img.base64
        ? html`<img src=${src} alt="Generated image ${i + 1}: ${this.prompt} (seed ${img.seed})">`
        : html`<div class="filtered">${img.finishReason === 'CONTENT_FILTERED' ? 'Filtered by the safety check.' : `No image (${img.finishReason}).`}</div>`}
      <figcaption><span class="mono">seed ${img.seed}</span>
        ${img.base64 ? html`<a href=${src} download="hearth-sdxl-${img.seed}.${img.mime === 'image/jpeg' ? 'jpg' : 'png'}">Download</a>` : nothing}</figcaption>
    </figure>`;
  }

  private numberField(id: string, label: string, value: number, min: number, max: number, step: number, set: (v: number) => void) {
    return html`<div class="field">
      <label for=${id}>${label}</label>
      <input id=${id} type="number" min=${min} max=${max} step=${step} .value=${String(value)}
        @change=${(e: Event) => { const v = (e.target as HTMLInputElement).valueAsNumber; if (Number.isFinite(v)) set(v); }}>
    </div>`;
  }

  private selectMode(mode: Mode) {
    if (mode === this.mode) return;
    this.mode = mode;
    this.file = undefined;
    if (this.preview) URL.revokeObjectURL(this.preview);
    if (this.edges) URL.revokeObjectURL(this.edges);
    this.preview = undefined;
    this.edges = undefined;
  }

  private onTabKey(e: KeyboardEvent) {
    const i = MODES.findIndex((m) => m.id === this.mode);
    const next = e.key === 'ArrowRight' ? (i + 1) % MODES.length : e.key === 'ArrowLeft' ? (i + MODES.length - 1) % MODES.length
      : e.key === 'Home' ? 0 : e.key === 'End' ? MODES.length - 1 : -1;
    if (next < 0) return;
    e.preventDefault();
    this.selectMode(MODES[next].id);
    void this.updateComplete.then(() => this.renderRoot.querySelector<HTMLElement>(`#tab-${MODES[next].id}`)?.focus());
  }

  private onFile(e: Event) {
    const file = (e.target as HTMLInputElement).files?.[0];
    this.file = file;
    if (this.preview) URL.revokeObjectURL(this.preview);
    this.preview = file ? URL.createObjectURL(file) : undefined;
    if (this.edges) URL.revokeObjectURL(this.edges);
    this.edges = undefined;
    if (file && this.mode === 'controlnet') void this.previewEdges(file);
  }

  /** Canny preview through the engine itself (same kernels and thresholds as the request will use). */
  private async previewEdges(file: File) {
    try {
      const png = await hearthClient.cannyPreview(file, 100, 200);
      // Engines in another tab (this page is not the host): no preview, generation still works through the service worker.
      if (!png) return;
      if (this.file === file) this.edges = URL.createObjectURL(new Blob([png], { type: 'image/png' }));
    } catch (e) {
      this.error = errorText(e);
    }
  }

  private onSubmit(e: Event) {
    e.preventDefault();
    void this.generate();
  }
}

declare global {
  interface HTMLElementTagNameMap { 'hearth-image': HearthImage }
}


// <hearth-model-select kind="llm">: a labelled model picker filled from GET /models (built-in models first, real ones with their download size); fires `change` with the chosen id in `value`.
import { LitElement, css, html } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import { errorText, listModels, type ModelInfo } from './api';
import { modelLabel } from './format';

@customElement('hearth-model-select')
export class HearthModelSelect extends LitElement {
  static override styles = css`
    :host { display: flex; flex-direction: column; gap: 0.25rem; min-width: 0; }
    label { font-weight: 600; font-size: 0.85rem; }
    select {
      font: inherit; color: inherit; min-width: 0; max-width: 100%;
      background: color-mix(in srgb, var(--hearth-fg, #1c1917) 3%, var(--hearth-bg, #fff));
      border: 1px solid color-mix(in srgb, var(--hearth-fg, #1c1917) 16%, var(--hearth-bg, #fff));
      border-radius: calc(var(--hearth-radius, 10px) * 0.6); padding: 0.4rem 0.55rem;
    }
    select:focus-visible { outline: 3px solid color-mix(in srgb, var(--hearth-accent, #c2410c) 55%, transparent); outline-offset: 2px; }
    .error { color: #b91c1c; font-size: 0.8rem; }
  `;

  /** Which models to offer: `llm`, `embeddings` or `image`. */
  @property() kind: ModelInfo['kind'] = 'llm';
  /** The chosen model id (kept even before the list has loaded). */
  @property() value = '';
  @property() label = 'Model';
  @state() private models: ModelInfo[] = [];
  @state() private error = '';

  private readonly onChanged = () => { void this.load(); };

  override connectedCallback(): void {
    super.connectedCallback();
    window.addEventListener('hearth-models-changed', this.onChanged);
    void this.load();
  }

  override disconnectedCallback(): void {
    window.removeEventListener('hearth-models-changed', this.onChanged);
    super.disconnectedCallback();
  }

  /** The chosen model's description from GET /models, once loaded. */
  get selected(): ModelInfo | undefined {
    return this.models.find((m) => m.id === this.value);
  }

  async load(): Promise<void> {
    try {
      const all = await listModels();
      this.models = all.filter((m) => m.kind === this.kind).sort((a, b) => Number(b.built_in) - Number(a.built_in));
      this.error = '';
      if (!this.models.some((m) => m.id === this.value) && this.models.length) {
        this.value = this.models[0].id;
        this.dispatchEvent(new Event('change', { bubbles: true }));
      }
    } catch (e) {
      this.error = errorText(e);
    }
  }

  override render() {
    const known = this.models.some((m) => m.id === this.value);
    return html`
      <label for="select">${this.label}</label>
      <select id="select" .value=${this.value} @change=${this.onSelect}>
        ${known || !this.value ? '' : html`<option value=${this.value}>${this.value}</option>`}
        ${this.models.map((m) => html`<option value=${m.id} ?selected=${m.id === this.value}>${modelLabel(m)}</option>`)}
      </select>
      ${this.error ? html`<span class="error" role="alert">${this.error}</span>` : ''}
    `;
  }

  private onSelect(e: Event) {
    this.value = (e.target as HTMLSelectElement).value;
    this.dispatchEvent(new Event('change', { bubbles: true }));
  }
}

declare global {
  interface HTMLElementTagNameMap { 'hearth-model-select': HearthModelSelect }
}

// <hearth-embeddings>: embeds several inputs (one per line) with POST /embeddings and shows their cosine similarities as a heatmap table (coloured cells with values, readable by screen readers).
import { LitElement, css, html, nothing } from 'lit';
import { customElement, property, query, state } from 'lit/decorators.js';
import { ApiError, emitRequest, errorText, modelsChanged, postJson } from './api';
import { formatDuration } from './format';
import { baseStyles } from './styles';
import type { HearthModelSelect } from './hearth-model-select';
import './hearth-model-select';

interface Result {
  inputs: string[];
  matrix: number[][];
  dims: number;
  tokens: number;
  ms: number;
  backend: string | null;
}

const DEFAULT_INPUTS = [
  'The quick brown fox jumps over the lazy dog',
  'A fast auburn fox leaps above a sleepy hound',
  'The food was delicious and the waiter was kind',
  'Stock markets fell sharply on Monday',
].join('\n');

@customElement('hearth-embeddings')
export class HearthEmbeddings extends LitElement {
  static override styles = [baseStyles, css`
    .controls { display: grid; grid-template-columns: minmax(0, 1fr) auto; gap: 0.7rem; align-items: end; margin-top: 0.7rem; }
    .heat-wrap { margin-top: 0.9rem; overflow-x: auto; }
    table.heatmap { width: auto; border-collapse: separate; border-spacing: 3px; font-size: 0.8rem; }
    .heatmap th { text-transform: none; letter-spacing: 0; border: 0; font-weight: 600; color: var(--_fg); max-width: 14rem; }
    .heatmap thead th { text-align: center; vertical-align: bottom; }
    .heatmap thead td { border: 0; }
    .heatmap th.rowhead { text-align: right; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
    .heatmap td.cell {
      width: 3.6rem; height: 2.6rem; text-align: center; vertical-align: middle; border: 0; border-radius: 4px;
      font-variant-numeric: tabular-nums; font-weight: 600;
    }
    .legend { display: flex; align-items: center; gap: 0.4rem; font-size: 0.75rem; color: var(--_muted); margin-top: 0.5rem; }
    .scale { width: 9rem; height: 0.6rem; border-radius: 3px; border: 1px solid var(--_line); background: linear-gradient(to right, #2563eb, var(--_bg), var(--_accent)); }
    .inputs-list { margin: 0.6rem 0 0; padding-left: 1.4rem; font-size: 0.82rem; color: var(--_muted); }
  `];

  @property() model = 'hearth/tiny-embed';
  @property() inputs = DEFAULT_INPUTS;

  @state() private busy = false;
  @state() private result?: Result;
  @state() private error: ApiError | string = '';

  @query('#inputs') private textarea!: HTMLTextAreaElement;

  async run(): Promise<void> {
    if (this.busy) return;
    this.inputs = this.textarea?.value ?? this.inputs;
    const input = this.inputs.split('\n').map((l) => l.trim()).filter(Boolean);
    if (!input.length) {
      this.error = 'Type at least one line to embed.';
      return;
    }
    const body = { model: this.model, input };
    emitRequest(this, { path: '/embeddings', body });
    this.busy = true;
    this.error = '';
    const t0 = performance.now();
    try {
      const res = await postJson('/embeddings', body);
      const out = await res.json() as { data: { index: number; embedding: number[] }[]; usage: { prompt_tokens: number } };
      const vectors = [...out.data].sort((a, b) => a.index - b.index).map((d) => d.embedding);
      this.result = {
        inputs: input,
        matrix: vectors.map((a) => vectors.map((b) => cosine(a, b))),
        dims: vectors[0]?.length ?? 0,
        tokens: out.usage.prompt_tokens,
        ms: performance.now() - t0,
        backend: res.headers.get('x-hearth-backend'),
      };
    } catch (e) {
      this.error = e instanceof ApiError ? e : errorText(e);
    } finally {
      this.busy = false;
      modelsChanged();
    }
  }

  override render() {
    return html`
      <div class="field">
        <label for="inputs">Inputs <span class="hint">(one per line)</span></label>
        <textarea id="inputs" rows="5" .value=${this.inputs}></textarea>
      </div>
      <div class="controls">
        <hearth-model-select kind="embeddings" .value=${this.model} @change=${(e: Event) => { this.model = (e.target as HearthModelSelect).value; }}></hearth-model-select>
        <button type="button" class="run" ?disabled=${this.busy} @click=${() => void this.run()}>${this.busy ? 'Embedding…' : 'Embed and compare'}</button>
      </div>
      ${this.error ? html`<div class="error" role="alert">${this.error instanceof ApiError ? html`${this.error.message}<span class="hint">${this.error.summary}</span>` : this.error}</div>` : nothing}
      <div aria-live="polite">${this.result ? this.renderResult(this.result) : nothing}</div>
    `;
  }

  private renderResult(r: Result) {
    const short = (s: string) => (s.length > 28 ? `${s.slice(0, 27)}…` : s);
    return html`
      <p class="readout">${r.inputs.length} inputs · ${r.dims} dimensions · ${r.tokens} tokens · ${formatDuration(r.ms / 1000)}${r.backend ? ` · ${r.backend}` : ''}</p>
      <div class="heat-wrap">
        <table class="heatmap">
          <caption class="visually-hidden">Cosine similarity between every pair of inputs (1.00 = same direction)</caption>
          <thead><tr><td></td>${r.inputs.map((s, j) => html`<th scope="col" title=${s}>#${j + 1}</th>`)}</tr></thead>
          <tbody>
            ${r.matrix.map((row, i) => html`<tr>
              <th scope="row" class="rowhead" title=${r.inputs[i]}>#${i + 1} ${short(r.inputs[i])}</th>
              ${row.map((v, j) => html`<td class="cell" style=${cellStyle(v)} title=${`#${i + 1} · #${j + 1}: ${v.toFixed(4)}`}>${v.toFixed(2)}</td>`)}
            </tr>`)}
          </tbody>
        </table>
      </div>
      <div class="legend" aria-hidden="true"><span>−1</span><span class="scale"></span><span>1 (same direction)</span></div>
      ${r.inputs.some((s) => short(s) !== s) ? html`<ol class="inputs-list" aria-label="Inputs in full">${r.inputs.map((s) => html`<li>${s}</li>`)}</ol>` : nothing}
    `;
  }
}

export function cosine(a: number[], b: number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na && nb ? dot / Math.sqrt(na * nb) : 0;
}

/** Diverging colours from the theme: the accent for 1, the background for 0, blue for −1. */
function cellStyle(v: number): string {
  const t = Math.max(-1, Math.min(1, v));
  const pct = Math.round(Math.abs(t) * 85 + 8);
  const hue = t >= 0 ? 'var(--_accent)' : '#2563eb';
  const fg = Math.abs(t) > 0.62 ? '#fff' : 'var(--_fg)';
  return `background: color-mix(in srgb, ${hue} ${pct}%, var(--_bg)); color: ${fg};`;
}

declare global {
  interface HTMLElementTagNameMap { 'hearth-embeddings': HearthEmbeddings }
}

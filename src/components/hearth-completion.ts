// <hearth-completion>: raw text completion with POST /completions, with max_tokens, temperature, echo, and a per-token logprobs table (0–5 top alternatives).
import { LitElement, css, html, nothing } from 'lit';
import { customElement, property, query, state } from 'lit/decorators.js';
import { ApiError, emitRequest, errorText, isAbort, modelsChanged, postJson } from './api';
import { formatDuration } from './format';
import { baseStyles } from './styles';
import type { HearthModelSelect } from './hearth-model-select';
import './hearth-model-select';

interface Logprobs {
  tokens: string[];
  token_logprobs: (number | null)[];
  top_logprobs: (Record<string, number> | null)[] | null;
  text_offset: number[];
}

interface CompletionResponse {
  choices: { text: string; logprobs: Logprobs | null; finish_reason: string }[];
  usage: { prompt_tokens: number; completion_tokens: number };
}

interface Result {
  text: string;
  /** Characters of `text` that echo the prompt. */
  echoed: number;
  logprobs: Logprobs | null;
  promptTokens: number;
  completionTokens: number;
  finish: string;
  ms: number;
  backend: string | null;
}

@customElement('hearth-completion')
export class HearthCompletion extends LitElement {
  static override styles = [baseStyles, css`
    .controls { display: grid; gap: 0.7rem; grid-template-columns: minmax(12rem, 2fr) repeat(3, minmax(6.5rem, 1fr)); align-items: end; margin: 0.7rem 0; }
    @media (max-width: 40rem) { .controls { grid-template-columns: 1fr 1fr; } }
    .actions { display: flex; gap: 0.5rem; align-items: center; flex-wrap: wrap; }
    .output {
      margin-top: 0.8rem; padding: 0.7rem 0.8rem; min-height: 3.5rem; white-space: pre-wrap; overflow-wrap: anywhere;
      border: 1px solid var(--_line); border-radius: calc(var(--_radius) * 0.6); background: var(--_field);
    }
    .echo { color: var(--_muted); }
    .gen { background: var(--_soft); border-radius: 3px; }
    .lp-wrap { margin-top: 0.8rem; max-height: 24rem; overflow: auto; border: 1px solid var(--_line); border-radius: calc(var(--_radius) * 0.6); }
    .lp th { position: sticky; top: 0; background: var(--_bg); }
    .lp td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
    .lp tr.prompt td { color: var(--_muted); }
    .tok { font-family: ui-monospace, Menlo, Consolas, monospace; background: var(--_soft); padding: 0 0.25rem; border-radius: 3px; white-space: pre; }
    .alts { display: flex; flex-wrap: wrap; gap: 0.25rem; }
    .alt { font-size: 0.78rem; border: 1px solid var(--_line); border-radius: 999px; padding: 0 0.45rem; white-space: pre; }
    .alt.chosen { border-color: var(--_accent); color: var(--_accent); }
    .bar { display: inline-block; height: 0.45rem; border-radius: 2px; background: var(--_accent); vertical-align: middle; margin-right: 0.3rem; }
  `];

  @property() model = 'hearth/tiny-llama';
  @property() prompt = 'The quick brown fox';
  @property({ type: Number, attribute: 'max-tokens' }) maxTokens = 16;
  @property({ type: Number }) temperature = 0.8;
  /** -1 = off, else 0–5 alternatives per token. */
  @property({ type: Number }) logprobs = 3;
  @property({ type: Boolean }) echo = false;

  @state() private busy = false;
  @state() private result?: Result;
  @state() private error: ApiError | string = '';

  @query('#prompt') private promptInput!: HTMLTextAreaElement;
  private abort?: AbortController;

  override disconnectedCallback(): void {
    this.abort?.abort();
    super.disconnectedCallback();
  }

  cancel(): void {
    this.abort?.abort();
  }

  async run(): Promise<void> {
    if (this.busy) return;
    const prompt = this.promptInput?.value ?? this.prompt;
    this.prompt = prompt;
    const body: Record<string, unknown> = { model: this.model, prompt, max_tokens: this.maxTokens, temperature: this.temperature };
    if (this.logprobs >= 0) body.logprobs = this.logprobs;
    if (this.echo) body.echo = true;
    emitRequest(this, { path: '/completions', body });
    this.busy = true;
    this.error = '';
    const abort = new AbortController();
    this.abort = abort;
    const t0 = performance.now();
    try {
      const res = await postJson('/completions', body, { signal: abort.signal });
      const out = await res.json() as CompletionResponse;
      const choice = out.choices[0];
      this.result = {
        text: choice.text,
        echoed: this.echo && choice.text.startsWith(prompt) ? prompt.length : 0,
        logprobs: choice.logprobs,
        promptTokens: out.usage.prompt_tokens,
        completionTokens: out.usage.completion_tokens,
        finish: choice.finish_reason,
        ms: performance.now() - t0,
        backend: res.headers.get('x-hearth-backend'),
      };
    } catch (e) {
      this.error = abort.signal.aborted || isAbort(e) ? 'Cancelled.' : e instanceof ApiError ? e : errorText(e);
    } finally {
      if (this.abort === abort) this.abort = undefined;
      this.busy = false;
      modelsChanged();
    }
  }

  override render() {
    return html`
      <div class="field">
        <label for="prompt">Prompt</label>
        <textarea id="prompt" rows="3" .value=${this.prompt}></textarea>
      </div>
      <div class="controls">
        <hearth-model-select kind="llm" .value=${this.model} @change=${(e: Event) => { this.model = (e.target as HearthModelSelect).value; }}></hearth-model-select>
        <div class="field">
          <label for="max-tokens">Max tokens</label>
          <input id="max-tokens" type="number" min="0" max="4096" .value=${String(this.maxTokens)} @change=${(e: Event) => { this.maxTokens = num(e, this.maxTokens); }}>
        </div>
        <div class="field">
          <label for="temperature">Temperature</label>
          <input id="temperature" type="number" min="0" max="2" step="0.1" .value=${String(this.temperature)} @change=${(e: Event) => { this.temperature = num(e, this.temperature); }}>
        </div>
        <div class="field">
          <label for="logprobs">Logprobs</label>
          <select id="logprobs" @change=${(e: Event) => { this.logprobs = Number((e.target as HTMLSelectElement).value); }}>
            <option value="-1" ?selected=${this.logprobs < 0}>off</option>
            ${[0, 1, 2, 3, 4, 5].map((n) => html`<option value=${n} ?selected=${n === this.logprobs}>${n === 0 ? '0 (chosen only)' : `top ${n}`}</option>`)}
          </select>
        </div>
      </div>
      <div class="actions">
        <label class="check"><input type="checkbox" .checked=${this.echo} @change=${(e: Event) => { this.echo = (e.target as HTMLInputElement).checked; }}> Echo the prompt</label>
        <span style="flex:1"></span>
        <button type="button" class="run" ?disabled=${this.busy} @click=${() => void this.run()}>Complete</button>
        <button type="button" class="secondary" ?disabled=${!this.busy} @click=${this.cancel}>Cancel</button>
      </div>
      ${this.error ? html`<div class="error" role="alert">${this.error instanceof ApiError ? html`${this.error.message}<span class="hint">${this.error.summary}</span>` : this.error}</div>` : nothing}
      <div class="output" aria-live="polite" aria-busy=${this.busy ? 'true' : 'false'} aria-label="Completion">${this.renderText()}</div>
      <p class="readout">${this.result ? `${this.result.completionTokens} tokens in ${formatDuration(this.result.ms / 1000)} · prompt ${this.result.promptTokens} tokens · finish: ${this.result.finish}${this.result.backend ? ` · ${this.result.backend}` : ''}` : this.busy ? 'Generating…' : ''}</p>
      ${this.renderLogprobs()}
    `;
  }

  private renderText() {
    const r = this.result;
    if (!r) return html`<span class="hint">The completion appears here.</span>`;
    return html`${r.echoed ? html`<span class="echo" title="echoed prompt">${r.text.slice(0, r.echoed)}</span>` : nothing}<span class="gen">${r.text.slice(r.echoed)}</span>`;
  }

  private renderLogprobs() {
    const lp = this.result?.logprobs;
    if (!lp) return nothing;
    const echoedTokens = this.result!.echoed ? this.result!.promptTokens : 0;
    return html`<div class="lp-wrap">
      <table class="lp">
        <caption class="visually-hidden">Log probability of each token, with the top alternatives the model considered</caption>
        <thead><tr><th scope="col">#</th><th scope="col">Token</th><th scope="col">Logprob</th><th scope="col">Probability</th><th scope="col">Top alternatives</th></tr></thead>
        <tbody>
          ${lp.tokens.map((token, i) => {
            const logprob = lp.token_logprobs[i];
            const p = logprob == null ? null : Math.exp(logprob);
            const alts = Object.entries(lp.top_logprobs?.[i] ?? {}).sort((a, b) => b[1] - a[1]);
            return html`<tr class=${i < echoedTokens ? 'prompt' : 'generated'}>
              <td class="num">${i + 1}</td>
              <td><span class="tok">${visible(token)}</span>${i < echoedTokens ? html` <span class="hint">prompt</span>` : nothing}</td>
              <td class="num">${logprob == null ? '—' : logprob.toFixed(3)}</td>
              <td class="num">${p == null ? '—' : html`<span class="bar" style="width:${Math.max(1, p * 60)}px" aria-hidden="true"></span>${(p * 100).toFixed(1)}%`}</td>
              <td><div class="alts">${alts.length ? alts.map(([t, l]) => html`<span class="alt ${t === token ? 'chosen' : ''}">${visible(t)} ${(Math.exp(l) * 100).toFixed(1)}%</span>`) : html`<span class="hint">—</span>`}</div></td>
            </tr>`;
          })}
        </tbody>
      </table>
    </div>`;
  }
}

const num = (e: Event, fallback: number) => {
  const v = (e.target as HTMLInputElement).valueAsNumber;
  return Number.isFinite(v) ? v : fallback;
};

/** Shows spaces and line breaks inside tokens. */
const visible = (t: string) => t.replace(/ /g, '␣').replace(/\n/g, '⏎').replace(/\t/g, '⇥');

declare global {
  interface HTMLElementTagNameMap { 'hearth-completion': HearthCompletion }
}

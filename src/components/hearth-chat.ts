// <hearth-chat>: a streaming chat with POST /chat/completions (SSE), a Stop button, model picker, sampling settings, JSON mode, a tool-calling example and a tokens/s readout.
import { LitElement, css, html, nothing, type PropertyValues } from 'lit';
import { customElement, property, query, state } from 'lit/decorators.js';
import { emitRequest, errorText, isAbort, listModels, modelsChanged, postJson, ApiError, type ModelInfo } from './api';
import { readSse } from './sse-reader';
import { formatDuration } from './format';
import { baseStyles } from './styles';
import type { HearthModelSelect } from './hearth-model-select';
import './hearth-model-select';

interface ToolCall { id?: string; type?: 'function'; index?: number; function: { name: string; arguments: string } }

interface Turn {
  role: 'user' | 'assistant';
  content: string;
  toolCalls?: ToolCall[];
  /** The reader stopped it (Stop button). */
  stopped?: boolean;
  finishReason?: string;
}

interface ChatChunk {
  choices?: { index: number; delta?: { content?: string | null; tool_calls?: ToolCall[] }; finish_reason?: string | null }[];
  usage?: { prompt_tokens: number; completion_tokens: number };
  /** An error after the headers were sent arrives as a last event in the ErrorResponse shape. */
  error?: { message: string; type: string; code: string | null; param: string | null };
}

/** The example tool the "tools example" toggle sends (tool_choice auto). */
export const WEATHER_TOOL = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: {
      type: 'object',
      properties: {
        // Bounded so even the tiny random-weight model finishes its call within its 256-token context.
        city: { type: 'string', maxLength: 20 },
        unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
      },
      required: ['city', 'unit'],
    },
  },
} as const;

@customElement('hearth-chat')
export class HearthChat extends LitElement {
  static override styles = [baseStyles, css`
    .top { display: grid; grid-template-columns: minmax(0, 1fr) auto; gap: 0.7rem; align-items: end; margin-bottom: 0.7rem; }
    .log {
      list-style: none; margin: 0; padding: 0.7rem; display: flex; flex-direction: column; gap: 0.6rem;
      min-height: 14rem; max-height: 28rem; overflow-y: auto;
      border: 1px solid var(--_line); border-radius: calc(var(--_radius) * 0.6); background: var(--_field);
    }
    .empty { color: var(--_muted); margin: auto; text-align: center; font-size: 0.9rem; }
    .msg { max-width: 85%; padding: 0.5rem 0.75rem; border-radius: var(--_radius); overflow-wrap: anywhere; }
    .content { white-space: pre-wrap; }
    .msg.user { align-self: flex-end; background: var(--_accent); color: #fff; border-bottom-right-radius: 3px; }
    .msg.assistant { align-self: flex-start; background: var(--_bg); border: 1px solid var(--_line); border-bottom-left-radius: 3px; }
    .who { display: block; font-size: 0.7rem; font-weight: 700; text-transform: uppercase; letter-spacing: 0.05em; opacity: 0.7; margin-bottom: 0.15rem; }
    .tool { margin-top: 0.4rem; padding: 0.4rem 0.55rem; border-radius: calc(var(--_radius) * 0.5); background: var(--_soft); border: 1px dashed color-mix(in srgb, var(--_accent) 40%, var(--_bg)); }
    .tool code { white-space: pre-wrap; }
    .note { display: block; font-size: 0.75rem; color: var(--_muted); margin-top: 0.2rem; }
    .typing::after { content: '▍'; animation: blink 1s steps(2) infinite; color: var(--_accent); }
    @keyframes blink { 50% { opacity: 0; } }
    form { margin-top: 0.7rem; display: grid; grid-template-columns: minmax(0, 1fr) auto; gap: 0.6rem; align-items: end; }
    .buttons { display: flex; gap: 0.4rem; }
    .settings { margin-top: 0.7rem; }
    .settings .grid { grid-template-columns: repeat(auto-fill, minmax(8rem, 1fr)); align-items: end; }
    .settings .wide { grid-column: 1 / -1; }
    .foot { display: flex; justify-content: space-between; align-items: center; gap: 0.6rem; margin-top: 0.4rem; }
  `];

  @property() model = 'hearth/tiny-llama';
  @property({ type: Number }) temperature = 0.7;
  @property({ type: Number, attribute: 'top-p' }) topP = 1;
  @property({ type: Number, attribute: 'top-k' }) topK = 0;
  @property({ type: Number, attribute: 'max-tokens' }) maxTokens = 200;
  /** Fixed seed for reproducible sampling; null = random (the API reports the one it used in x-hearth-seed). */
  @property({ type: Number }) seed: number | null = null;
  @property({ attribute: 'system-prompt' }) systemPrompt = '';
  @property({ type: Boolean, attribute: 'json-mode' }) jsonMode = false;
  @property({ type: Boolean }) tools = false;

  @state() private turns: Turn[] = [];
  @state() private busy = false;
  @state() private error: ApiError | string = '';
  @state() private readout = '';

  @state() private info?: ModelInfo;

  @query('textarea#message') private input!: HTMLTextAreaElement;
  @query('.log') private log!: HTMLElement;
  private abort?: AbortController;

  private readonly onModelsChanged = () => { void this.loadInfo(); };

  override connectedCallback(): void {
    super.connectedCallback();
    window.addEventListener('hearth-models-changed', this.onModelsChanged);
  }

  override disconnectedCallback(): void {
    window.removeEventListener('hearth-models-changed', this.onModelsChanged);
    this.abort?.abort();
    super.disconnectedCallback();
  }

  /** Stops the answer being streamed, if any. */
  stop(): void {
    this.abort?.abort();
  }

  clear(): void {
    this.stop();
    this.turns = [];
    this.readout = '';
    this.error = '';
  }

  /** Sends `text` as the next user message (what the Send button does). */
  async send(text = this.input?.value ?? ''): Promise<void> {
    text = text.trim();
    if (!text || this.busy) return;
    const history = this.turns.filter((t) => !t.stopped || t.content);
    const user: Turn = { role: 'user', content: text };
    const answer: Turn = { role: 'assistant', content: '' };
    const body = this.requestBody([...history, user]);
    this.turns = [...this.turns, user, answer];
    if (this.input) this.input.value = '';
    this.error = '';
    this.readout = 'Waiting for the first token…';
    this.busy = true;
    const abort = new AbortController();
    this.abort = abort;
    emitRequest(this, { path: '/chat/completions', body });

    const t0 = performance.now();
    let first: number | undefined;
    let last: number | undefined;
    let deltas = 0;
    let usage: ChatChunk['usage'];
    try {
      const res = await postJson('/chat/completions', body, { signal: abort.signal });
      for await (const chunk of readSse<ChatChunk>(res, abort.signal)) {
        if (chunk.error) throw new ApiError(chunk.error.message, 0, chunk.error.type, chunk.error.code, chunk.error.param);
        if (chunk.usage) usage = chunk.usage;
        const choice = chunk.choices?.[0];
        if (!choice) continue;
        const now = performance.now();
        if (choice.delta?.content) {
          answer.content += choice.delta.content;
          deltas++;
          if (first === undefined) this.readout = 'Generating…';
          first ??= now;
          last = now;
        }
        if (choice.delta?.tool_calls) {
          mergeToolCalls(answer, choice.delta.tool_calls);
          first ??= now;
          last = now;
        }
        if (choice.finish_reason) answer.finishReason = choice.finish_reason;
        this.requestUpdate();
      }
      if (abort.signal.aborted) answer.stopped = true;
    } catch (e) {
      if (abort.signal.aborted || isAbort(e)) answer.stopped = true;
      else this.error = e instanceof ApiError ? e : errorText(e);
    } finally {
      if (this.abort === abort) this.abort = undefined;
      this.busy = false;
      if (!answer.content && !answer.toolCalls && !answer.stopped && this.error) this.turns = this.turns.filter((t) => t !== answer);
      this.readout = describeSpeed({ t0, first, last, deltas, usage, stopped: Boolean(answer.stopped), finish: answer.finishReason });
      this.requestUpdate();
      modelsChanged();
      await this.updateComplete;
      this.input?.focus();
    }
  }

  private requestBody(turns: Turn[]): Record<string, unknown> {
    const messages: Record<string, unknown>[] = [];
    if (this.systemPrompt.trim()) messages.push({ role: 'system', content: this.systemPrompt.trim() });
    for (const t of turns) {
      if (t.toolCalls?.length) {
        messages.push({ role: 'assistant', content: t.content || null, tool_calls: t.toolCalls.map(({ id, function: f }) => ({ id, type: 'function', function: f })) });
      } else {
        messages.push({ role: t.role, content: t.content });
      }
    }
    const body: Record<string, unknown> = {
      model: this.model,
      messages,
      stream: true,
      max_tokens: this.maxTokens,
      temperature: this.temperature,
      top_p: this.topP,
    };
    if (this.topK > 0) body.top_k = this.topK;
    if (this.seed !== null) body.seed = this.seed;
    if (this.jsonMode) body.response_format = { type: 'json_object' };
    if (this.tools) {
      body.tools = [WEATHER_TOOL];
      body.tool_choice = 'auto';
    }
    return body;
  }

  override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('model')) void this.loadInfo();
  }

  private async loadInfo() {
    const model = this.model;
    const info = (await listModels().catch(() => [])).find((m) => m.id === model);
    if (model === this.model) this.info = info;
  }

  override updated(): void {
    if (this.busy && this.log) this.log.scrollTop = this.log.scrollHeight;
  }

  override render() {
    const toolsSupported = this.info?.supports_tools ?? true;
    return html`
      <div class="top">
        <hearth-model-select kind="llm" .value=${this.model} @change=${this.onModel}></hearth-model-select>
        <button type="button" class="quiet" @click=${this.clear} ?disabled=${!this.turns.length && !this.busy}>Clear</button>
      </div>
      <ol class="log" role="log" aria-live="polite" aria-busy=${this.busy ? 'true' : 'false'} aria-label="Conversation">
        ${this.turns.length ? this.turns.map((t, i) => this.renderTurn(t, i === this.turns.length - 1)) : html`<li class="empty">Say something to ${this.model}. The built-in tiny models have random weights: they answer gibberish, fast.</li>`}
      </ol>
      ${this.renderError()}
      <form @submit=${this.onSubmit}>
        <div class="field">
          <label for="message">Message</label>
          <textarea id="message" rows="2" placeholder="Ask anything… (Enter sends, Shift+Enter for a new line)" @keydown=${this.onKey}></textarea>
        </div>
        <div class="buttons">
          <button type="submit" class="send" ?disabled=${this.busy}>Send</button>
          <button type="button" class="stop secondary" ?disabled=${!this.busy} @click=${this.stop}>Stop</button>
        </div>
      </form>
      <div class="foot">
        <p class="readout" aria-live="polite">${this.readout}</p>
      </div>
      <details class="panel settings">
        <summary>Settings</summary>
        <div class="grid">
          ${numberField('temperature', 'Temperature', this.temperature, 0, 2, 0.1, (v) => { this.temperature = v; })}
          ${numberField('top_p', 'Top p', this.topP, 0, 1, 0.05, (v) => { this.topP = v; })}
          ${numberField('top_k', 'Top k (0 = off)', this.topK, 0, 1000, 1, (v) => { this.topK = v; })}
          ${numberField('max_tokens', 'Max tokens', this.maxTokens, 1, 4096, 1, (v) => { this.maxTokens = v; })}
          <div class="field">
            <label for="seed">Seed <span class="hint">(blank = random)</span></label>
            <input id="seed" type="number" min="0" max="4294967295" step="1" .value=${this.seed === null ? '' : String(this.seed)}
              @change=${(e: Event) => { const v = (e.target as HTMLInputElement).valueAsNumber; this.seed = Number.isFinite(v) ? v : null; }}>
          </div>
          <div class="field wide">
            <label for="system">System prompt</label>
            <textarea id="system" rows="2" .value=${this.systemPrompt} @input=${(e: Event) => { this.systemPrompt = (e.target as HTMLTextAreaElement).value; }}></textarea>
          </div>
          <label class="check wide"><input type="checkbox" .checked=${this.jsonMode} @change=${(e: Event) => { this.jsonMode = (e.target as HTMLInputElement).checked; }}>
            JSON mode <span class="hint">(response_format json_object: always valid JSON)</span></label>
          <label class="check wide"><input type="checkbox" .checked=${this.tools} @change=${(e: Event) => { this.tools = (e.target as HTMLInputElement).checked; }}>
            Tools example <span class="hint">(offers get_weather with tool_choice auto${toolsSupported ? '' : `; ${this.model} has no tool template, try hearth/tiny-llama-tools`})</span></label>
        </div>
      </details>
    `;
  }

  private renderTurn(t: Turn, isLast: boolean) {
    const streaming = this.busy && isLast && t.role === 'assistant';
    return html`<li class="msg ${t.role}">
      <span class="who">${t.role === 'user' ? 'You' : 'Assistant'}</span><span class="content ${streaming ? 'typing' : ''}">${t.content}</span>
      ${t.toolCalls?.map((c) => html`<div class="tool"><span class="who">Tool call</span><code>${c.function.name}(${prettyArgs(c.function.arguments)})</code></div>`) ?? nothing}
      ${t.stopped ? html`<span class="note">Stopped.</span>`
        : !streaming && !t.content && !t.toolCalls && t.role === 'assistant' ? html`<span class="note">No text came back (finish: ${t.finishReason ?? 'unknown'}).</span>`
        : t.finishReason === 'length' ? html`<span class="note">Cut at max_tokens or the context limit.</span>` : nothing}
    </li>`;
  }

  private renderError() {
    if (!this.error) return nothing;
    return html`<div class="error" role="alert">${this.error instanceof ApiError ? html`${this.error.message}<span class="hint">${this.error.summary}</span>` : this.error}</div>`;
  }

  private onModel(e: Event) {
    this.model = (e.target as HearthModelSelect).value;
  }

  private onSubmit(e: Event) {
    e.preventDefault();
    void this.send();
  }

  private onKey(e: KeyboardEvent) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      void this.send();
    }
  }
}

/** Tool-call deltas: a new call per index (or id), later pieces append to its arguments. */
function mergeToolCalls(turn: Turn, deltas: ToolCall[]) {
  turn.toolCalls ??= [];
  for (const d of deltas) {
    const existing = turn.toolCalls.find((c) => (d.index !== undefined && c.index === d.index) || (d.id && c.id === d.id));
    if (existing && !(d.id && existing.id !== d.id)) {
      existing.function.arguments += d.function?.arguments ?? '';
      if (d.function?.name) existing.function.name = d.function.name;
    } else {
      turn.toolCalls.push({ id: d.id, index: d.index ?? turn.toolCalls.length, type: 'function', function: { name: d.function?.name ?? '', arguments: d.function?.arguments ?? '' } });
    }
  }
}

function prettyArgs(args: string): string {
  try { return JSON.stringify(JSON.parse(args)); } catch { return args; }
}

function describeSpeed(s: { t0: number; first?: number; last?: number; deltas: number; usage?: ChatChunk['usage']; stopped: boolean; finish?: string }): string {
  if (s.first === undefined) {
    if (s.stopped) return 'Stopped before the first token.';
    return s.usage ? `${s.usage.completion_tokens} tokens, no text · finish: ${s.finish ?? 'unknown'}` : '';
  }
  const tokens = s.usage?.completion_tokens;
  const count = tokens ?? s.deltas;
  const decode = ((s.last ?? s.first) - s.first) / 1000;
  const parts = [
    `${tokens === undefined ? '≈' : ''}${count} tokens`,
    decode > 0 ? `${(count / decode).toFixed(1)} tokens/s` : null,
    `first token ${formatDuration((s.first - s.t0) / 1000)}`,
    s.stopped ? 'stopped' : s.finish ? `finish: ${s.finish}` : null,
  ];
  return parts.filter(Boolean).join(' · ');
}

function numberField(id: string, label: string, value: number, min: number, max: number, step: number, set: (v: number) => void) {
  return html`<div class="field">
    <label for=${id}>${label}</label>
    <input id=${id} type="number" min=${min} max=${max} step=${step} .value=${String(value)}
      @change=${(e: Event) => { const v = (e.target as HTMLInputElement).valueAsNumber; if (Number.isFinite(v)) set(v); }}>
  </div>`;
}

declare global {
  interface HTMLElementTagNameMap { 'hearth-chat': HearthChat }
}

// <hearth-remotes>: the remote backends of this page's Hearth (Fireworks, vLLM, Ollama, another `hearth serve`): each with its base URL, model patterns, policy, whether it has a key and its circuit state; a form adds or edits one (the key is kept only for this visit unless "remember" is ticked), and Remove drops it. Keys are never shown.
import { LitElement, css, html, nothing } from 'lit';
import { customElement, state } from 'lit/decorators.js';
import type { RemoteSummary } from '../api/remote/remotes';
import type { RemotePolicy } from '../api/remote/types';
import { errorText, inPageHearth, modelsChanged } from './api';
import { forgetRemote, keyRemembered, saveRemote } from './remote-store';
import { baseStyles } from './styles';

@customElement('hearth-remotes')
export class HearthRemotes extends LitElement {
  static override styles = [baseStyles, css`
    form { display: grid; gap: 0.5rem; grid-template-columns: repeat(auto-fit, minmax(12rem, 1fr)); align-items: end; margin-top: 0.6rem; }
    label { display: grid; gap: 0.2rem; font-size: 0.82rem; }
    .check { display: flex; gap: 0.4rem; align-items: center; }
    .actions { display: flex; gap: 0.35rem; }
    td code { overflow-wrap: anywhere; }
  `];

  @state() private remotes: RemoteSummary[] = [];
  @state() private error = '';
  @state() private editing: RemoteSummary | null = null;

  override connectedCallback(): void {
    super.connectedCallback();
    void this.refresh();
  }

  async refresh(): Promise<void> {
    this.remotes = (await inPageHearth())?.remotes.summaries() ?? [];
  }

  override render() {
    const e = this.editing;
    return html`
      <h3 id="remotes-h">Remote backends</h3>
      <p class="hint">Models this page cannot run (or that you send elsewhere on purpose) go to an OpenAI-compatible endpoint: Fireworks (<code>https://api.fireworks.ai/inference/v1</code>), vLLM, Ollama (<code>http://localhost:11434/v1</code>) or a <code>hearth serve</code>. What a remote serves leaves this machine.</p>
      ${this.error ? html`<div class="error" role="alert">${this.error}</div>` : nothing}
      ${this.remotes.length ? html`<div class="table-wrap"><table aria-labelledby="remotes-h">
        <thead><tr><th>Name</th><th>Base URL</th><th>Models</th><th>Policy</th><th>Key</th><th>State</th><th></th></tr></thead>
        <tbody>${this.remotes.map((r) => html`<tr data-remote=${r.name}>
          <td>${r.name}</td><td><code>${r.baseURL}</code></td><td><code>${r.models.join(', ')}</code></td><td>${r.policy}</td>
          <td>${r.hasApiKey ? (keyRemembered(r.name) ? 'remembered' : 'this visit') : 'none'}</td><td>${r.breaker}</td>
          <td class="actions"><button type="button" class="quiet" @click=${() => { this.editing = r; }}>Edit</button>
            <button type="button" class="quiet remove" @click=${() => void this.removeRemote(r.name)}>Remove</button></td>
        </tr>`)}</tbody></table></div>` : html`<p class="hint">No remote backend: every request runs here.</p>`}
      <form @submit=${(ev: SubmitEvent) => void this.save(ev)} aria-label="Add or edit a remote backend">
        <label>Name<input name="name" required pattern="[A-Za-z0-9][A-Za-z0-9._\\-]*" .value=${e?.name ?? ''}></label>
        <label>Base URL<input name="baseURL" type="url" required placeholder="https://api.fireworks.ai/inference/v1" .value=${e?.baseURL ?? ''}></label>
        <label>Models<input name="models" placeholder="accounts/fireworks/models/*" .value=${e?.models.join(', ') ?? ''}></label>
        <label>Policy<select name="policy">${(['local-first', 'remote', 'local'] as const).map((p) =>
          html`<option value=${p} ?selected=${(e?.policy ?? 'local-first') === p}>${p}</option>`)}</select></label>
        <label>API key<input name="apiKey" type="password" autocomplete="off" placeholder=${e?.hasApiKey ? 'unchanged' : 'none'}></label>
        <label class="check"><input name="remember" type="checkbox"> remember the key in this browser</label>
        <div class="actions"><button type="submit">${e ? 'Save' : 'Add'}</button>
          ${e ? html`<button type="button" class="quiet" @click=${() => { this.editing = null; }}>Cancel</button>` : nothing}</div>
      </form>`;
  }

  private async save(ev: SubmitEvent) {
    ev.preventDefault();
    const form = ev.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const hearth = await inPageHearth();
    if (!hearth) return;
    const name = String(data.get('name')).trim();
    const typed = String(data.get('apiKey') ?? '');
    // Editing without typing a key keeps the one the remote has.
    const apiKey = typed || (this.editing?.name === name ? hearth.remotes.get(name)?.config.apiKey : undefined);
    const config = {
      name, baseURL: String(data.get('baseURL')).trim(), apiKey,
      models: String(data.get('models') ?? '').split(',').map((m) => m.trim()).filter(Boolean),
      policy: String(data.get('policy')) as RemotePolicy,
    };
    try {
      hearth.remotes.set(config);
      saveRemote(config, data.get('remember') === 'on');
      this.error = '';
      this.editing = null;
      form.reset();
    } catch (e) {
      this.error = errorText(e);
    }
    await this.refresh();
    modelsChanged();
  }

  private async removeRemote(name: string) {
    (await inPageHearth())?.remotes.remove(name);
    forgetRemote(name);
    await this.refresh();
    modelsChanged();
  }
}

declare global {
  interface HTMLElementTagNameMap { 'hearth-remotes': HearthRemotes }
}

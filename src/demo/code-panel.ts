// <hearth-code-panel>: shows the plain `fetch` and OpenAI SDK code equivalent to the last request a component made (it listens for `hearth-request` events on the document).
import { LitElement, css, html, nothing } from 'lit';
import { customElement, state } from 'lit/decorators.js';
import type { HearthRequestDetail } from '../components/api';
import { baseStyles } from '../components/styles';

@customElement('hearth-code-panel')
export class HearthCodePanel extends LitElement {
  static override styles = [baseStyles, css`
    :host { position: sticky; top: 1rem; }
    .sub { color: var(--_muted); font-size: 0.82rem; margin-bottom: 0.7rem; overflow-wrap: anywhere; }
    .block { margin-top: 0.8rem; }
    .block-head { display: flex; justify-content: space-between; align-items: center; margin-bottom: 0.3rem; }
    .block-head h3 { margin: 0; }
    .block-head button { padding: 0.15rem 0.6rem; font-size: 0.75rem; }
    pre {
      margin: 0; padding: 0.7rem 0.8rem; max-height: 22rem; overflow: auto; white-space: pre;
      background: #1c1917; color: #f5f5f4; border-radius: calc(var(--_radius) * 0.6); font-size: 0.76rem; line-height: 1.5;
    }
    .empty { color: var(--_muted); font-size: 0.88rem; }
  `];

  @state() private last?: HearthRequestDetail;
  @state() private copied = '';

  private readonly onRequest = (e: DocumentEventMap['hearth-request']) => {
    this.last = e.detail;
    this.copied = '';
  };

  override connectedCallback(): void {
    super.connectedCallback();
    document.addEventListener('hearth-request', this.onRequest);
  }

  override disconnectedCallback(): void {
    document.removeEventListener('hearth-request', this.onRequest);
    super.disconnectedCallback();
  }

  override render() {
    const r = this.last;
    return html`
      <h2 id="code-h">The same from your code</h2>
      ${!r ? html`<p class="empty">Make a request in any panel: its <code>fetch</code> and OpenAI SDK equivalents appear here, ready to paste into any page of this site.</p>` : html`
        <p class="sub">Last request: <code>${r.method ?? 'POST'} ${r.path}</code></p>
        ${this.renderBlock('fetch', fetchCode(r))}
        ${this.renderBlock('OpenAI SDK', sdkCode(r))}
      `}
    `;
  }

  private renderBlock(title: string, code: string | null) {
    if (code === null) return nothing;
    return html`<div class="block">
      <div class="block-head"><h3>${title}</h3>
        <button type="button" class="quiet" @click=${() => void this.copy(title, code)} aria-label="Copy the ${title} code">${this.copied === title ? 'Copied' : 'Copy'}</button></div>
      <pre tabindex="0" aria-label="${title} code"><code>${code}</code></pre>
    </div>`;
  }

  private async copy(title: string, code: string) {
    try {
      await navigator.clipboard.writeText(code);
      this.copied = title;
    } catch {
      this.copied = '';
    }
  }
}

const json = (v: unknown, indent: string) => JSON.stringify(v, null, 2).replace(/\n/g, `\n${indent}`);
const quote = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
const isStream = (r: HearthRequestDetail) => Boolean((r.body as { stream?: boolean } | undefined)?.stream);

export function fetchCode(r: HearthRequestDetail): string {
  if ((r.method ?? 'POST') === 'GET') return `const res = await fetch(${quote(r.path)});\nconst body = await res.json();`;
  const accept = r.headers?.Accept;
  // Other headers (e.g. Huggingface-Access-Key, already masked by the component) are shown as sent.
  const extra = Object.entries(r.headers ?? {}).filter(([k]) => k !== 'Accept').map(([k, v]) => `${quote(k)}: ${quote(v)}`);
  if (r.multipart) {
    const formHeaders = [...(accept ? [`Accept: ${quote(accept)}`] : []), ...extra].join(', ');
    const fields = Object.entries((r.body ?? {}) as Record<string, unknown>).map(([k, v]) =>
      v instanceof File ? `form.append(${quote(k)}, fileInput.files[0]); // ${v.name}` : `form.append(${quote(k)}, ${quote(String(v))});`);
    return [
      'const form = new FormData();',
      ...fields,
      `const res = await fetch(${quote(r.path)}, {`,
      `  method: 'POST',`,
      ...(formHeaders ? [`  headers: { ${formHeaders} },`] : []),
      '  body: form,',
      '});',
      ...(accept === 'text/event-stream' ? IMAGE_SSE : ['const images = await res.json(); // [{ base64, finishReason, seed }]']),
    ].join('\n');
  }
  const headers = [`'content-type': 'application/json'`, ...(accept ? [`Accept: ${quote(accept)}`] : []), ...extra].join(', ');
  const lines = [
    `const res = await fetch(${quote(r.path)}, {`,
    `  method: 'POST',`,
    `  headers: { ${headers} },`,
    `  body: JSON.stringify(${json(r.body, '  ')}),`,
    '});',
  ];
  if (isStream(r)) {
    lines.push(
      '// Server-sent events: one `data: {json}` per chunk, then `data: [DONE]`.',
      'const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();',
      'for (let buf = \'\'; ;) {',
      '  const { done, value } = await reader.read();',
      '  if (done) break;',
      '  buf += value;',
      '  const events = buf.split(\'\\n\\n\');',
      '  buf = events.pop();',
      '  for (const e of events) {',
      '    const data = e.replace(/^data: /, \'\');',
      '    if (data !== \'[DONE]\') console.log(JSON.parse(data).choices[0]?.delta?.content ?? \'\');',
      '  }',
      '}',
    );
  } else if (accept === 'text/event-stream' && r.path.includes('/image_generation/')) {
    lines.push(...IMAGE_SSE);
  } else if (accept === 'application/json' && r.path.includes('/image_generation/')) {
    lines.push('const images = await res.json(); // [{ base64, finishReason, seed }]');
  } else {
    lines.push('const body = await res.json();');
  }
  return lines.join('\n');
}

/** Reading Hearth's live-progress stream of an image request. */
const IMAGE_SSE = [
  '// Hearth\'s live progress: `data: {"type":"progress","step","steps","sample"}` events, then one',
  '// `{"type":"image","index","base64","finishReason","seed","mime"}` per image, then `data: [DONE]`.',
  'const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();',
  'for (let buf = \'\'; ;) {',
  '  const { done, value } = await reader.read();',
  '  if (done) break;',
  '  const events = (buf += value).split(\'\\n\\n\');',
  '  buf = events.pop();',
  '  for (const e of events.map((x) => x.replace(/^data: /, \'\')).filter((x) => x !== \'[DONE]\')) console.log(JSON.parse(e));',
  '}',
];

const SDK_SETUP = [
  "import OpenAI from 'openai';",
  "const openai = new OpenAI({ baseURL: new URL('/inference/v1', location.href).href, apiKey: 'local', dangerouslyAllowBrowser: true });",
];

/** The OpenAI SDK call for the request, or a note where the SDK has no method for it. */
export function sdkCode(r: HearthRequestDetail): string | null {
  const sub = r.path.replace(/^.*\/inference\/v1/, '');
  const body = () => json(r.body, '');
  let call: string[];
  if (sub === '/models') call = ['const models = await openai.models.list();'];
  else if (sub === '/chat/completions' && isStream(r)) {
    call = [`const stream = await openai.chat.completions.create(${body()});`, "for await (const chunk of stream) console.log(chunk.choices[0]?.delta?.content ?? '');"];
  } else if (sub === '/chat/completions') call = [`const chat = await openai.chat.completions.create(${body()});`];
  else if (sub === '/completions') call = [`const completion = await openai.completions.create(${body()});`];
  else if (sub === '/embeddings') call = [`const { data } = await openai.embeddings.create(${body()});`];
  else if (r.multipart) return `// The OpenAI SDK has no method for ${sub}:\n// send the multipart form with fetch, as above.`;
  else {
    // The SDK reads JSON answers: ask for the spec's array (the live-progress stream is for fetch).
    call = [
      ...(r.headers?.Accept === 'text/event-stream' ? ['// Without live progress: the spec\'s JSON array of images.'] : []),
      `const images = await openai.post(${quote(sub)}, {`, `  body: ${json(r.body, '  ')},`,
      `  headers: { Accept: 'application/json' },`, '});'];
  }
  return [...SDK_SETUP, '', ...call].join('\n');
}

declare global {
  interface HTMLElementTagNameMap { 'hearth-code-panel': HearthCodePanel }
}

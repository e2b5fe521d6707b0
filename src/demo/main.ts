/**
 * The demo page: starts Hearth as host with its service worker (./boot, first), then shows the web components in
 * tabs (Chat, Completion, Embeddings, Images, Models) beside a panel with the equivalent `fetch` / OpenAI SDK code of
 * the last request. Query parameters (see ./boot): `devices`, `diagnostics`, `sw=0`.
 */
import { hearth } from './boot';
import '../components/index';
import './code-panel';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

void (async () => {
  await hearth.host?.elected;
  await Promise.race([hearth.serviceWorker, new Promise((r) => setTimeout(r, 3000))]);
  const controlled = Boolean(navigator.serviceWorker?.controller);
  $('status').textContent = `Ready. ${controlled ? 'The service worker answers /inference/v1 for every tab of this site.' : 'No service worker: using the in-page client.'} ` +
    `This tab ${hearth.host?.isHost() ? 'hosts the engines' : 'uses the host tab\'s engines'}. WebGPU: ${'gpu' in navigator ? 'available' : 'not available'}.`;
  $('status').dataset.state = 'ready';
})().catch((e: unknown) => {
  $('status').textContent = `Hearth failed to start: ${(e as Error).message}`;
  $('status').dataset.state = 'error';
});

// Tabs: one view at a time, kept in the URL hash (#chat, #models…), arrow keys move between tabs.
const tabs = [...document.querySelectorAll<HTMLButtonElement>('[role="tab"][data-view]')];

function show(view: string, focus = false) {
  const tab = tabs.find((t) => t.dataset.view === view) ?? tabs[0];
  for (const t of tabs) {
    const selected = t === tab;
    t.setAttribute('aria-selected', String(selected));
    t.tabIndex = selected ? 0 : -1;
    $(t.getAttribute('aria-controls')!).hidden = !selected;
  }
  (document.querySelector('.layout') as HTMLElement).dataset.view = tab.dataset.view;
  if (focus) tab.focus();
  if (tab.dataset.view === 'models') void document.querySelector('hearth-models')?.refresh(false);
  if (location.hash.slice(1) !== tab.dataset.view) history.replaceState(null, '', `${location.pathname}${location.search}#${tab.dataset.view}`);
}

for (const [i, tab] of tabs.entries()) {
  tab.addEventListener('click', () => show(tab.dataset.view!));
  tab.addEventListener('keydown', (e) => {
    const next = e.key === 'ArrowRight' ? (i + 1) % tabs.length : e.key === 'ArrowLeft' ? (i + tabs.length - 1) % tabs.length
      : e.key === 'Home' ? 0 : e.key === 'End' ? tabs.length - 1 : -1;
    if (next < 0) return;
    e.preventDefault();
    show(tabs[next].dataset.view!, true);
  });
}
window.addEventListener('hashchange', () => show(location.hash.slice(1)));
show(location.hash.slice(1) || 'chat');

// The components' shared look, themable from outside through --hearth-accent, --hearth-bg, --hearth-fg, --hearth-radius and --hearth-font.
import { css } from 'lit';

export const baseStyles = css`
  :host {
    --_accent: var(--hearth-accent, #c2410c);
    --_bg: var(--hearth-bg, #ffffff);
    --_fg: var(--hearth-fg, #1c1917);
    --_radius: var(--hearth-radius, 10px);
    --_muted: color-mix(in srgb, var(--_fg) 62%, var(--_bg));
    --_line: color-mix(in srgb, var(--_fg) 16%, var(--_bg));
    --_soft: color-mix(in srgb, var(--_accent) 7%, var(--_bg));
    --_field: color-mix(in srgb, var(--_fg) 3%, var(--_bg));
    --_focus: color-mix(in srgb, var(--_accent) 55%, transparent);
    display: block;
    box-sizing: border-box;
    font-family: var(--hearth-font, system-ui, -apple-system, 'Segoe UI', sans-serif);
    color: var(--_fg);
    background: var(--_bg);
    border: 1px solid var(--_line);
    border-radius: var(--_radius);
    padding: 1rem 1.1rem;
    line-height: 1.45;
  }
  :host([hidden]) { display: none; }
  *, *::before, *::after { box-sizing: border-box; }
  h2, h3 { margin: 0 0 0.6rem; line-height: 1.2; }
  h2 { font-size: 1.15rem; }
  h3 { font-size: 0.95rem; }
  p { margin: 0.3rem 0; }
  label { font-weight: 600; font-size: 0.85rem; }
  .field { display: flex; flex-direction: column; gap: 0.25rem; min-width: 0; }
  .check { display: flex; align-items: center; gap: 0.45rem; font-weight: 500; }
  .row { display: flex; flex-wrap: wrap; gap: 0.6rem; align-items: flex-end; }
  .grid { display: grid; gap: 0.7rem; grid-template-columns: repeat(auto-fill, minmax(9rem, 1fr)); }
  .hint { color: var(--_muted); font-size: 0.8rem; font-weight: 400; }
  input, select, textarea {
    font: inherit;
    color: inherit;
    background: var(--_field);
    border: 1px solid var(--_line);
    border-radius: calc(var(--_radius) * 0.6);
    padding: 0.4rem 0.55rem;
    min-width: 0;
  }
  input[type='checkbox'], input[type='radio'] { accent-color: var(--_accent); width: 1rem; height: 1rem; }
  textarea { resize: vertical; width: 100%; }
  button {
    font: inherit;
    font-weight: 600;
    border-radius: calc(var(--_radius) * 0.6);
    padding: 0.42rem 0.9rem;
    border: 1px solid var(--_accent);
    background: var(--_accent);
    color: #fff;
    cursor: pointer;
  }
  button.secondary { background: transparent; color: var(--_accent); }
  button.quiet { background: transparent; color: var(--_muted); border-color: var(--_line); }
  button:disabled { opacity: 0.45; cursor: not-allowed; }
  button:hover:not(:disabled) { filter: brightness(1.08); }
  :is(button, input, select, textarea, summary, a, [tabindex]):focus-visible {
    outline: 3px solid var(--_focus);
    outline-offset: 2px;
  }
  a { color: var(--_accent); }
  table { border-collapse: collapse; width: 100%; font-size: 0.85rem; }
  th, td { text-align: left; padding: 0.35rem 0.5rem; border-bottom: 1px solid var(--_line); vertical-align: top; }
  th { font-weight: 600; color: var(--_muted); font-size: 0.78rem; text-transform: uppercase; letter-spacing: 0.03em; }
  code, pre, .mono { font-family: ui-monospace, 'SFMono-Regular', Menlo, Consolas, monospace; font-size: 0.85em; }
  .error {
    border: 1px solid color-mix(in srgb, #dc2626 45%, var(--_bg));
    background: color-mix(in srgb, #dc2626 8%, var(--_bg));
    color: color-mix(in srgb, #991b1b 85%, var(--_fg));
    border-radius: calc(var(--_radius) * 0.6);
    padding: 0.5rem 0.7rem;
    margin: 0.6rem 0;
  }
  .error .hint { display: block; color: inherit; opacity: 0.75; }
  details.panel { border: 1px solid var(--_line); border-radius: calc(var(--_radius) * 0.6); padding: 0.4rem 0.7rem; background: var(--_field); }
  details.panel > summary { cursor: pointer; font-weight: 600; font-size: 0.9rem; padding: 0.15rem 0; }
  details.panel[open] > summary { margin-bottom: 0.6rem; }
  .visually-hidden {
    position: absolute !important; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap;
  }
  .badge {
    display: inline-block; font-size: 0.72rem; font-weight: 600; padding: 0.05rem 0.45rem; border-radius: 999px;
    background: var(--_soft); color: var(--_accent); border: 1px solid color-mix(in srgb, var(--_accent) 25%, var(--_bg));
    white-space: nowrap;
  }
  .badge.off { background: transparent; color: var(--_muted); border-color: var(--_line); }
  .readout { color: var(--_muted); font-size: 0.82rem; font-variant-numeric: tabular-nums; min-height: 1.2em; }
  progress { accent-color: var(--_accent); width: 100%; height: 0.7rem; }
`;

// Small statistics and plain-text table helpers shared by the benches.
export function quantile(values, q) {
  const s = [...values].sort((a, b) => a - b);
  if (!s.length) return NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

export const p50 = (v) => quantile(v, 0.5);
export const p90 = (v) => quantile(v, 0.9);
export const sum = (v) => v.reduce((a, b) => a + b, 0);
/** Element-wise a[i] - b[i] (the samples of one round are paired, so their difference cancels shared noise). */
export const diff = (a, b) => a.map((x, i) => x - b[i]);

export const fmt = (x, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : '—');

/** A left-aligned first column and right-aligned others, with a rule under the header. */
export function table(header, rows) {
  const cells = [header, ...rows].map((r) => r.map(String));
  const widths = header.map((_, c) => Math.max(...cells.map((r) => r[c].length)));
  const line = (r) => r.map((x, c) => (c === 0 ? x.padEnd(widths[c]) : x.padStart(widths[c]))).join('  ');
  return [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

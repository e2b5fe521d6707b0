// Human-readable numbers for the components: byte sizes, rates, durations and model labels.
import type { ModelInfo } from './api';

export function formatBytes(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n)) return '—';
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = -1;
  do { v /= 1000; u++; } while (v >= 1000 && u < units.length - 1);
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[u]}`;
}

export const formatRate = (bytesPerSecond: number): string => `${formatBytes(Math.round(bytesPerSecond))}/s`;

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const m = Math.floor(seconds / 60);
  return `${m} min ${Math.round(seconds - m * 60)} s`;
}

/** "hearth/tiny-llama (built in, random test weights)", "hearth/stories260k (built in, real weights)", "meta-llama/… (downloads 812 MB)", "… (size unknown)", "… (downloaded)". */
export function modelLabel(m: ModelInfo): string {
  if (m.built_in) return `${m.id} (built in, ${m.random_weights ? 'random test weights' : 'real weights'})`;
  if (m.downloaded) return `${m.id} (downloaded)`;
  if (m.size_bytes != null) return `${m.id} (downloads ${formatBytes(m.size_bytes)})`;
  return m.approx_size_bytes != null ? `${m.id} (downloads ≈ ${formatBytes(m.approx_size_bytes)})` : `${m.id} (size unknown)`;
}

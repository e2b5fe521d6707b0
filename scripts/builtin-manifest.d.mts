// Types for scripts/builtin-manifest.mjs (imported by tests).
export function buildManifest(): Record<string, { size: number; sha256: string }>;

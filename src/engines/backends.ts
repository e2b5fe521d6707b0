/**
 * An ordered backend registry, after onnxruntime-web's resolver: candidates are tried in priority order, the
 * first that initialises wins, and when all fail the error lists every candidate's reason.
 */
import { unavailable } from '../core/errors';

export interface BackendCandidate<T> {
  name: string;
  create(): Promise<T>;
}

export interface ResolvedBackend<T> {
  name: string;
  value: T;
  /** Reasons the higher-priority candidates were skipped (empty when the first one worked). */
  skipped: { name: string; reason: string }[];
}

export async function resolveBackend<T>(what: string, candidates: BackendCandidate<T>[]): Promise<ResolvedBackend<T>> {
  const skipped: { name: string; reason: string }[] = [];
  for (const candidate of candidates) {
    try {
      return { name: candidate.name, value: await candidate.create(), skipped };
    } catch (e) {
      skipped.push({ name: candidate.name, reason: e instanceof Error ? e.message : String(e) });
    }
  }
  const reasons = skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
  throw unavailable(`No backend could run ${what}. ${reasons || 'No backend was enabled.'}`, 'no_backend');
}

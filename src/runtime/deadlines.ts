/**
 * How long an engine job may run, per engine kind (defaults: each kind's `deadlineMs` in the kinds table,
 * src/engines/kinds.ts), and how long a worker gets to answer an abort before it is terminated and restarted. Data,
 * overridable with `startHearth({ deadlines })`.
 *
 * A streamed job (LLM, image) is timed from when its stream is first read (for an LLM: its turn came and its model is
 * loaded, so a first download is not counted), a whole-answer job (embeddings) from the call, model load included.
 */
import { ENGINE_KINDS, perModelKind, type ModelKind } from '../engines/kinds';

/** Milliseconds per job of each kind that serves models, and the grace and ping periods. */
export type EngineDeadlines = { [K in ModelKind]: number } & EngineTimeouts;

interface EngineTimeouts {
  /** After a deadline's abort, how long the worker has to end the job before it is restarted. */
  graceMs: number;
  /**
   * A job that has waited a whole deadline for its stream (its turn, its model's load) pings the worker; one that
   * leaves the ping unanswered this long is stuck. Long, because loading a big model can block a worker for a while.
   */
  unresponsiveMs: number;
}

export const DEFAULT_DEADLINES: Readonly<EngineDeadlines> = Object.freeze({
  ...perModelKind<{ [K in ModelKind]: number }>((kind) => ENGINE_KINDS[kind].deadlineMs),
  graceMs: 10_000,
  unresponsiveMs: 120_000,
});

export function engineDeadlines(overrides: Partial<EngineDeadlines> = {}): EngineDeadlines {
  const out = { ...DEFAULT_DEADLINES };
  for (const key of Object.keys(out) as (keyof EngineDeadlines)[]) {
    const v = overrides[key];
    if (typeof v === 'number' && Number.isFinite(v) && v > 0) out[key] = v;
  }
  return out;
}

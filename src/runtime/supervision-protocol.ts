/**
 * The messages the engine supervisor (host side, ./supervisor.ts) and the engine worker's watch (./worker-watch.ts)
 * exchange beside Comlink's calls: an AbortSignal crossing into the worker as a port, the worker reporting a lost GPU
 * device, and the test-only faults (`hang`, `crash`, `device-lost`) a diagnostics host can inject.
 */
import type { EngineFault } from '../api/types';

/** Stands for an AbortSignal in a call's arguments: the port receives one `AbortMessage` when the signal aborts. */
export interface SignalMarker { hearthSignal: MessagePort }

/** Why a job was aborted: its client went away, or it ran past its deadline. */
export type AbortReason = 'cancelled' | 'deadline';

export interface AbortMessage { reason: AbortReason; deadlineMs?: number }

/** Worker → host, on the worker's own channel (Comlink ignores messages without its `id`). */
export interface EngineReport { hearthEngine: 'device-lost'; message: string }

/** Host → worker: are you there? The worker answers `{ hearthPong }` with the same number from its event loop. */
export interface PingMessage { hearthPing: number }
export interface PongMessage { hearthPong: number }

export function isPing(v: unknown): v is PingMessage {
  return typeof v === 'object' && v !== null && typeof (v as { hearthPing?: unknown }).hearthPing === 'number';
}

export function isPong(v: unknown): v is PongMessage {
  return typeof v === 'object' && v !== null && typeof (v as { hearthPong?: unknown }).hearthPong === 'number';
}

/** The faults a test can inject into an engine worker (honoured only by workers started with `testHooks`). */
export type { EngineFault };

/** The faults a test can inject into the API worker (./api-worker-watch.ts; honoured only with test hooks). */
export type ApiWorkerFault = 'hang' | 'crash' | 'throw';

/** Host → worker, test-only. `hang` blocks the worker's event loop for `ms`. */
export interface FaultMessage { hearthFault: EngineFault | ApiWorkerFault; ms?: number }

export function isSignalMarker(v: unknown): v is SignalMarker {
  return typeof v === 'object' && v !== null && (v as { hearthSignal?: unknown }).hearthSignal instanceof MessagePort;
}

export function isEngineReport(v: unknown): v is EngineReport {
  return typeof v === 'object' && v !== null && (v as { hearthEngine?: unknown }).hearthEngine === 'device-lost';
}

export function isFaultMessage(v: unknown): v is FaultMessage {
  return typeof v === 'object' && v !== null && typeof (v as { hearthFault?: unknown }).hearthFault === 'string';
}

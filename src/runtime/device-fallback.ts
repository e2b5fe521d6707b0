/**
 * When the GPU keeps getting lost, stop asking it: after `losses` device losses of one engine within `windowMs`, its
 * next worker runs on wasm only (the answers' `x-hearth-backend` says so). Data and one pure rule.
 */
import type { OrtDevice } from '../engines/embeddings/types';

export const DEVICE_LOSS_FALLBACK = Object.freeze({ losses: 2, windowMs: 10 * 60_000 });

/** The devices an engine's next worker may use, given the times (ms) its GPU devices were lost. */
export function devicesAfterLosses(devices: OrtDevice[], lossTimes: number[], now: number, rule = DEVICE_LOSS_FALLBACK): OrtDevice[] {
  const recent = lossTimes.filter((t) => now - t < rule.windowMs).length;
  return recent >= rule.losses && devices.includes('wasm') ? ['wasm'] : devices;
}

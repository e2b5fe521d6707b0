/**
 * Test-only routes (mounted when the host enables diagnostics) that prove the streaming plumbing: a worker-made
 * stream crossing worker → host → service worker → page, and a cancel travelling back to the worker.
 *   POST /_hearth/stream {"run_id", "count", "interval_ms"} → text/event-stream of ticks
 *   GET  /_hearth/stream/{run_id}                             → what the worker saw of that run
 *   POST /_hearth/engine-fault {"engine", "fault", "ms"}       → injects a fault into a running engine worker:
 *        `hang` (its event loop blocked for ms), `crash` (an uncaught error), `device-lost` (device.destroy() on its
 *        GPU devices); answers {"injected": false} when that engine's worker is not running
 */
import { kindRoutes } from '../kind-routes';
import { invalidRequest, notFound } from '../errors';
import { jsonResponse } from '../http';
import { MODEL_KINDS } from '../../engines/kinds';
import type { DiagnosticsEngine, EngineFault, Handler, RequestContext } from '../types';

async function diagnostics(ctx: RequestContext): Promise<DiagnosticsEngine> {
  const get = ctx.deps.engines.diagnostics;
  if (!get) throw notFound(`No route for ${ctx.path}`, null, 'unknown_route');
  return get();
}

export const startTickStream: Handler = async (ctx) => {
  const engine = await diagnostics(ctx);
  const body = (await ctx.json()) as { run_id?: unknown; count?: unknown; interval_ms?: unknown };
  if (typeof body.run_id !== 'string' || !body.run_id) throw invalidRequest('"run_id" must be a non-empty string', 'run_id');
  const count = Number(body.count ?? 10);
  const interval = Number(body.interval_ms ?? 50);
  if (!Number.isInteger(count) || count < 1 || count > 100000) throw invalidRequest('"count" must be 1..100000', 'count');
  if (!Number.isFinite(interval) || interval < 0 || interval > 60000) throw invalidRequest('"interval_ms" must be 0..60000', 'interval_ms');
  const stream = await engine.tickStream(body.run_id, count, interval);
  return new Response(stream, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' } });
};

export const tickRunState: Handler = async (ctx) => {
  const engine = await diagnostics(ctx);
  const state = await engine.runState(ctx.pathParam ?? '');
  if (!state) throw notFound(`No stream run "${ctx.pathParam}"`, 'run_id');
  return jsonResponse(state);
};

const ENGINE_FAULTS: readonly EngineFault[] = ['hang', 'crash', 'device-lost'];

export const injectEngineFault: Handler = async (ctx) => {
  const inject = ctx.deps.engines.injectFault;
  if (!inject) throw notFound(`No route for ${ctx.path}`, null, 'unknown_route');
  const body = (await ctx.json()) as { engine?: unknown; fault?: unknown; ms?: unknown };
  const engine = MODEL_KINDS.find((k) => k === body.engine);
  const fault = ENGINE_FAULTS.find((f) => f === body.fault);
  if (!engine) throw invalidRequest(`"engine" must be one of ${MODEL_KINDS.join(', ')}`, 'engine');
  if (!fault) throw invalidRequest(`"fault" must be one of ${ENGINE_FAULTS.join(', ')}`, 'fault');
  const ms = body.ms === undefined ? undefined : Number(body.ms);
  if (ms !== undefined && (!Number.isFinite(ms) || ms < 0 || ms > 600_000)) throw invalidRequest('"ms" must be 0..600000', 'ms');
  return jsonResponse({ injected: inject(engine, fault, ms) });
};

/** The paths it serves (the test-only diagnostics kind's routes: src/api/routes.ts). */
export const routes = kindRoutes('diagnostics', [
  { path: '/_hearth/stream', method: 'POST', handler: startTickStream },
  { path: '/_hearth/stream/', method: 'GET', handler: tickRunState },
  { path: '/_hearth/engine-fault', method: 'POST', handler: injectEngineFault },
]);

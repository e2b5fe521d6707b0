/**
 * Runs inside the API worker (workers/api.worker.ts): answers the host page's liveness pings from its event loop
 * (./api-supervisor.ts restarts a worker that leaves one unanswered), and, in an API worker started with test hooks
 * only (a diagnostics host), obeys the test faults the page injects: `hang` (its event loop blocked for `ms`),
 * `crash` (an uncaught error, then the worker closes itself, its engine workers with it: a worker that is gone) and
 * `throw` (an uncaught error only: the worker lives on, and must not be restarted for it).
 */
import { isFaultMessage, isPing, type PongMessage } from './supervision-protocol';

/** The API worker's Worker name; with test hooks it says so (the worker reads it before any message arrives). */
export const API_WORKER_NAME = 'hearth-api';
export const API_WORKER_TEST_NAME = 'hearth-api (test hooks)';

export function watchApiWorker(scope: DedicatedWorkerGlobalScope): void {
  scope.addEventListener('message', (event: MessageEvent) => {
    if (isPing(event.data)) scope.postMessage({ hearthPong: event.data.hearthPing } satisfies PongMessage);
  });
  if (scope.name !== API_WORKER_TEST_NAME) return;
  scope.addEventListener('message', (event: MessageEvent) => {
    const fault = event.data;
    if (!isFaultMessage(fault)) return;
    const kind = fault.hearthFault;
    if (kind === 'hang') {
      setTimeout(() => {
        const until = Date.now() + (fault.ms ?? 60_000);
        while (Date.now() < until) { /* a stuck API worker: nothing else runs in it */ }
      });
    } else if (kind === 'crash' || kind === 'throw') {
      setTimeout(() => {
        if (kind === 'crash') scope.close();
        throw new Error(`Test fault: the API worker ${kind === 'crash' ? 'crashed' : 'threw an uncaught error'}`);
      });
    }
  });
}

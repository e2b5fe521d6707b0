/**
 * Entry point of the API worker: runs the API `handle()` off the page's main thread and owns the engine workers
 * (see src/runtime/api-worker.ts); answers the page's liveness pings (src/runtime/api-worker-watch.ts).
 */
import { runApiWorker } from '../src/runtime/api-worker';
import { watchApiWorker } from '../src/runtime/api-worker-watch';

declare const self: DedicatedWorkerGlobalScope;

watchApiWorker(self);
runApiWorker();

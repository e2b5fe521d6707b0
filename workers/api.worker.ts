/**
 * Entry point of the API worker: runs the API `handle()` off the page's main thread and owns the engine workers
 * (see src/runtime/api-worker.ts).
 */
import { runApiWorker } from '../src/runtime/api-worker';

runApiWorker();

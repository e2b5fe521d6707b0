/**
 * Hearth's service worker: intercepts same-origin fetches to `<scope>inference/v1/*` and relays them to the page
 * that hosts the engines (see src/runtime/sw-relay.ts). Registered by `installServiceWorker()`.
 */
import { installRelay } from '../src/runtime/sw-relay';

declare const self: ServiceWorkerGlobalScope;

installRelay(`${new URL(self.registration.scope).pathname}inference/v1`);

/**
 * Registers Hearth's service worker at the site's base scope and waits until it controls this page
 * (it calls skipWaiting + clients.claim, so the first load is controlled too).
 */
const BASE_URL: string = import.meta.env?.BASE_URL ?? '/';

export async function installServiceWorker(scriptUrl?: string): Promise<ServiceWorkerRegistration> {
  if (!('serviceWorker' in navigator)) throw new Error('Service workers are not available in this context');
  const url = scriptUrl ?? (import.meta.env.DEV ? `${BASE_URL}workers/sw.ts` : `${BASE_URL}hearth-sw.js`);
  const registration = await navigator.serviceWorker.register(url, { type: 'module', scope: BASE_URL });
  if (!navigator.serviceWorker.controller) {
    await new Promise<void>((resolve) => {
      navigator.serviceWorker.addEventListener('controllerchange', () => resolve(), { once: true });
    });
  }
  return registration;
}

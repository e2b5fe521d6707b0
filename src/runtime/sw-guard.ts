/**
 * The service worker's door check: only pages of this site may use the API. A navigation (a link, a form — another
 * site's `<form enctype="text/plain">` included — or the address bar) is refused, and so is any request that says it
 * comes from elsewhere (`Origin`, `Sec-Fetch-Site`). The pages a service worker controls are same-origin by
 * construction, so the other way in for another site is a navigation. Refusals are 403 ErrorResponses.
 */
import { forbidden, type HearthError } from '../core/errors';

/** Why this request may not be relayed to the API of `origin` (the service worker's own), or null when it may. */
export function refuseForeign(request: Request, origin: string): HearthError | null {
  if (request.mode === 'navigate') {
    return forbidden('The Hearth API answers fetch() from pages of this site, not navigations (a link, a form or the address bar)', 'navigation_refused');
  }
  const site = request.headers.get('sec-fetch-site');
  if (site && site !== 'same-origin') return forbidden(`The Hearth API answers only this site's pages (Sec-Fetch-Site: ${site})`, 'cross_origin');
  const from = request.headers.get('origin');
  if (from && from !== origin) return forbidden(`The Hearth API answers only this site's pages (Origin: ${from})`, 'cross_origin');
  return null;
}

/**
 * The API as one function: `createApi(deps)` returns `handle(request) → Response`. The service worker relay, the
 * in-page client and Node tests all call it. Routing, auth, body limits and error shaping happen here; handlers
 * hold the per-endpoint logic. Every failure becomes a spec-shaped ErrorResponse and never escapes as a throw.
 */
import { errorResponse, HearthError, notFound } from './errors';
import { parseJsonBody, readBody } from './http';
import { dispatch } from './remote/dispatch';
import { LIMITS } from './limits';
import { matchRoute, ROUTES } from './routes';
import type { ApiDeps, RequestContext } from './types';

export const DEFAULT_BASE_PATH = '/inference/v1';
export const DEFAULT_MAX_BODY_BYTES = LIMITS.maxBodyBytes;

export type Handle = (request: Request) => Promise<Response>;

export function createApi(deps: ApiDeps): Handle {
  const basePath = deps.basePath ?? DEFAULT_BASE_PATH;
  const maxBody = deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const routes = ROUTES.filter((r) => !r.engine || deps.engines[r.engine]);

  return async function handle(request: Request): Promise<Response> {
    const requestId = newRequestId();
    const headers = { 'x-request-id': requestId };
    try {
      const url = new URL(request.url);
      if (url.pathname !== basePath && !url.pathname.startsWith(`${basePath}/`)) {
        throw notFound(`${url.pathname} is outside the API (${basePath})`, null, 'unknown_route');
      }
      checkAuth(request, deps.apiKey);
      const path = url.pathname.slice(basePath.length) || '/';
      const match = matchRoute(path, request.method.toUpperCase(), routes);
      if (!match.route) {
        if (match.allowed.length) {
          throw Object.assign(new HearthError({
            status: 405, type: 'method_not_allowed', code: 'method_not_allowed', param: null,
            message: `${request.method} is not allowed on ${path}; use ${match.allowed.join(', ')}`,
          }), { allow: match.allowed.join(', ') });
        }
        throw notFound(`No route for ${request.method} ${path}`, null, 'unknown_route');
      }
      let bodyPromise: Promise<unknown> | undefined;
      const ctx: RequestContext = {
        request, url, path, pathParam: match.pathParam, deps, ignored: [],
        json: () => (bodyPromise ??= readBody(request, maxBody).then((bytes) => parseJsonBody(request, bytes))),
      };
      const response = deps.remotes?.size
        ? await dispatch(ctx, match.route, { remotes: deps.remotes, localEngines: deps.localEngines !== false, maxBodyBytes: maxBody })
        : await match.route.handler(ctx);
      response.headers.set('x-request-id', requestId);
      if (ctx.ignored.length) response.headers.set('x-hearth-ignored', ctx.ignored.join(', '));
      return response;
    } catch (e) {
      const allow = (e as { allow?: string }).allow;
      if (!(e instanceof HearthError) || e.status === 500) console.error(`[hearth] ${request.method} ${request.url}`, e);
      // Errors may carry answer headers of their own (a remote's name, Retry-After).
      const own = (e as { headers?: Record<string, string> }).headers;
      return errorResponse(e, { ...headers, ...(allow && { allow }), ...own });
    }
  };
}

function checkAuth(request: Request, apiKey: string | undefined): void {
  if (!apiKey) return;
  const given = /^Bearer\s+(.+)$/i.exec(request.headers.get('authorization') ?? '')?.[1];
  if (given !== apiKey) {
    throw new HearthError({
      status: 401, type: 'authentication_error', param: null,
      code: given ? 'invalid_api_key' : 'missing_api_key',
      message: given ? 'The API key is wrong' : 'This Hearth runtime requires an API key: send "Authorization: Bearer <key>"',
    });
  }
}

let counter = 0;
function newRequestId(): string {
  counter = (counter + 1) % 1e9;
  return `req_${Date.now().toString(36)}${counter.toString(36)}`;
}

/**
 * The route table: every path of the spec (plus GET /models, per spec/NOTES.md), the handler that serves it, and
 * the methods it allows. Each kind's routes are declared beside its handlers (src/api/handlers/*.ts) and listed
 * here under their engine kind — one entry per kind of the kinds table (src/engines/kinds.ts), demanded by the
 * compiler. One frozen table drives dispatch; nothing else matches on paths.
 */
import { chatRoutes } from './handlers/chat';
import { completionRoutes } from './handlers/completions';
import { diagnosticsRoutes } from './handlers/diagnostics';
import { embeddingsRoutes } from './handlers/embeddings';
import { imageRoutes } from './handlers/images';
import { modelRoutes } from './handlers/models';
import { invalidRequest } from './errors';
import type { EngineKind } from '../engines/kinds';
import type { KindRoute, Route } from './types';

export type { Route };

/** Per engine kind, the routes its engine serves. */
const KIND_ROUTES: { readonly [K in EngineKind]: readonly KindRoute[] } = {
  embeddings: embeddingsRoutes,
  llm: [...chatRoutes, ...completionRoutes],
  image: imageRoutes,
  diagnostics: diagnosticsRoutes,
};

export const ROUTES: readonly Route[] = Object.freeze([
  ...(Object.keys(KIND_ROUTES) as EngineKind[]).flatMap((engine) => KIND_ROUTES[engine].map((route): Route => ({ ...route, engine }))),
  ...modelRoutes,
]);

export interface RouteMatch {
  route?: Route;
  pathParam?: string;
  /** Methods the path accepts (for 405's Allow header) when none matched the request's method. */
  allowed: string[];
}

/** The path's parameter, decoded; malformed percent-encoding (`%ZZ`) is the caller's error, not ours. */
function decodePathParam(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw invalidRequest(`The path holds malformed percent-encoding: ${raw.slice(0, 200)}`, null, 'invalid_path');
  }
}

export function matchRoute(path: string, method: string, routes: readonly Route[] = ROUTES): RouteMatch {
  const allowed: string[] = [];
  for (const route of routes) {
    let param: string | undefined;
    if (route.path.endsWith('/')) {
      if (!path.startsWith(route.path) || path.length === route.path.length) continue;
      param = decodePathParam(path.slice(route.path.length));
    } else if (path !== route.path && path !== `${route.path}/`) {
      continue;
    }
    if (route.method === method || (method === 'HEAD' && route.method === 'GET')) return { route, pathParam: param, allowed };
    allowed.push(route.method);
  }
  return { allowed };
}

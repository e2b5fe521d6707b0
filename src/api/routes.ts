/**
 * The route table: every path of the spec (plus GET /models, per spec/NOTES.md), the handler that serves it, and
 * the methods it allows. Every file in src/api/handlers/ is a handler file that exports its `routes`: a kind's routes
 * stamped with its engine kind (`kindRoutes`, src/engines/kinds.ts), or routes of no engine. They are gathered here
 * by Vite's `import.meta.glob` (every build and test runs through Vite), so a new kind's handler file is served
 * without an edit here; a kind of the table that no handler file serves is an error when this module loads. One
 * frozen table drives dispatch; nothing else matches on paths.
 */
import { invalidRequest } from './errors';
import { MODEL_KINDS, TEST_KINDS } from '../engines/kinds';
import type { Route } from './types';

export type { Route };

/** src/api/handlers/*.ts (not its subfolders, which hold what handler files share), in file-name order. */
const HANDLER_FILES = import.meta.glob<{ routes?: readonly Route[] }>('./handlers/*.ts', { eager: true });

export const ROUTES: readonly Route[] = Object.freeze(Object.entries(HANDLER_FILES).flatMap(([file, handlers]) => {
  if (!handlers.routes) throw new Error(`${file} exports no \`routes\`: every file in src/api/handlers/ declares the routes it serves`);
  return handlers.routes;
}));

const unserved = [...MODEL_KINDS, ...TEST_KINDS].filter((kind) => !ROUTES.some((route) => route.engine === kind));
if (unserved.length) throw new Error(`No handler file in src/api/handlers/ serves the engine kind ${unserved.join(', ')} (see kindRoutes)`);

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

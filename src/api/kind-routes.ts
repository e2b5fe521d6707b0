/**
 * How a handler file (src/api/handlers/*.ts) declares the routes an engine kind serves: each route is stamped with
 * the kind (src/engines/kinds.ts), so it is served only where `deps.engines` has that kind.
 */
import type { EngineKind } from '../engines/kinds';
import type { KindRoute, Route } from './types';

export function kindRoutes(engine: EngineKind, routes: readonly KindRoute[]): readonly Route[] {
  return routes.map((route) => ({ ...route, engine }));
}

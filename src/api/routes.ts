/**
 * The route table: every path of the spec (plus GET /models, per spec/NOTES.md), the handler that serves it, and
 * the methods it allows. One frozen table drives dispatch; nothing else matches on paths.
 */
import { createChatCompletion } from './handlers/chat';
import { createCompletion } from './handlers/completions';
import { createEmbedding } from './handlers/embeddings';
import { injectEngineFault, startTickStream, tickRunState } from './handlers/diagnostics';
import { getModel, listModels } from './handlers/models';
import { controlNet, imageToImage, textToImage } from './handlers/images';
import { invalidRequest } from './errors';
import type { EngineKind } from '../engines/kinds';
import type { Handler } from './types';

export interface Route {
  /** Exact path below the base, or a prefix ending in '/' whose remainder is the path parameter. */
  path: string;
  method: 'GET' | 'POST';
  handler: Handler;
  /** The engine kind that serves it (src/engines/kinds.ts); served only where `deps.engines` has that kind. */
  engine?: EngineKind;
}

const SDXL = '/image_generation/accounts/fireworks/models/stable-diffusion-xl-1024-v1-0';

export const ROUTES: readonly Route[] = Object.freeze([
  { path: '/chat/completions', method: 'POST', handler: createChatCompletion, engine: 'llm' },
  { path: '/completions', method: 'POST', handler: createCompletion, engine: 'llm' },
  { path: '/embeddings', method: 'POST', handler: createEmbedding, engine: 'embeddings' },
  { path: SDXL, method: 'POST', handler: textToImage, engine: 'image' },
  { path: `${SDXL}/image_to_image`, method: 'POST', handler: imageToImage, engine: 'image' },
  { path: `${SDXL}/control_net`, method: 'POST', handler: controlNet, engine: 'image' },
  { path: '/models', method: 'GET', handler: listModels },
  { path: '/models/', method: 'GET', handler: getModel },
  { path: '/_hearth/stream', method: 'POST', handler: startTickStream, engine: 'diagnostics' },
  { path: '/_hearth/stream/', method: 'GET', handler: tickRunState, engine: 'diagnostics' },
  { path: '/_hearth/engine-fault', method: 'POST', handler: injectEngineFault, engine: 'diagnostics' },
] satisfies Route[]);

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

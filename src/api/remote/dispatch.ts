/**
 * Where a request runs when remotes are configured: here, or on the remote that serves its model under that remote's
 * policy. A request going to a remote is validated here first (a 400 costs no network) and forwarded byte for byte;
 * `local-first` falls back to the remote when this runtime has no engine, lacks the model, or its engine answers 503
 * before the first byte. GET /models lists the remotes' models beside the local ones, saying where each runs.
 */
import { MAX_MULTIPART_BYTES, multipartFields } from '../handlers/images';
import { toHearthError } from '../errors';
import { parseJsonBody, readBody } from '../http';
import type { RequestContext, Route } from '../types';
import { validateRequest } from '../validate';
import type { RemoteBackend } from './backend';
import { literalNames, matchesModel } from './patterns';
import type { Remotes } from './remotes';

type Local = (ctx: RequestContext) => Promise<Response>;

export interface DispatchOptions {
  remotes: Remotes;
  /** False when this runtime has no local engine at all (`devices: []`): every remote-served model goes remote. */
  localEngines: boolean;
  /** The JSON body limit (multipart bodies have the image paths' own). */
  maxBodyBytes: number;
}

/** `route`: the one the request matched (src/api/routes.ts); those with an `operation` name a model. */
export async function dispatch(ctx: RequestContext, route: Route, options: DispatchOptions): Promise<Response> {
  const local: Local = route.handler;
  const method = ctx.request.method.toUpperCase();
  const path = ctx.path.replace(/(.)\/$/, '$1');
  if (method === 'GET' && path === '/models') return listWithRemotes(ctx, local, options.remotes);
  if (method === 'GET' && path.startsWith('/models/')) return modelWithRemotes(ctx, local, options.remotes);
  if (method !== 'POST' || !route.operation) return local(ctx);
  const operation = route.operation;

  // The body is read once: the local handler gets it back through a rebuilt request, a remote gets the same bytes.
  const bytes = await readBody(ctx.request, route.multipart ? MAX_MULTIPART_BYTES : options.maxBodyBytes);
  const request = new Request(ctx.request.url, { method, headers: ctx.request.headers, body: bytes as BodyInit, signal: ctx.request.signal });
  let parsed: Promise<unknown> | undefined;
  const localCtx: RequestContext = { ...ctx, request, json: () => (parsed ??= Promise.resolve().then(() => parseJsonBody(request, bytes))) };
  const fields = (route.multipart ? await multipartFields(request.clone()) : await localCtx.json()) as Record<string, unknown>;
  const model = typeof fields?.model === 'string' ? fields.model : route.defaultModel ?? '';
  const entry = ctx.deps.registry.find(model);
  const remote = options.remotes.forModel(entry ? [model, entry.id, ...entry.aliases] : [model]);
  if (!remote) return local(localCtx);

  const forward = () => {
    validateRequest(operation, fields);
    return remote.forward({ method: 'POST', path: ctx.path + ctx.url.search, headers: ctx.request.headers, body: bytes, signal: ctx.request.signal });
  };
  if (remote.config.policy === 'remote') return forward();
  // A model this runtime knows as another kind is a local 400, not a reason to ask the remote.
  if (options.localEngines && entry && entry.kind !== route.engine) return local(localCtx);
  const localCanServe = options.localEngines && entry !== undefined &&
    (entry.builtIn || await ctx.deps.isDownloaded(entry).catch(() => false));
  if (!localCanServe) return forward();
  const answer = await local(localCtx).catch((e: unknown) => {
    // The local engine cannot serve it now (no backend works, files missing, restarting): nothing was generated yet.
    if (toHearthError(e).status === 503) return null;
    throw e;
  });
  return answer ?? forward();
}

interface ModelObject { id: string; [field: string]: unknown }

async function listWithRemotes(ctx: RequestContext, local: Local, remotes: Remotes): Promise<Response> {
  const answer = await local(ctx);
  if (!answer.ok) return answer;
  const list = (await answer.json()) as { object: 'list'; data: ModelObject[] };
  const remoteLists = await Promise.all(remotes.all().map((r) => remoteModels(r, ctx.request.signal)));
  const byId = new Map(list.data.map((m) => [m.id, m]));
  for (const m of list.data) {
    const names = [m.id, ...((m.aliases as string[] | undefined) ?? [])];
    const r = remotes.forModel(names);
    m.runs_on = r ? (r.config.policy === 'remote' ? [r.tag] : ['local', r.tag]) : ['local'];
  }
  remotes.all().forEach((r, i) => {
    if (r.config.policy === 'local') return;
    for (const m of remoteLists[i].models) {
      const here = byId.get(m.id);
      if (here) continue;
      const shown: ModelObject = { ...m, backend: r.tag, runs_on: [r.tag], remote: { name: r.config.name, policy: r.config.policy, reachable: remoteLists[i].reachable } };
      byId.set(m.id, shown);
      list.data.push(shown);
    }
  });
  const headers = new Headers(answer.headers);
  headers.delete('content-length');
  return new Response(JSON.stringify(list), { status: 200, headers });
}

/** The remote's models its patterns let through; when it cannot be asked, the names its patterns spell out. */
async function remoteModels(remote: RemoteBackend, signal: AbortSignal): Promise<{ models: ModelObject[]; reachable: boolean }> {
  const patterns = remote.config.models ?? ['*'];
  try {
    const answer = await remote.forward({
      method: 'GET', path: '/models', headers: new Headers({ accept: 'application/json' }), body: null,
      signal: AbortSignal.any([signal, AbortSignal.timeout(3000)]),
    });
    if (!answer.ok) throw new Error(String(answer.status));
    const body = (await answer.json()) as { data?: ModelObject[] };
    return { models: (body.data ?? []).filter((m) => typeof m?.id === 'string' && matchesModel(patterns, m.id)), reachable: true };
  } catch {
    return { models: literalNames(patterns).map((id) => ({ id, object: 'model', owned_by: remote.config.name })), reachable: false };
  }
}

async function modelWithRemotes(ctx: RequestContext, local: Local, remotes: Remotes): Promise<Response> {
  const remote = remotes.forModel([ctx.pathParam ?? '']);
  const answer = await local(ctx).catch((e: unknown) => {
    if (remote && toHearthError(e).status === 404) return null;
    throw e;
  });
  if (answer || !remote) return answer!;
  return remote.forward({ method: 'GET', path: ctx.path, headers: ctx.request.headers, body: null, signal: ctx.request.signal });
}

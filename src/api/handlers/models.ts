/**
 * GET /models and GET /models/{id}: the catalog as the spec's ListModelsResponse / Model, plus Hearth's own fields
 * (kind, backend, built_in, downloaded, loaded, device) so a caller can see each model's state.
 */
import { notFound } from '../errors';
import { jsonResponse } from '../http';
import type { ApiDeps, EngineHealth, Handler, Route } from '../types';
import type { LoadedModelState } from '../../engines/loaded';
import { hasSafetyChecker } from '../../models/store';
import type { CatalogEntry } from '../../models/types';

export const listModels: Handler = async (ctx) => {
  const loaded = await ctx.deps.engines.loaded();
  const health = ctx.deps.engines.health?.();
  const data = await Promise.all(ctx.deps.registry.list().map((e) => describe(ctx.deps, e, loaded, health)));
  return jsonResponse({ object: 'list', data, aliases: ctx.deps.registry.aliases() });
};

export const getModel: Handler = async (ctx) => {
  const name = ctx.pathParam ?? '';
  const entry = ctx.deps.registry.find(name);
  if (!entry) throw notFound(`Model "${name}" not found`, 'model', 'model_not_found');
  return jsonResponse(await describe(ctx.deps, entry, await ctx.deps.engines.loaded(), ctx.deps.engines.health?.()));
};

/** The model's engine worker as its supervisor sees it (browser hosts): restarts, and this model's jobs in flight. */
function engineState(entry: CatalogEntry, health: EngineHealth[] | undefined) {
  const engine = health?.find((h) => h.kind === entry.kind);
  if (!engine) return undefined;
  return {
    running: engine.running,
    restarts: engine.restarts,
    last_restart: engine.lastRestart,
    jobs_in_flight: engine.jobsInFlight[entry.id] ?? 0,
  };
}

async function describe(deps: ApiDeps, entry: CatalogEntry, loaded: Map<string, LoadedModelState>, health?: EngineHealth[]) {
  const state = loaded.get(entry.id);
  const engine = engineState(entry, health);
  const needed = entry.files.filter((f) => !f.optional);
  const size = needed.every((f) => f.size !== undefined) ? needed.reduce((s, f) => s + (f.size ?? 0), 0) : null;
  // Where some files are known only by a listing's rounded size (listedSize): the sum of the sizes known, exact or
  // listed, shown as approximate before download (files of unknown size, in practice configs and tokenizers, not counted).
  const approx = size === null && needed.some((f) => f.listedSize !== undefined)
    ? needed.reduce((s, f) => s + (f.size ?? f.listedSize ?? 0), 0) : null;
  return {
    id: entry.id,
    object: 'model',
    created: entry.created,
    owned_by: entry.ownedBy,
    kind: entry.kind,
    aliases: deps.registry.namesOf(entry),
    description: entry.description,
    backend: entry.backend,
    built_in: entry.builtIn,
    random_weights: entry.randomWeights === true,
    size_bytes: size,
    ...(approx !== null && { approx_size_bytes: approx }),
    downloaded: await deps.isDownloaded(entry).catch(() => false),
    loaded: state !== undefined,
    device: state?.device ?? null,
    ...(state?.variant && { loaded_variant: `${state.backend}:${state.variant}` }),
    ...(state?.loras && { loaded_loras: state.loras }),
    ...(state?.skipped?.length && { skipped_backends: state.skipped }),
    ...(engine && { engine }),
    ...(state?.stats && { stats: { requests: state.stats.requests, cancelled: state.stats.cancelled, generated_tokens: state.stats.generatedTokens, queued: state.stats.queued ?? 0 } }),
    ...(entry.llm && {
      context_length: entry.llm.contextLength,
      supports_tools: entry.llm.tools,
      supports_images: entry.llm.vision,
      variants: entry.llm.variants.map((v) => `${v.backend}:${v.name}`),
    }),
    ...(entry.image && {
      resolutions: entry.image.resolutions.map(([width, height]) => ({ width, height })),
      default_steps: entry.image.defaultSteps,
      supports_controlnet: entry.image.controlnet,
      supports_safety_check: hasSafetyChecker(entry),
      supports_lora: true,
    }),
    ...(entry.embeddings && {
      dimensions: entry.embeddings.hiddenSize,
      max_input_tokens: entry.embeddings.maxTokens,
      supports_dimensions: entry.embeddings.matryoshka,
    }),
  };
}

/** The paths it serves (no engine's: src/api/routes.ts). */
export const routes: readonly Route[] = [
  { path: '/models', method: 'GET', handler: listModels },
  { path: '/models/', method: 'GET', handler: getModel },
];

// The kinds table (src/engines/kinds.ts) and what is derived from it: the model kinds in GET /models order, the
// catalog's vocabulary of kinds, the default deadlines, the routes per kind (declared by the handler files) and what
// remote dispatch reads from a route (its operation, multipart body, default model), Node's engines built from the
// table's in-process factories; each checked against the values that were wired by hand before the table drove them.
import { describe, expect, expectTypeOf, it } from 'vitest';
import { ENGINE_KINDS, MODEL_KINDS, TEST_KINDS } from '../../src/engines/kinds';
import { CATALOG } from '../../src/models/catalog';
import type { ModelKind } from '../../src/models/types';
import { ROUTES } from '../../src/api/routes';
import { DEFAULT_DEADLINES } from '../../src/runtime/deadlines';
import { directoryFiles } from '../../src/server/model-files';
import { createNodeEngines } from '../../src/server/node-engines';
import { ROOT } from './node-api';

const SDXL = '/image_generation/accounts/fireworks/models/stable-diffusion-xl-1024-v1-0';

describe('the kinds table', () => {
  it('splits the kinds into model kinds (GET /models order) and test-only ones', () => {
    expect(MODEL_KINDS).toEqual(['embeddings', 'llm', 'image']);
    expect(TEST_KINDS).toEqual(['diagnostics']);
    expect(Object.keys(ENGINE_KINDS).sort()).toEqual([...MODEL_KINDS, ...TEST_KINDS].sort());
    for (const entry of CATALOG) expect(MODEL_KINDS).toContain(entry.kind);
  });

  it('gives the catalog its vocabulary of kinds: exactly the model kinds (checked by the compiler)', () => {
    expectTypeOf<ModelKind>().toEqualTypeOf<'embeddings' | 'llm' | 'image'>();
    expectTypeOf<ModelKind>().toEqualTypeOf<(typeof MODEL_KINDS)[number]>();
  });

  it('builds each model kind\'s engine in Node from its in-process factory, once, with the one contract', async () => {
    const engines = createNodeEngines(directoryFiles(`${ROOT}public`));
    for (const kind of MODEL_KINDS) {
      expect(ENGINE_KINDS[kind].inProcess, kind).toBeTypeOf('function');
      const engine = await engines.engine(kind);
      for (const method of ['load', 'loaded', 'unload', 'run'] as const) expect(engine[method], `${kind}.${method}`).toBeTypeOf('function');
      expect(await engines.engine(kind)).toBe(engine);
      expect(await engine.loaded()).toEqual([]);
    }
    expect(await engines.deps.engines.loaded()).toEqual(new Map());
  });

  it('gives the default deadlines: embeddings 5 min, LLM and image 15 min; grace and ping periods beside them', () => {
    expect(DEFAULT_DEADLINES).toEqual({ embeddings: 300_000, llm: 900_000, image: 900_000, graceMs: 10_000, unresponsiveMs: 120_000 });
  });

  it('says which kinds answer streams (LLM, image) and which a whole answer (embeddings)', () => {
    expect(MODEL_KINDS.map((k) => [k, ENGINE_KINDS[k].answer])).toEqual([['embeddings', 'whole'], ['llm', 'stream'], ['image', 'stream']]);
  });

  it('routes each kind\'s paths to its engine, with what remote dispatch reads from them', () => {
    const byPath = (path: string) => ROUTES.find((r) => r.path === path);
    const modelRoutes = ROUTES.filter((r) => r.operation).map((r) => ({
      path: r.path, engine: r.engine, operation: r.operation, multipart: r.multipart ?? false, defaultModel: r.defaultModel,
    }));
    expect(modelRoutes).toEqual(expect.arrayContaining([
      { path: '/chat/completions', engine: 'llm', operation: 'chat.completions', multipart: false, defaultModel: undefined },
      { path: '/completions', engine: 'llm', operation: 'completions', multipart: false, defaultModel: undefined },
      { path: '/embeddings', engine: 'embeddings', operation: 'embeddings', multipart: false, defaultModel: undefined },
      { path: SDXL, engine: 'image', operation: 'images.generate', multipart: false, defaultModel: 'accounts/fireworks/models/stable-diffusion-xl-1024-v1-0' },
      { path: `${SDXL}/image_to_image`, engine: 'image', operation: 'images.image_to_image', multipart: true, defaultModel: 'accounts/fireworks/models/stable-diffusion-xl-1024-v1-0' },
      { path: `${SDXL}/control_net`, engine: 'image', operation: 'images.control_net', multipart: true, defaultModel: 'accounts/fireworks/models/stable-diffusion-xl-1024-v1-0' },
    ]));
    expect(modelRoutes).toHaveLength(6);
    for (const path of ['/_hearth/stream', '/_hearth/stream/', '/_hearth/engine-fault']) expect(byPath(path)?.engine).toBe('diagnostics');
    for (const path of ['/models', '/models/']) expect(byPath(path)?.engine).toBeUndefined();
    expect(ROUTES).toHaveLength(11);
  });
});

/**
 * The engine kinds, in one table: per kind, the interface its engine implements (what its worker exposes and the API
 * calls), whether it serves catalog models or exists for tests only, what its jobs answer, its default job deadline,
 * how the browser starts its worker and how a Node process builds its engine in process. Everything wired per kind
 * derives from it: the API's engine getters (`Engines`), the catalog's `ModelKind` (declared below into
 * src/models/types.ts), the host's worker pool (src/runtime/engines.ts), deadlines (src/runtime/deadlines.ts), the
 * page's engine ports (src/runtime/api-link.ts), Node's engines (src/server/node-engines.ts). A kind's routes are
 * declared by its handler file in src/api/handlers/, which src/api/routes.ts finds. See README ("Adding an engine kind").
 */
import type { ModelKind } from '../models/types';
import type { EngineFactory } from './environment';
import type { DiagnosticsEngine } from './diagnostics/types';
import type { EmbeddingsEngine } from './embeddings/types';
import type { LlmEngine } from './llm/types';
import type { LoadedModelState } from './loaded';
import type { ImageEngine } from './image/types';

/** A worker entry's start: `(name) => new Worker(new URL('../../workers/<kind>.worker.ts', …), { type: 'module', name })`. */
export type StartWorker = (name: string) => Worker;

/** A kind that serves catalog models: a supervised worker of its own, with a job deadline. */
export interface ModelKindRow<E> {
  serves: 'models';
  /**
   * What a job answers: a `stream` of events (its deadline counts from the stream's first read; Node hands its events
   * out one turn of the event loop apart) or a `whole` answer (its deadline counts from the call, model load included).
   */
  answer: 'stream' | 'whole';
  /** Default milliseconds per job (overridable per host: `startHearth({ deadlines })`). */
  deadlineMs: number;
  worker: StartWorker;
  /**
   * How a Node process (`hearth serve`, the Node tests) builds the engine in its own thread: a lazy import of the
   * kind's factory. Only Node builds hold it (`import.meta.env.SSR`; undefined in browser bundles, where the worker
   * runs the engine): a browser bundle that imports the table would otherwise carry every engine again as a chunk.
   */
  inProcess: (() => Promise<EngineFactory<E>>) | undefined;
  /** Type only: the interface `E` its engine implements (never set). */
  readonly engine?: E;
}

/** A test-only kind: started only where a host enables diagnostics, unsupervised. */
export interface TestKindRow<E> {
  serves: 'tests';
  worker: StartWorker;
  readonly engine?: E;
}

const models = <E>(row: Omit<ModelKindRow<E>, 'serves' | 'engine'>): ModelKindRow<E> => ({ serves: 'models', ...row });
const tests = <E>(row: Omit<TestKindRow<E>, 'serves' | 'engine'>): TestKindRow<E> => ({ serves: 'tests', ...row });

/**
 * The table. A row's order is the order GET /models lists loaded models in. Each `new Worker(new URL(…))` stays
 * literal: that is the form Vite finds and bundles workers by (a table of URLs would not bundle them).
 */
export const ENGINE_KINDS = Object.freeze({
  embeddings: models<EmbeddingsEngine>({
    answer: 'whole',
    deadlineMs: 5 * 60_000,
    worker: (name) => new Worker(new URL('../../workers/embeddings.worker.ts', import.meta.url), { type: 'module', name }),
    inProcess: import.meta.env.SSR ? () => import('./embeddings/service').then((m) => m.createEmbeddingsService) : undefined,
  }),
  llm: models<LlmEngine>({
    answer: 'stream',
    deadlineMs: 15 * 60_000,
    worker: (name) => new Worker(new URL('../../workers/llm.worker.ts', import.meta.url), { type: 'module', name }),
    inProcess: import.meta.env.SSR ? () => import('./llm/service').then((m) => m.createLlmService) : undefined,
  }),
  image: models<ImageEngine>({
    answer: 'stream',
    deadlineMs: 15 * 60_000,
    worker: (name) => new Worker(new URL('../../workers/image.worker.ts', import.meta.url), { type: 'module', name }),
    inProcess: import.meta.env.SSR ? () => import('./image/service').then((m) => m.createImageService) : undefined,
  }),
  /** A streaming source that proves streams and aborts cross every hop. */
  diagnostics: tests<DiagnosticsEngine>({
    worker: (name) => new Worker(new URL('../../workers/diagnostics.worker.ts', import.meta.url), { type: 'module', name }),
  }),
});

type Table = typeof ENGINE_KINDS;
/** Every engine kind, test-only ones included. */
export type EngineKind = keyof Table;
/** Kind → the interface its engine implements. */
export type EngineInterfaces = { [K in EngineKind]: NonNullable<Table[K]['engine']> };
/** The test-only kinds. */
export type TestEngineKind = { [K in EngineKind]: Table[K] extends TestKindRow<unknown> ? K : never }[EngineKind];
type ServingKind = Exclude<EngineKind, TestEngineKind>;
export type { ModelKind };

/**
 * The catalog's vocabulary of kinds is the table's model kinds: declared here into src/models/types.ts (declaration
 * merging; the catalog layer cannot import the engines), so a row added above is a kind a catalog entry may name.
 */
declare module '../models/types' {
  interface ModelKinds extends Record<ServingKind, true> {}
}

const kinds = Object.keys(ENGINE_KINDS) as EngineKind[];
const servesModels = (kind: EngineKind): kind is ModelKind => ENGINE_KINDS[kind].serves === 'models';
/** The kinds that serve catalog models (a catalog entry's kind names its engine), in the table's order. */
export const MODEL_KINDS: readonly ModelKind[] = Object.freeze(kinds.filter(servesModels));
/** The test-only kinds. */
export const TEST_KINDS: readonly TestEngineKind[] = Object.freeze(kinds.filter((k): k is TestEngineKind => !servesModels(k)));

/** A value per model kind, from one function (a record the compiler knows is complete). */
export function perModelKind<V extends { [K in ModelKind]: unknown }>(make: <K extends ModelKind>(kind: K) => V[K]): V {
  return Object.fromEntries(MODEL_KINDS.map((kind) => [kind, make(kind)])) as V;
}

/** The engines of the kinds that serve models, those started so far. */
export type StartedEngines = { [K in ModelKind]?: EngineInterfaces[K] };

/**
 * How the API reaches the engines: per kind, a getter that starts the engine on first use (awaited per request;
 * test-only kinds only where enabled), and the models loaded in the engines started so far (starting none).
 */
export type Engines = { [K in ModelKind]: () => Promise<EngineInterfaces[K]> } &
  { [K in TestEngineKind]?: () => Promise<EngineInterfaces[K]> } & {
    loaded(): Promise<Map<string, LoadedModelState>>;
  };

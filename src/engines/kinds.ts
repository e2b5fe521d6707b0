/**
 * The engine kinds, in one table: per kind, the interface its engine implements (what its worker exposes and the API
 * calls), whether it serves catalog models or exists for tests only, what its jobs answer, its default job deadline
 * and how the browser starts its worker. Everything wired per kind derives from it: the API's engine getters
 * (`Engines`), the host's worker pool (src/runtime/engines.ts), deadlines (src/runtime/deadlines.ts), the page's
 * engine ports (src/runtime/api-link.ts). What this layer cannot hold is typed by kind from it, so a row added here is
 * a compile error until the catalog's `ModelKind`, the kind's routes (src/api/routes.ts) and its Node factory
 * (src/server/node-engines.ts) exist. See README ("Adding an engine kind").
 */
import type { ModelKind } from '../models/types';
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
  }),
  llm: models<LlmEngine>({
    answer: 'stream',
    deadlineMs: 15 * 60_000,
    worker: (name) => new Worker(new URL('../../workers/llm.worker.ts', import.meta.url), { type: 'module', name }),
  }),
  image: models<ImageEngine>({
    answer: 'stream',
    deadlineMs: 15 * 60_000,
    worker: (name) => new Worker(new URL('../../workers/image.worker.ts', import.meta.url), { type: 'module', name }),
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

/** The kinds that serve models are exactly the catalog's model kinds (src/models/types.ts): else this is a type error. */
const modelKindsMatch: [ServingKind] extends [ModelKind] ? ([ModelKind] extends [ServingKind] ? true : never) : never = true;
void modelKindsMatch;

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

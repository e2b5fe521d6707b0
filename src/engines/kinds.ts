/**
 * The engine kinds, in one table: each kind's interface (what its worker exposes and the API calls), and which kinds
 * serve catalog models. The API's engine getters (`Engines`), the host's worker pool (src/runtime/engines.ts: kind →
 * worker) and Node's engines (src/server/node-engines.ts) are all typed from it, so a kind added here is demanded
 * everywhere it must be wired. See README ("Adding an engine kind").
 */
import type { DiagnosticsEngine } from './diagnostics/types';
import type { EmbeddingsEngine } from './embeddings/types';
import type { LlmEngine } from './llm/types';
import type { LoadedModelState } from './loaded';
import type { ImageEngine } from './sdxl/types';

/** Kind → the interface its engine implements. */
export interface EngineInterfaces {
  embeddings: EmbeddingsEngine;
  llm: LlmEngine;
  image: ImageEngine;
  /** Test-only: a streaming source that proves streams and aborts cross every hop (started only when enabled). */
  diagnostics: DiagnosticsEngine;
}
export type EngineKind = keyof EngineInterfaces;

/** The kinds that serve catalog models (a catalog entry's kind names its engine), in the order GET /models lists them. */
export const MODEL_ENGINE_KINDS = ['embeddings', 'llm', 'image'] as const satisfies readonly EngineKind[];
export type ModelEngineKind = (typeof MODEL_ENGINE_KINDS)[number];

/** The engines of the kinds that serve models, those started so far. */
export type StartedEngines = { [K in ModelEngineKind]?: EngineInterfaces[K] };

/**
 * How the API reaches the engines: per kind, a getter that starts the engine on first use (awaited per request;
 * diagnostics only where enabled), and the models loaded in the engines started so far (starting none).
 */
export type Engines = { [K in ModelEngineKind]: () => Promise<EngineInterfaces[K]> } & {
  diagnostics?(): Promise<DiagnosticsEngine>;
  loaded(): Promise<Map<string, LoadedModelState>>;
};

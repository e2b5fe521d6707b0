/**
 * The host's engine pool: one dedicated worker per engine kind, started on first use and shared by every request.
 */
import * as Comlink from 'comlink';
import type { DiagnosticsEngine } from '../api/types';
import type { EmbeddingsEngine } from '../engines/embeddings/types';
import type { LlmEngine } from '../engines/llm/types';
import type { ImageEngine } from '../engines/sdxl/types';
import { loadedModels, type LoadedModelState } from '../engines/loaded';
import { connectEngine } from './worker-protocol';
import type { WorkerConfig } from './worker-config';

export interface EnginePool {
  embeddings(): Promise<EmbeddingsEngine>;
  llm(): Promise<LlmEngine>;
  image(): Promise<ImageEngine>;
  diagnostics?(): Promise<DiagnosticsEngine>;
  /** Loaded models of the engines started so far; starts nothing. */
  loaded(): Promise<Map<string, LoadedModelState>>;
  terminate(): void;
}

export function createEnginePool(config: WorkerConfig, options: { diagnostics?: boolean } = {}): EnginePool {
  const workers: Worker[] = [];
  const name = JSON.stringify(config);
  let embeddings: EmbeddingsEngine | undefined;
  let llm: LlmEngine | undefined;
  let image: ImageEngine | undefined;
  let diagnostics: DiagnosticsEngine | undefined;
  const track = (w: Worker) => (workers.push(w), w);

  return {
    async embeddings() {
      embeddings ??= connectEngine<EmbeddingsEngine>(track(
        new Worker(new URL('../../workers/embeddings.worker.ts', import.meta.url), { type: 'module', name })));
      return embeddings;
    },
    async llm() {
      llm ??= connectEngine<LlmEngine>(track(
        new Worker(new URL('../../workers/llm.worker.ts', import.meta.url), { type: 'module', name })));
      return llm;
    },
    async image() {
      image ??= connectEngine<ImageEngine>(track(
        new Worker(new URL('../../workers/sdxl.worker.ts', import.meta.url), { type: 'module', name })));
      return image;
    },
    loaded: () => loadedModels(embeddings, llm, image),
    ...(options.diagnostics && {
      async diagnostics() {
        diagnostics ??= Comlink.wrap<DiagnosticsEngine>(track(
          new Worker(new URL('../../workers/diagnostics.worker.ts', import.meta.url), { type: 'module', name })));
        return diagnostics;
      },
    }),
    terminate() {
      for (const w of workers.splice(0)) w.terminate();
      embeddings = undefined;
      llm = undefined;
      image = undefined;
      diagnostics = undefined;
    },
  };
}

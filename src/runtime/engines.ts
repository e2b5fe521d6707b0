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
  /** A fresh port to the kind's engine worker (started if need be), for a context that reaches it through this pool's owner. */
  port?(kind: EngineKind): Promise<MessagePort>;
  terminate(): void;
}

export type EngineKind = 'embeddings' | 'llm' | 'image' | 'diagnostics';

export function createEnginePool(config: WorkerConfig, options: { diagnostics?: boolean } = {}): EnginePool {
  const workers: Worker[] = [];
  const name = JSON.stringify(config);
  let embeddings: EmbeddingsEngine | undefined;
  let llm: LlmEngine | undefined;
  let image: ImageEngine | undefined;
  let diagnostics: DiagnosticsEngine | undefined;
  const byKind = new Map<EngineKind, Comlink.Remote<unknown>>();
  const track = (w: Worker) => (workers.push(w), w);
  const trackAs = (kind: EngineKind, w: Worker) => (byKind.set(kind, Comlink.wrap(w)), track(w));

  return {
    async embeddings() {
      embeddings ??= connectEngine<EmbeddingsEngine>(trackAs('embeddings',
        new Worker(new URL('../../workers/embeddings.worker.ts', import.meta.url), { type: 'module', name })));
      return embeddings;
    },
    async llm() {
      llm ??= connectEngine<LlmEngine>(trackAs('llm',
        new Worker(new URL('../../workers/llm.worker.ts', import.meta.url), { type: 'module', name })));
      return llm;
    },
    async image() {
      image ??= connectEngine<ImageEngine>(trackAs('image',
        new Worker(new URL('../../workers/sdxl.worker.ts', import.meta.url), { type: 'module', name })));
      return image;
    },
    loaded: () => loadedModels(embeddings, llm, image),
    ...(options.diagnostics && {
      async diagnostics() {
        diagnostics ??= Comlink.wrap<DiagnosticsEngine>(trackAs('diagnostics',
          new Worker(new URL('../../workers/diagnostics.worker.ts', import.meta.url), { type: 'module', name })));
        return diagnostics;
      },
    }),
    async port(kind) {
      await this[kind]?.();
      const engine = byKind.get(kind);
      if (!engine) throw new Error(`No ${kind} engine in this pool`);
      return engine[Comlink.createEndpoint]();
    },
    terminate() {
      byKind.clear();
      for (const w of workers.splice(0)) w.terminate();
      embeddings = undefined;
      llm = undefined;
      image = undefined;
      diagnostics = undefined;
    },
  };
}

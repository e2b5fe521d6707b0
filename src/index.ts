// Hearth as a library: the in-page client and host (`startHearth`, `createHearth`), the service worker installer, the API as one function (`createApi`), the model registry and its types, and every web component (importing this module registers <hearth-chat>, <hearth-completion>, <hearth-embeddings>, <hearth-image>, <hearth-models>; `hearth/components` gives them alone).
export { createHearth, startHearth, type Hearth, type HearthOptions } from './runtime/client';
export { installServiceWorker } from './runtime/install';
export { createApi, DEFAULT_BASE_PATH, type Handle } from './api/handle';
export type { ApiDeps } from './api/types';
export { Remotes, type RemoteSummary } from './api/remote/remotes';
export type { RemoteConfig, RemotePolicy } from './api/remote/types';
export { ModelRegistry } from './models/registry';
export { ArtifactStore, type DownloadProgress, type ProgressListener } from './models/store';
export { CATALOG } from './models/catalog';
export type { CatalogEntry, ModelFile, ModelKind, EmbeddingsSpec, LlmSpec, LlmVariant, ImageSpec, Pooling } from './models/types';
export type { OrtDevice } from './engines/embeddings/types';
export type { EnginePool } from './runtime/engines';
export type { EngineDeadlines } from './runtime/deadlines';
export type { HostHandle } from './runtime/host';
export type { AddModelOptions, LocalModels } from './runtime/local-models';
export * from './components/index';

// Every Hearth web component in one import: <hearth-chat>, <hearth-completion>, <hearth-embeddings>, <hearth-image>, <hearth-models>, <hearth-remotes> (each also works imported alone).
export { HearthChat, WEATHER_TOOL } from './hearth-chat';
export { HearthCompletion } from './hearth-completion';
export { HearthEmbeddings, cosine } from './hearth-embeddings';
export { HearthImage, RESOLUTIONS, SDXL_PATH, type ImageProgress } from './hearth-image';
export { HearthModels } from './hearth-models';
export { HearthModelSelect } from './hearth-model-select';
export { HearthRemotes } from './hearth-remotes';
export { API_BASE, ApiError, apiFetch, listModels, modelsChanged, type HearthRequestDetail, type ModelInfo } from './api';

/**
 * What GET /models reports about loaded models, gathered from whichever engines have started: every kind reports
 * its models in the one shape of contract.ts (LoadedModelInfo), so they merge without knowing the kinds.
 */
import type { LoadedModelInfo } from './contract';

/** A loaded model's state, by catalog id (the map key). */
export type LoadedModelState = Omit<LoadedModelInfo, 'id'>;

/**
 * Several infos of one model (the copies of an image model with a LoRA merged in each) become one: the first's
 * fields, with every copy's adapters.
 */
function merge(into: LoadedModelState, info: LoadedModelInfo): LoadedModelState {
  return info.loras ? { ...into, loras: [...(into.loras ?? []), ...info.loras] } : into;
}

/** The infos of one engine's loaded models, one per catalog id, in the order first seen. */
export function mergeInfos(infos: LoadedModelInfo[]): LoadedModelInfo[] {
  return [...mergeLoaded([infos])].map(([id, state]) => ({ id, ...state }));
}

/** The models loaded in the engines started so far (one list per kind, in GET /models order), by catalog id. */
export function mergeLoaded(perKind: LoadedModelInfo[][]): Map<string, LoadedModelState> {
  const map = new Map<string, LoadedModelState>();
  for (const info of perKind.flat()) {
    const seen = map.get(info.id);
    if (seen) {
      map.set(info.id, merge(seen, info));
    } else {
      const { id, ...state } = info;
      map.set(id, state);
    }
  }
  return map;
}

/** What `loadedModels` asks of an engine. */
export interface LoadedLister {
  loaded(): Promise<LoadedModelInfo[]>;
}

/**
 * `mergeLoaded` over the engines started so far, by kind (a kind not started is absent): each one's `loaded()`,
 * asked of all at once.
 */
export async function loadedModels(engines: Readonly<Record<string, LoadedLister | undefined>>): Promise<Map<string, LoadedModelState>> {
  return mergeLoaded(await Promise.all(Object.values(engines).map(async (e) => (await e?.loaded()) ?? [])));
}

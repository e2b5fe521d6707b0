/**
 * Remote backends the user added in <hearth-remotes>, kept in this browser's localStorage so the next visit has them.
 * A remote's API key is stored only when the user ticked "remember" (any script of this origin can read it then).
 */
import type { RemoteConfig } from '../api/remote/types';

const STORAGE_KEY = 'hearth:remotes';

interface Saved { config: RemoteConfig; rememberKey: boolean }

function read(): Saved[] {
  try {
    const list = JSON.parse(globalThis.localStorage?.getItem(STORAGE_KEY) ?? '[]') as Saved[];
    return Array.isArray(list) ? list.filter((s) => typeof s?.config?.name === 'string' && typeof s.config.baseURL === 'string') : [];
  } catch {
    return [];
  }
}

function write(list: Saved[]): void {
  globalThis.localStorage?.setItem(STORAGE_KEY, JSON.stringify(list));
}

/** The saved remotes, as startHearth takes them. */
export const savedRemotes = (): RemoteConfig[] => read().map((s) => s.config);

/** Whether a saved remote's key was stored. */
export const keyRemembered = (name: string): boolean => read().some((s) => s.config.name === name && s.rememberKey);

export function saveRemote(config: RemoteConfig, rememberKey: boolean): void {
  const { apiKey, ...rest } = config;
  const stored: RemoteConfig = rememberKey && apiKey ? { ...rest, apiKey } : rest;
  write([...read().filter((s) => s.config.name !== config.name), { config: stored, rememberKey: rememberKey && Boolean(apiKey) }]);
}

export function forgetRemote(name: string): void {
  write(read().filter((s) => s.config.name !== name));
}

/**
 * The remote backends of one runtime, kept by name (add, replace, remove at run time: the model manager edits them),
 * each with its own circuit breaker, and the choice of the one that serves a model.
 */
import { invalidRequest } from '../errors';
import { RemoteBackend, type RemoteBackendOptions } from './backend';
import { matchesModel } from './patterns';
import type { RemoteConfig, RemotePolicy } from './types';

/** A remote as it may be shown: everything but the key. */
export interface RemoteSummary {
  name: string;
  baseURL: string;
  models: string[];
  policy: RemotePolicy;
  hasApiKey: boolean;
  breaker: 'closed' | 'open' | 'half-open';
}

export class Remotes {
  private readonly backends = new Map<string, RemoteBackend>();

  constructor(configs: readonly RemoteConfig[] = [], private readonly options: RemoteBackendOptions = {}) {
    for (const c of configs) this.set(c);
  }

  /** Adds or replaces a remote (a replaced one starts with a fresh breaker). */
  set(config: RemoteConfig): void {
    this.backends.set(config.name, new RemoteBackend(normalise(config), this.options));
  }

  remove(name: string): boolean {
    return this.backends.delete(name);
  }

  get size(): number {
    return this.backends.size;
  }

  all(): RemoteBackend[] {
    return [...this.backends.values()];
  }

  get(name: string): RemoteBackend | undefined {
    return this.backends.get(name);
  }

  summaries(): RemoteSummary[] {
    return this.all().map(({ config, breaker }) => ({
      name: config.name, baseURL: config.baseURL, models: config.models ?? ['*'], policy: config.policy ?? 'local-first',
      hasApiKey: Boolean(config.apiKey), breaker: breaker.state,
    }));
  }

  /** The first remote (in the order added) whose patterns match one of the model's names and may serve it. */
  forModel(names: readonly string[]): RemoteBackend | undefined {
    return this.all().find((b) => b.config.policy !== 'local' && names.some((n) => matchesModel(b.config.models ?? ['*'], n)));
  }
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function normalise(config: RemoteConfig): RemoteConfig {
  if (!NAME.test(config.name ?? '')) {
    throw invalidRequest(`Remote name "${config.name}" must be 1–64 letters, digits, ".", "_" or "-"`, 'name', 'invalid_remote');
  }
  let url: URL;
  try {
    url = new URL(config.baseURL);
  } catch {
    throw invalidRequest(`Remote "${config.name}": "${config.baseURL}" is not a URL`, 'baseURL', 'invalid_remote');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw invalidRequest(`Remote "${config.name}": the base URL must be http(s)`, 'baseURL', 'invalid_remote');
  }
  const policy = config.policy ?? 'local-first';
  if (!['local', 'local-first', 'remote'].includes(policy)) {
    throw invalidRequest(`Remote "${config.name}": policy must be local, local-first or remote`, 'policy', 'invalid_remote');
  }
  const models = config.models?.length ? config.models : ['*'];
  return { ...config, baseURL: url.href.replace(/\/+$/, ''), models, policy };
}

/**
 * A remote backend as the user configures it: an OpenAI/Fireworks-compatible endpoint (Fireworks, vLLM, TGI,
 * Ollama, llama.cpp, another `hearth serve`) that serves the models its patterns match, under a policy.
 */

/**
 * - `local`: never use the remote (it is listed, nothing more);
 * - `local-first`: the remote serves what this runtime cannot: no local engine (`devices: []`), a model it does not
 *   have or has not downloaded, an engine that fails to start;
 * - `remote`: always the remote.
 */
export type RemotePolicy = 'local' | 'local-first' | 'remote';

export interface RemoteConfig {
  /** A short name: answers carry `x-hearth-backend: remote/<name>` and errors name it. */
  name: string;
  /** The API's base URL, e.g. `https://api.fireworks.ai/inference/v1` or `http://localhost:11434/v1`. */
  baseURL: string;
  /** Sent as `Authorization: Bearer <apiKey>` to this remote only; never logged, never shown. */
  apiKey?: string;
  /** Model names it serves; `*` matches any run of characters (`accounts/fireworks/models/*`). Default: every model. */
  models?: string[];
  /** Default `local-first`. */
  policy?: RemotePolicy;
}

/**
 * CORS for `hearth serve --cors <origin>`: pages on the allowed origins may call the API from the browser (a
 * preflight is answered here, before the API), and read the headers Hearth answers with. Other origins get no CORS
 * headers, so their browsers keep the answer from them; a preflight from one is refused with 403.
 */
export interface CorsPolicy {
  /** Allowed origins (`https://app.example`), or '*' for any. */
  origins: readonly string[];
}

/** Answer headers a page may read (beyond the CORS-safelisted ones). */
const EXPOSED = ['x-request-id', 'x-hearth-backend', 'x-hearth-seed', 'finish-reason', 'seed', 'retry-after', 'allow'];
const ALLOWED_HEADERS = ['authorization', 'content-type', 'accept', 'huggingface-access-key', 'x-request-id'];

export function allowedOrigin(policy: CorsPolicy, origin: string | undefined): string | null {
  if (!origin || !policy.origins.length) return null;
  if (policy.origins.includes('*')) return '*';
  return policy.origins.includes(origin) ? origin : null;
}

/** Headers added to every answer for an allowed origin. */
export function corsHeaders(policy: CorsPolicy, origin: string | undefined): Record<string, string> {
  const allowed = allowedOrigin(policy, origin);
  if (!allowed) return policy.origins.length ? { vary: 'Origin' } : {};
  return { 'access-control-allow-origin': allowed, 'access-control-expose-headers': EXPOSED.join(', '), vary: 'Origin' };
}

/** The answer to a preflight (`OPTIONS` with `Access-Control-Request-Method`), or null when it is not one. */
export function preflight(policy: CorsPolicy, method: string | undefined, headers: Record<string, string | string[] | undefined>):
  { status: number; headers: Record<string, string> } | null {
  if (method !== 'OPTIONS' || !headers['access-control-request-method']) return null;
  const origin = typeof headers.origin === 'string' ? headers.origin : undefined;
  const allowed = allowedOrigin(policy, origin);
  if (!allowed) return { status: 403, headers: { vary: 'Origin' } };
  const requested = String(headers['access-control-request-headers'] ?? '').toLowerCase().split(',').map((h) => h.trim()).filter(Boolean);
  return {
    status: 204,
    headers: {
      'access-control-allow-origin': allowed,
      'access-control-allow-methods': 'GET, POST, OPTIONS',
      'access-control-allow-headers': [...new Set([...ALLOWED_HEADERS, ...requested])].join(', '),
      'access-control-max-age': '600',
      // Chrome's Private Network Access: a public page may reach this server on the user's machine or network.
      ...(headers['access-control-request-private-network'] === 'true' && { 'access-control-allow-private-network': 'true' }),
      vary: 'Origin',
    },
  };
}

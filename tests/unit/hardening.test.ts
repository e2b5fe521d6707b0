// Hardening checks that need no browser: the service worker's door check (refuseForeign), JSON bodies only as
// application/json, and the cheap limits that answer before any engine work.
import { describe, expect, it } from 'vitest';
import { refuseForeign } from '../../src/runtime/sw-guard';
import { nodeApi, post } from './node-api';

const ORIGIN = 'https://hearth.example';
/** A Request as a service worker sees it (Node's Request refuses mode 'navigate'). */
const seen = (mode: RequestMode, headers: Record<string, string> = {}) => ({ mode, headers: new Headers(headers) }) as Request;

describe('refuseForeign', () => {
  it('refuses navigations, other origins and cross-site fetch metadata with 403', () => {
    for (const request of [
      seen('navigate'),
      seen('navigate', { origin: ORIGIN }),
      seen('cors', { origin: 'https://evil.example' }),
      seen('no-cors', { origin: 'null' }),
      seen('cors', { 'sec-fetch-site': 'cross-site' }),
      seen('cors', { 'sec-fetch-site': 'same-site' }),
    ]) {
      const refusal = refuseForeign(request, ORIGIN);
      expect(refusal?.status).toBe(403);
      expect(refusal?.toJSON().error).toMatchObject({ type: 'permission_denied', param: null });
    }
  });

  it('lets this site\'s own fetches through', () => {
    expect(refuseForeign(seen('cors'), ORIGIN)).toBeNull();
    expect(refuseForeign(seen('cors', { origin: ORIGIN, 'sec-fetch-site': 'same-origin' }), ORIGIN)).toBeNull();
    expect(refuseForeign(seen('same-origin'), ORIGIN)).toBeNull();
  });
});

describe('JSON bodies need application/json', () => {
  const { handle } = nodeApi();
  const body = { model: 'hearth/tiny-embed', input: 'x' };

  it('refuses text/plain (what another site\'s form sends) and a missing type', async () => {
    for (const headers of [{ 'content-type': 'text/plain' }, { 'content-type': 'text/plain;charset=UTF-8' }, { 'content-type': '' }, { 'content-type': 'application/jsonp' }]) {
      const res = await handle(post('/embeddings', body, headers));
      expect(res.status, JSON.stringify(headers)).toBe(400);
      expect((await res.json()).error).toMatchObject({ type: 'invalid_request_error', code: 'unsupported_content_type' });
    }
  });

  it('accepts application/json with parameters and +json types', async () => {
    for (const type of ['application/json', 'application/json; charset=utf-8', 'application/vnd.api+json']) {
      const res = await handle(post('/embeddings', body, { 'content-type': type }));
      expect(res.status, type).toBe(200);
    }
  });
});

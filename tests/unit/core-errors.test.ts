// The coded-error catalogue (src/core): every code thrown in src/ and workers/ is listed with the type it is thrown
// with (so the catalogue is the one place a code's type and HTTP status are read), the statuses are the ones the API
// answered with before the catalogue existed, and the wire shape is the spec's ErrorResponse.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { errorResponse } from '../../src/api/errors';
import { ERROR_CODES, errorCodeEntry, STATUS_OF_TYPE } from '../../src/core/error-codes';
import { HearthError, hearthError, internal, invalidRequest, toHearthError, unavailable } from '../../src/core/errors';

/** The helper each code is thrown through, read from the source (argument index of the code, the type it gives). */
const HELPERS: Record<string, [number, string]> = {
  invalidRequest: [2, 'invalid_request_error'], notFound: [2, 'not_found_error'], forbidden: [1, 'permission_denied'],
  unavailable: [1, 'service_unavailable'], internal: [1, 'internal_server_error'], hearthError: [0, ''],
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Every string-literal code thrown in src/ and workers/, with the type it is thrown with and where. */
function thrownCodes(): { code: string; type: string; where: string }[] {
  const found: { code: string; type: string; where: string }[] = [];
  for (const file of [...sourceFiles('src'), ...sourceFiles('workers')]) {
    const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const where = (n: ts.Node) => `${file}:${sf.getLineAndCharacterOfPosition(n.getStart()).line + 1}`;
    const literals = (e: ts.Expression | undefined): string[] =>
      !e ? [] : ts.isStringLiteral(e) ? [e.text] : ts.isConditionalExpression(e) ? [...literals(e.whenTrue), ...literals(e.whenFalse)] : [];
    const visit = (n: ts.Node): void => {
      if (ts.isCallExpression(n) && ts.isIdentifier(n.expression) && n.expression.text in HELPERS) {
        const [at, type] = HELPERS[n.expression.text];
        for (const code of literals(n.arguments[at])) found.push({ code, type: type || ERROR_CODES[code as keyof typeof ERROR_CODES]?.type, where: where(n) });
      }
      if (ts.isObjectLiteralExpression(n)) {
        const prop = (k: string) => n.properties.find((p): p is ts.PropertyAssignment => ts.isPropertyAssignment(p) && p.name.getText() === k);
        const code = prop('code'), type = prop('type');
        if (code && type && ts.isStringLiteral(type.initializer) && type.initializer.text in STATUS_OF_TYPE) {
          for (const c of literals(code.initializer)) found.push({ code: c, type: (type.initializer as ts.StringLiteral).text, where: where(n) });
        }
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  return found;
}

describe('the error catalogue', () => {
  const codes = thrownCodes();

  it('lists every code thrown in src/ and workers/, with the type it is thrown with', () => {
    expect(codes.length).toBeGreaterThan(100);
    const unlisted = codes.filter((c) => !errorCodeEntry(c.code)).map((c) => `${c.code} (${c.where}): add it to src/core/error-codes.ts`);
    expect(unlisted).toEqual([]);
    const mistyped = codes.filter((c) => errorCodeEntry(c.code)!.type !== c.type).map((c) => `${c.code} thrown as ${c.type} at ${c.where}`);
    expect(mistyped).toEqual([]);
  });

  it('answers with the statuses the API always used', () => {
    expect(STATUS_OF_TYPE).toEqual({
      invalid_request_error: 400, authentication_error: 401, permission_denied: 403, not_found_error: 404,
      method_not_allowed: 405, request_too_large: 413, internal_server_error: 500, not_implemented: 501,
      service_unavailable: 503, insufficient_storage: 507,
    });
    expect(hearthError('cancelled', 'cancelled').status).toBe(499);
    expect(hearthError('model_too_large', 'too big').status).toBe(503);
    expect(hearthError('lora_download_failed', 'offline', { param: 'lora_adapter_name' })).toMatchObject({ status: 503, type: 'service_unavailable', param: 'lora_adapter_name' });
    expect(invalidRequest('bad', 'n')).toMatchObject({ status: 400, type: 'invalid_request_error', param: 'n', code: 'invalid_value' });
    expect(internal('boom').status).toBe(500);
    expect(unavailable('later', 'no_host').status).toBe(503);
    // A status that arrived with the error (a remote's 429, a clone from a worker) is kept.
    expect(HearthError.fromBody(429, { error: { type: 'service_unavailable', message: 'slow down', param: null, code: 'rate_limited' } }).status).toBe(429);
  });

  it('fills catalogue message templates and keeps the spec wire shape', async () => {
    expect(hearthError('model_not_found', undefined, { param: 'model', details: { model: 'x/y' } }).message).toBe('The model x/y does not exist');
    expect(hearthError('invalid_value', undefined, { param: 'top_p' }).message).toBe('Invalid value for top_p');
    const res = errorResponse(invalidRequest('Bad top_p', 'top_p'));
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.text()).toBe('{"error":{"type":"invalid_request_error","message":"Bad top_p","param":"top_p","code":"invalid_value"}}');
    const plain = toHearthError(new Error('kaput'));
    expect([plain.status, plain.code, plain.message]).toEqual([500, 'engine_error', 'kaput']);
    expect(toHearthError({ status: 503, error: { type: 'service_unavailable', message: 'm', param: null, code: 'no_host' } })).toBeInstanceOf(HearthError);
  });
});

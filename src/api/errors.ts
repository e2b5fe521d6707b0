/**
 * Where coded errors become HTTP: every failure the API reports is an `ErrorResponse`
 * (`{"error": {"type", "message", "param", "code"}}`) with the status the code's catalogue entry gives
 * (src/core/error-codes.ts). Everything else throws the coded errors of src/core/errors.ts, re-exported here for
 * the API's own modules; `errorResponse` turns any thrown value into a Response.
 */
import { toHearthError } from '../core/errors';

export {
  HearthError, hearthError, invalidRequest, notFound, forbidden, unavailable, insufficientStorage, internal, toHearthError,
  type ErrorBody, type ErrorType, type ErrorCode, type HearthErrorInit,
} from '../core/errors';

export function errorResponse(thrown: unknown, extraHeaders: Record<string, string> = {}): Response {
  const err = toHearthError(thrown);
  return new Response(JSON.stringify(err.toJSON()), {
    status: err.status,
    headers: { 'content-type': 'application/json', ...extraHeaders },
  });
}

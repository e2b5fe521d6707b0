/**
 * Routes whose engine has not landed yet answer 501 with an ErrorResponse that says so, never a fake result.
 */
import { HearthError } from '../errors';
import type { Handler } from '../types';

export const notImplemented = (what: string): Handler => async () => {
  throw new HearthError({
    status: 501,
    type: 'not_implemented',
    code: 'not_implemented',
    param: null,
    message: `${what} is not available in this version of Hearth yet`,
  });
};

/**
 * Who a request is (architecture §4): the presented session token, validated. The one entry point the
 * tRPC procedures use; a missing token is simply no session.
 */
import type { Services } from '../services.js';
import type { ValidatedSession } from './types.js';

export function authenticate(
  services: Pick<Services, 'sessions'>,
  token: string | null | undefined,
): Promise<ValidatedSession | null> {
  return token ? services.sessions.validate(token) : Promise.resolve(null);
}

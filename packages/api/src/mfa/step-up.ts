/**
 * Step-up (issue 15): sensitive actions need an authentication on this session within the last
 * ten minutes. A sign-in sets `sessions.authenticated_at`; `auth.reauthenticate` (password, TOTP
 * or passkey) refreshes it.
 *
 * THE helper every sensitive procedure calls, in its router, before the action:
 *
 *     await requireRecentAuthentication(ctx.services, ctx.auth);
 *
 * It throws FORBIDDEN `reauthentication_required`. The CLI calls services directly and never
 * comes through here (the operator at a terminal could write the rows anyway).
 *
 * An API key (#16) passes: it is a standing, scoped grant its owner made deliberately — creating or
 * rotating one needs a recent authentication itself (routers/api-key.ts), and the procedures a key
 * reaches are only those its scopes name — not a browser session that may have been left open.
 */
import type { Clock } from '../clock.js';
import { DomainError } from '../errors.js';
import type { SessionInfo } from '../sessions/types.js';

const REAUTHENTICATION_WINDOW_MS = 10 * 60_000;

const reauthenticationRequired = () =>
  new DomainError('FORBIDDEN', 'reauthentication_required', 'Confirm it is you: sign in again to do this');

/** True when the session authenticated within REAUTHENTICATION_WINDOW_MS of now. */
function isRecentlyAuthenticated(clock: Clock, session: Pick<SessionInfo, 'authenticatedAt'>): boolean {
  const at = session.authenticatedAt;
  if (!at) return false;
  const age = clock.now().getTime() - at.getTime();
  return age >= -60_000 && age <= REAUTHENTICATION_WINDOW_MS;
}

/** Refuses with FORBIDDEN `reauthentication_required` unless the session authenticated recently. */
export async function requireRecentAuthentication(
  deps: { clock: Clock },
  auth: { session: Pick<SessionInfo, 'authenticatedAt'>; apiKey?: object | null },
): Promise<void> {
  if (auth.apiKey) return;
  if (!isRecentlyAuthenticated(deps.clock, auth.session)) throw reauthenticationRequired();
}

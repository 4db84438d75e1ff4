/**
 * Who a request is (architecture §4; #16 for API keys): the presented token, validated. The one
 * entry point the tRPC procedures use; a missing token is simply no one.
 *
 * A bearer token shaped `gh_…` is an API key (api-keys/): its owner acts, limited to the key's
 * scopes (`requireScope`, checked by `protectedProcedure` for the procedure called). Anything
 * else is a session token. A cookie never carries an API key.
 */
import { looksLikeApiKey } from '../api-keys/token.js';
import type { ApiKeyInfo } from '../api-keys/types.js';
import type { Services } from '../services.js';
import type { SessionInfo, ValidatedSession } from './types.js';

/** A validated caller: a session, or an API key (then `apiKey` is set and `session` describes the key). */
export interface Authenticated extends ValidatedSession {
  /** The API key the call came with; null for a session. */
  apiKey: ApiKeyInfo | null;
}

/**
 * The key seen through the session shape the procedures read (`ctx.auth.session.id` marks "the
 * current session" in lists): its id is the key's, which no session id ever equals, so nothing is
 * "current" for a key. Only procedures listed in api-keys/scopes.ts are reachable with a key.
 */
function keyAsSession(key: ApiKeyInfo): SessionInfo {
  return {
    id: key.id,
    userId: key.userId,
    createdAt: key.createdAt,
    expiresAt: key.expiresAt ?? new Date(8_640_000_000_000_000),
    lastSeenAt: key.lastUsedAt ?? key.createdAt,
    rememberMe: false,
    ip: null,
    userAgent: null,
    // A key never counts as a recent authentication: step-up actions need a person's session.
    authenticatedAt: null,
  };
}

export async function authenticate(
  services: Pick<Services, 'sessions' | 'apiKeys'>,
  token: string | null | undefined,
  tokenSource: 'cookie' | 'bearer' | null = 'bearer',
): Promise<Authenticated | null> {
  if (!token) return null;
  if (looksLikeApiKey(token)) {
    if (tokenSource !== 'bearer') return null;
    const validated = await services.apiKeys.validate(token);
    if (!validated) return null;
    return { session: keyAsSession(validated.key), user: validated.user, renewed: false, apiKey: validated.key };
  }
  const session = await services.sessions.validate(token);
  return session ? { ...session, apiKey: null } : null;
}

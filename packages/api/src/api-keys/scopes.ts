/**
 * What an API key may call (issue 16). A key carries scopes; every procedure reachable with a key
 * is listed here with the one scope it needs, and everything else (signing out, changing a
 * password, managing API keys themselves, new procedures nobody listed) is refused to keys: a
 * session-only procedure is the safe default. `routers/api-key-access.test.ts` walks the router
 * and checks every procedure against every scope.
 *
 * A key never grants more than its owner may: the admin-only scopes can only be given by (and to
 * keys of) administrators, and the owner's role is re-read on every call by the admin check
 * itself, so a demoted owner's key loses the admin procedures at once.
 */
import type { Role } from '@gatehouse/db';
import { DomainError } from '../errors.js';
import { API_KEY_SCOPES, type ApiKeyScope } from './scope-list.js';

export { API_KEY_SCOPES, type ApiKeyScope };

/** Scopes only an administrator's (or an admin service account's) key may carry. */
const ADMIN_SCOPES: ReadonlySet<ApiKeyScope> = new Set(['users:read', 'users:write', 'audit:read']);

/** The scopes an owner with `role` may put on a key. */
export function scopesAllowedFor(role: Role): ApiKeyScope[] {
  return API_KEY_SCOPES.filter((scope) => role === 'admin' || !ADMIN_SCOPES.has(scope));
}

/** The procedures a key may call, with the one scope each needs. Not listed = sessions only. */
export const PROCEDURE_SCOPES: Readonly<Record<string, ApiKeyScope>> = {
  'auth.token': 'auth:check',
  'user.list': 'users:read',
  'user.byId': 'users:read',
  'user.byIdentifier': 'users:read',
  'user.create': 'users:write',
  'user.update': 'users:write',
  'user.setPassword': 'users:write',
  'user.delete': 'users:write',
  'serviceAccount.create': 'users:write',
  'user.byExternalId': 'users:read',
  'user.invitations': 'users:read',
  'user.invite': 'users:write',
  'user.resendInvitation': 'users:write',
  'user.revokeInvitation': 'users:write',
  'mail.status': 'users:read',
  'session.list': 'sessions:read',
  'session.revoke': 'sessions:write',
  'session.listForUser': 'sessions:read',
  'session.revokeAllForUser': 'sessions:write',
  'session.stats': 'sessions:read',
  'audit.list': 'audit:read',
  'audit.verify': 'audit:read',
  'audit.checkpoint': 'audit:read',
  'audit.inclusionProof': 'audit:read',
  'audit.consistencyProof': 'audit:read',
  // #19 charts
  'audit.activity': 'audit:read',
};

/** Refuses (FORBIDDEN `scope_required`) unless a key with `scopes` may call `path`. */
export function requireScope(scopes: readonly string[], path: string): void {
  const needed = PROCEDURE_SCOPES[path];
  if (needed === undefined) {
    throw new DomainError('FORBIDDEN', 'scope_required', 'This procedure needs a signed-in session, not an API key');
  }
  if (!scopes.includes(needed)) {
    throw new DomainError('FORBIDDEN', 'scope_required', `This API key lacks the ${needed} scope`, {
      scope: needed,
    });
  }
}

/** Scopes stored as one space-separated column (the OAuth `scope` spelling). */
export function encodeScopes(scopes: readonly ApiKeyScope[]): string {
  return [...new Set(scopes)].sort().join(' ');
}

export function decodeScopes(text: string): ApiKeyScope[] {
  const known = new Set<string>(API_KEY_SCOPES);
  return text.split(' ').filter((s): s is ApiKeyScope => known.has(s));
}

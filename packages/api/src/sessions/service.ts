/**
 * Session management (design §7 `session.*`): listing and revoking one's own sessions, and an
 * administrator's view of anyone's. Each revocation and its audit event commit together; the
 * cache is invalidated on every instance after the commit.
 */
import { withTransaction } from '@gatehouse/db';
import type { RequestMeta } from '../auth/types.js';
import { notFound } from '../errors.js';
import type { Services } from '../services.js';
import { toSession, type Session } from '../users/mapping.js';
import type { ValidatedSession } from './types.js';

export type SessionDeps = Pick<Services, 'db' | 'sessions' | 'audit'>;

export async function listOwnSessions(deps: SessionDeps, auth: ValidatedSession): Promise<Session[]> {
  const sessions = await deps.sessions.listForUser(auth.user.id);
  return sessions.map((s) => toSession(s, auth.session.id));
}

async function isAdmin(deps: SessionDeps, userId: string): Promise<boolean> {
  const row = await deps.db.kysely
    .selectFrom('users')
    .select(['role', 'is_active'])
    .where('id', '=', userId)
    .executeTakeFirst();
  return row?.role === 'admin' && row.is_active;
}

/**
 * Revokes one session: the caller's own, or anyone's for an admin (the role is re-read).
 * NOT_FOUND otherwise — including someone else's session, whose existence is not revealed.
 */
export async function revokeSession(
  deps: SessionDeps,
  auth: ValidatedSession,
  sessionId: string,
  meta: RequestMeta,
): Promise<{ ok: true; wasCurrent: boolean }> {
  const target = await deps.sessions.byId(sessionId);
  if (!target) throw notFound('Session', 'session_not_found');
  if (target.userId !== auth.user.id && !(await isAdmin(deps, auth.user.id)))
    throw notFound('Session', 'session_not_found');
  await withTransaction(deps.db, async (trx) => {
    const deleted = await deps.sessions.revoke(trx, sessionId);
    if (!deleted) throw notFound('Session', 'session_not_found');
    await deps.audit.append(trx, {
      type: 'session.revoked',
      actorId: auth.user.id,
      targetId: deleted.userId,
      ...meta,
      data: { sessionId: deleted.id, current: deleted.id === auth.session.id },
    });
  });
  await deps.sessions.invalidate({ sessionIds: [sessionId] });
  return { ok: true, wasCurrent: sessionId === auth.session.id };
}

/** Every session of the caller but the current one. */
export async function revokeOtherSessions(
  deps: SessionDeps,
  auth: ValidatedSession,
  meta: RequestMeta,
): Promise<{ revoked: number }> {
  const revoked = await withTransaction(deps.db, async (trx) => {
    const count = await deps.sessions.revokeAllForUser(trx, auth.user.id, { exceptSessionId: auth.session.id });
    await deps.audit.append(trx, {
      type: 'session.revoked_all',
      actorId: auth.user.id,
      targetId: auth.user.id,
      ...meta,
      data: { revoked: count, exceptCurrent: true },
    });
    return count;
  });
  await deps.sessions.invalidate({ userId: auth.user.id });
  return { revoked };
}

async function assertUserExists(deps: SessionDeps, userId: string): Promise<void> {
  const row = await deps.db.kysely.selectFrom('users').select('id').where('id', '=', userId).executeTakeFirst();
  if (!row) throw notFound('User', 'user_not_found');
}

/** An admin's view of a user's live sessions; NOT_FOUND for an unknown user. */
export async function listSessionsForUser(
  deps: SessionDeps,
  auth: ValidatedSession,
  userId: string,
): Promise<Session[]> {
  await assertUserExists(deps, userId);
  const sessions = await deps.sessions.listForUser(userId);
  return sessions.map((s) => toSession(s, auth.session.id));
}

/** An admin signs a user out everywhere; NOT_FOUND for an unknown user. */
export async function revokeAllSessionsForUser(
  deps: SessionDeps,
  auth: ValidatedSession,
  userId: string,
  meta: RequestMeta,
): Promise<{ revoked: number }> {
  await assertUserExists(deps, userId);
  const revoked = await withTransaction(deps.db, async (trx) => {
    const count = await deps.sessions.revokeAllForUser(trx, userId);
    await deps.audit.append(trx, {
      type: 'session.revoked_all',
      actorId: auth.user.id,
      targetId: userId,
      ...meta,
      data: { revoked: count, exceptCurrent: false },
    });
    return count;
  });
  await deps.sessions.invalidate({ userId });
  return { revoked };
}

export async function sessionStats(deps: SessionDeps): Promise<{ active: number; cached: number }> {
  return { active: await deps.sessions.countActive(), cached: deps.sessions.cachedCount };
}

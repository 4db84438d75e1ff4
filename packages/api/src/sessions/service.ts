/**
 * Session management (architecture §7 `session.*`): listing and revoking one's own sessions, and an
 * administrator's view of anyone's. Plain functions `(deps, actor, input)`. Each revocation and
 * its audit event commit together (`transact`), which drops the revoked sessions from every
 * instance's cache after the commit.
 */
import type { Actor } from '../actor.js';
import { notFound } from '../errors.js';
import type { Services } from '../services.js';
import { transact } from '../unit-of-work.js';
import { isAdmin, requireAdmin, requireUser } from '../users/authorize.js';
import { toSession, type Session } from '../users/mapping.js';
import { findById } from '../users/repository.js';

export type SessionDeps = Pick<Services, 'db' | 'sessions' | 'audit' | 'invalidator'>;

/** The caller's session, to mark it `current` in lists and keep it where a call says so. */
export interface CurrentSession {
  currentSessionId: string;
}

const sessionNotFound = () => notFound('Session', 'session_not_found');

export async function listOwnSessions(deps: SessionDeps, actor: Actor, input: CurrentSession): Promise<Session[]> {
  const sessions = await deps.sessions.listForUser(requireUser(actor));
  return sessions.map((s) => toSession(s, input.currentSessionId));
}

/**
 * Revokes one session: the caller's own, or anyone's for an admin (the role is re-read, and
 * re-checked in the write transaction). NOT_FOUND otherwise — including someone else's session,
 * whose existence is not revealed.
 */
export async function revokeSession(
  deps: SessionDeps,
  actor: Actor,
  input: CurrentSession & { sessionId: string },
): Promise<{ ok: true; wasCurrent: boolean }> {
  const userId = requireUser(actor);
  const target = await deps.sessions.byId(input.sessionId);
  if (!target) throw sessionNotFound();
  const someoneElses = target.userId !== userId;
  if (someoneElses && !(await isAdmin(deps, actor))) throw sessionNotFound();
  await transact(deps, async (work) => {
    if (someoneElses && !(await isAdmin(deps, actor, work.trx))) throw sessionNotFound();
    const deleted = await deps.sessions.revoke(work.trx, input.sessionId);
    if (!deleted) throw sessionNotFound();
    await deps.audit.append(work.trx, {
      type: 'session.revoked',
      actorId: userId,
      targetId: deleted.userId,
      ip: actor.ip,
      userAgent: actor.userAgent,
      data: { sessionId: deleted.id, current: deleted.id === input.currentSessionId },
    });
    work.invalidate({ sessionIds: [input.sessionId] });
  });
  return { ok: true, wasCurrent: input.sessionId === input.currentSessionId };
}

/** Every session of the caller but the current one. */
export async function revokeOtherSessions(
  deps: SessionDeps,
  actor: Actor,
  input: CurrentSession,
): Promise<{ revoked: number }> {
  const userId = requireUser(actor);
  const revoked = await transact(deps, async (work) => {
    const count = await deps.sessions.revokeAllForUser(work.trx, userId, { exceptSessionId: input.currentSessionId });
    await deps.audit.append(work.trx, {
      type: 'session.revoked_all',
      actorId: userId,
      targetId: userId,
      ip: actor.ip,
      userAgent: actor.userAgent,
      data: { revoked: count, exceptCurrent: true },
    });
    work.invalidate({ userIds: [userId] });
    return count;
  });
  return { revoked };
}

async function assertUserExists(deps: SessionDeps, userId: string): Promise<void> {
  if (!(await findById(deps.db.kysely, userId))) throw notFound('User', 'user_not_found');
}

/** An admin's view of a user's live sessions; NOT_FOUND for an unknown user. */
export async function listSessionsForUser(
  deps: SessionDeps,
  actor: Actor,
  input: CurrentSession & { userId: string },
): Promise<Session[]> {
  await requireAdmin(deps, actor);
  await assertUserExists(deps, input.userId);
  const sessions = await deps.sessions.listForUser(input.userId);
  return sessions.map((s) => toSession(s, input.currentSessionId));
}

/** An admin signs a user out everywhere (re-checked in the write transaction); NOT_FOUND for an unknown user. */
export async function revokeAllSessionsForUser(
  deps: SessionDeps,
  actor: Actor,
  input: { userId: string },
): Promise<{ revoked: number }> {
  await requireAdmin(deps, actor);
  await assertUserExists(deps, input.userId);
  const revoked = await transact(deps, async (work) => {
    await requireAdmin(deps, actor, work.trx);
    const count = await deps.sessions.revokeAllForUser(work.trx, input.userId);
    await deps.audit.append(work.trx, {
      type: 'session.revoked_all',
      actorId: actor.userId,
      targetId: input.userId,
      ip: actor.ip,
      userAgent: actor.userAgent,
      data: { revoked: count, exceptCurrent: false },
    });
    work.invalidate({ userIds: [input.userId] });
    return count;
  });
  return { revoked };
}

export async function sessionStats(deps: SessionDeps): Promise<{ active: number; cached: number }> {
  return { active: await deps.sessions.countActive(), cached: deps.sessions.cachedCount };
}

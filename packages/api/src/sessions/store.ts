/**
 * The `sessions` table (architecture §4): one small function per statement, no policy and no cache.
 * Every function takes the executor it runs on (the pool, or the caller's transaction).
 */
import type { Database, Db, Kysely, SessionRow, Transaction } from '@gatehouse/db';
import * as users from '../users/repository.js';

type Executor = Kysely<Database>;

export async function insertSession(executor: Executor, row: SessionRow): Promise<void> {
  await executor.insertInto('sessions').values(row).execute();
}

export async function selectSession(executor: Executor, id: string): Promise<SessionRow | null> {
  return (await executor.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
}

/** Queues concurrent session writers of one user behind each other (PostgreSQL row lock). */
export async function lockSessionOwner(db: Pick<Db, 'dialect'>, trx: Transaction<Database>, userId: string) {
  // The owner's row is the users module's: lock it through its repository.
  await users.lockById(db, trx, userId);
}

/** A user's session ids, newest first (ties broken by id, so the order is total). */
export async function sessionIdsOfUser(executor: Executor, userId: string): Promise<string[]> {
  const rows = await executor
    .selectFrom('sessions')
    .select('id')
    .where('user_id', '=', userId)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .execute();
  return rows.map((r) => r.id);
}

/** Writes the slid expiry and/or `last_seen_at`; false when the row no longer exists. */
export async function touchSession(
  executor: Executor,
  id: string,
  update: { lastSeenAt: Date; expiresAt?: Date | null },
): Promise<boolean> {
  const result = await executor
    .updateTable('sessions')
    .set({ last_seen_at: update.lastSeenAt, ...(update.expiresAt ? { expires_at: update.expiresAt } : {}) })
    .where('id', '=', id)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function deleteSession(executor: Executor, id: string): Promise<SessionRow | null> {
  return (await executor.deleteFrom('sessions').where('id', '=', id).returningAll().executeTakeFirst()) ?? null;
}

export async function deleteSessions(executor: Executor, ids: readonly string[]): Promise<void> {
  if (ids.length > 0)
    await executor
      .deleteFrom('sessions')
      .where('id', 'in', [...ids])
      .execute();
}

/** Deletes every session of a user (optionally keeping one); the deleted ids. */
export async function deleteSessionsOfUser(executor: Executor, userId: string, exceptId?: string): Promise<string[]> {
  let query = executor.deleteFrom('sessions').where('user_id', '=', userId);
  if (exceptId !== undefined) query = query.where('id', '!=', exceptId);
  return (await query.returning('id').execute()).map((r) => r.id);
}

interface LiveWindow {
  expiresAfter: Date;
  createdAfter: Date;
}

/** A user's live sessions, newest first. */
export async function liveSessionsOfUser(executor: Executor, userId: string, live: LiveWindow): Promise<SessionRow[]> {
  return executor
    .selectFrom('sessions')
    .selectAll()
    .where('user_id', '=', userId)
    .where('expires_at', '>', live.expiresAfter)
    .where('created_at', '>', live.createdAfter)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .execute();
}

export async function countLiveSessions(executor: Executor, live: LiveWindow): Promise<number> {
  const row = await executor
    .selectFrom('sessions')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('expires_at', '>', live.expiresAfter)
    .where('created_at', '>', live.createdAfter)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Deletes every session outside the live window; the deleted ids. */
export async function deleteDeadSessions(executor: Executor, live: LiveWindow): Promise<string[]> {
  const rows = await executor
    .deleteFrom('sessions')
    .where((eb) => eb.or([eb('expires_at', '<=', live.expiresAfter), eb('created_at', '<=', live.createdAfter)]))
    .returning('id')
    .execute();
  return rows.map((r) => r.id);
}

/** Records a fresh authentication on the session (issue 15 step-up: `auth.reauthenticate`); false when gone. */
export async function markAuthenticated(executor: Executor, id: string, at: Date): Promise<boolean> {
  const result = await executor
    .updateTable('sessions')
    .set({ authenticated_at: at })
    .where('id', '=', id)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

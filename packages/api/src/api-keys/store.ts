/** The `api_keys` table: one small function per statement, no policy, no cache. */
import type { ApiKeyRow, Database, Kysely, Transaction } from '@gatehouse/db';

type Executor = Kysely<Database>;

export async function insertKey(trx: Transaction<Database>, row: ApiKeyRow): Promise<void> {
  await trx.insertInto('api_keys').values(row).execute();
}

export function selectKey(executor: Executor, id: string): Promise<ApiKeyRow | undefined> {
  return executor.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
}

/** A user's keys that have not expired at `now`, newest first. */
export function liveKeysOfUser(executor: Executor, userId: string, now: Date): Promise<ApiKeyRow[]> {
  return executor
    .selectFrom('api_keys')
    .selectAll()
    .where('user_id', '=', userId)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .execute();
}

export async function deleteKey(trx: Transaction<Database>, id: string): Promise<ApiKeyRow | undefined> {
  return trx.deleteFrom('api_keys').where('id', '=', id).returningAll().executeTakeFirst();
}

export async function setKeyExpiry(trx: Transaction<Database>, id: string, expiresAt: Date): Promise<void> {
  await trx.updateTable('api_keys').set({ expires_at: expiresAt }).where('id', '=', id).execute();
}

/** Records a use; false when the key is gone (deleted behind the cache's back). */
export async function touchKey(executor: Executor, id: string, at: Date): Promise<boolean> {
  const result = await executor
    .updateTable('api_keys')
    .set({ last_used_at: at })
    .where('id', '=', id)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/**
 * The MFA tables of migration 007: one small function per statement, no policy. Every function
 * takes the executor it runs on (the pool, or the caller's transaction).
 */
import { randomUUID } from 'node:crypto';
import type { Database, Kysely, MfaChallengePurpose, Selectable, Transaction } from '@gatehouse/db';
import type { MfaChallengesTable, PasskeysTable, TotpFactorsTable } from '@gatehouse/db';

type Executor = Kysely<Database>;
export type TotpRow = Selectable<TotpFactorsTable>;
export type PasskeyRow = Selectable<PasskeysTable>;
export type ChallengeRow = Selectable<MfaChallengesTable>;

// ---- TOTP ---------------------------------------------------------------------------------------

export async function totpOf(executor: Executor, userId: string): Promise<TotpRow | null> {
  return (
    (await executor.selectFrom('totp_factors').selectAll().where('user_id', '=', userId).executeTakeFirst()) ?? null
  );
}

/** Replaces any pending (unconfirmed) factor; never a confirmed one (the caller checked). */
export async function putPendingTotp(trx: Transaction<Database>, userId: string, secret: string, now: Date) {
  await trx.deleteFrom('totp_factors').where('user_id', '=', userId).where('confirmed_at', 'is', null).execute();
  await trx
    .insertInto('totp_factors')
    .values({ user_id: userId, secret, confirmed_at: null, last_used_step: null, created_at: now })
    .execute();
}

/**
 * Records `step` as used, only if it is later than the last used one (and, with `confirm`, marks
 * the factor confirmed): false when another request used this step or a later one first.
 */
export async function useTotpStep(
  trx: Transaction<Database>,
  userId: string,
  step: number,
  options: { confirmAt?: Date } = {},
): Promise<boolean> {
  const result = await trx
    .updateTable('totp_factors')
    .set({ last_used_step: step, ...(options.confirmAt ? { confirmed_at: options.confirmAt } : {}) })
    .where('user_id', '=', userId)
    .where((eb) => eb.or([eb('last_used_step', 'is', null), eb('last_used_step', '<', step)]))
    .where('confirmed_at', options.confirmAt ? 'is' : 'is not', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function deleteTotp(trx: Transaction<Database>, userId: string): Promise<boolean> {
  const result = await trx.deleteFrom('totp_factors').where('user_id', '=', userId).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

// ---- recovery codes -----------------------------------------------------------------------------

export async function replaceRecoveryCodes(
  trx: Transaction<Database>,
  userId: string,
  hashes: readonly Uint8Array[],
  now: Date,
): Promise<void> {
  await trx.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
  if (hashes.length === 0) return;
  await trx
    .insertInto('recovery_codes')
    .values(hashes.map((h) => ({ id: randomUUID(), user_id: userId, code_hash: h, created_at: now, used_at: null })))
    .execute();
}

/** Marks the unused code with this hash used; false when there is none (wrong or already used). */
export async function useRecoveryCode(
  trx: Transaction<Database>,
  userId: string,
  hash: Uint8Array,
  now: Date,
): Promise<boolean> {
  const result = await trx
    .updateTable('recovery_codes')
    .set({ used_at: now })
    .where('user_id', '=', userId)
    .where('code_hash', '=', hash)
    .where('used_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function unusedRecoveryCodes(executor: Executor, userId: string): Promise<number> {
  const row = await executor
    .selectFrom('recovery_codes')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('user_id', '=', userId)
    .where('used_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

// ---- passkeys -----------------------------------------------------------------------------------

export function passkeysOf(executor: Executor, userId: string): Promise<PasskeyRow[]> {
  return executor
    .selectFrom('passkeys')
    .selectAll()
    .where('user_id', '=', userId)
    .orderBy('created_at', 'asc')
    .orderBy('id', 'asc')
    .execute();
}

export async function passkeyById(executor: Executor, id: string): Promise<PasskeyRow | null> {
  return (await executor.selectFrom('passkeys').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
}

export async function insertPasskey(trx: Transaction<Database>, row: PasskeyRow): Promise<void> {
  await trx.insertInto('passkeys').values(row).execute();
}

export async function recordPasskeyUse(
  trx: Transaction<Database>,
  id: string,
  counter: number,
  backedUp: boolean,
  now: Date,
) {
  await trx
    .updateTable('passkeys')
    .set({ counter, backed_up: backedUp, last_used_at: now })
    .where('id', '=', id)
    .execute();
}

export async function renamePasskey(trx: Transaction<Database>, userId: string, id: string, name: string) {
  const result = await trx
    .updateTable('passkeys')
    .set({ name })
    .where('id', '=', id)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function deletePasskey(trx: Transaction<Database>, userId: string, id: string): Promise<boolean> {
  const result = await trx.deleteFrom('passkeys').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

export async function countPasskeys(executor: Executor, userId: string): Promise<number> {
  const row = await executor
    .selectFrom('passkeys')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('user_id', '=', userId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

// ---- the user's flag ----------------------------------------------------------------------------

/** `users.mfa_enabled`: true while the user has a confirmed TOTP factor or a passkey. */
export async function refreshMfaEnabled(trx: Transaction<Database>, userId: string, now: Date): Promise<boolean> {
  const totp = await trx
    .selectFrom('totp_factors')
    .select('user_id')
    .where('user_id', '=', userId)
    .where('confirmed_at', 'is not', null)
    .executeTakeFirst();
  const enabled = totp !== undefined || (await countPasskeys(trx, userId)) > 0;
  await trx.updateTable('users').set({ mfa_enabled: enabled, updated_at: now }).where('id', '=', userId).execute();
  return enabled;
}

/** Removes every factor of a user (admin reset): TOTP, recovery codes, passkeys, open challenges. */
export async function deleteAllFactors(
  trx: Transaction<Database>,
  userId: string,
): Promise<{ totp: boolean; passkeys: number; recoveryCodes: number }> {
  const totp = await deleteTotp(trx, userId);
  const passkeys = Number(
    (await trx.deleteFrom('passkeys').where('user_id', '=', userId).executeTakeFirst()).numDeletedRows,
  );
  const recoveryCodes = Number(
    (await trx.deleteFrom('recovery_codes').where('user_id', '=', userId).executeTakeFirst()).numDeletedRows,
  );
  await trx.deleteFrom('mfa_challenges').where('user_id', '=', userId).execute();
  return { totp, passkeys, recoveryCodes };
}

// ---- challenges ---------------------------------------------------------------------------------

export async function insertChallenge(trx: Transaction<Database>, row: ChallengeRow): Promise<void> {
  await trx.insertInto('mfa_challenges').values(row).execute();
}

export async function challengeByHash(
  executor: Executor,
  tokenHash: Uint8Array,
  purpose: MfaChallengePurpose,
  now: Date,
): Promise<ChallengeRow | null> {
  return (
    (await executor
      .selectFrom('mfa_challenges')
      .selectAll()
      .where('token_hash', '=', tokenHash)
      .where('purpose', '=', purpose)
      .where('expires_at', '>', now)
      .executeTakeFirst()) ?? null
  );
}

/** Takes the challenge (single use): false when it was already taken. */
export async function consumeChallenge(trx: Transaction<Database>, id: string): Promise<boolean> {
  const result = await trx.deleteFrom('mfa_challenges').where('id', '=', id).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** Counts a failure; the challenge is deleted once it reaches `limit`. The count after it. */
export async function failChallenge(trx: Transaction<Database>, id: string, limit: number): Promise<number> {
  const row = await trx
    .updateTable('mfa_challenges')
    .set((eb) => ({ failures: eb('failures', '+', 1) }))
    .where('id', '=', id)
    .returning('failures')
    .executeTakeFirst();
  const failures = row?.failures ?? limit;
  if (failures >= limit) await consumeChallenge(trx, id);
  return failures;
}

export async function deleteExpiredChallenges(trx: Transaction<Database>, now: Date): Promise<void> {
  await trx.deleteFrom('mfa_challenges').where('expires_at', '<=', now).execute();
}

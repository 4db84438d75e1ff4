/**
 * One-time account tokens (migration 006 `account_tokens`): password reset (30 min), email
 * verification (24 h) and email change (24 h). A token is `<id>.<secret>`, each part 160 random
 * bits (the session token format, sessions/token.ts); only SHA-256 of the secret is stored and it
 * is compared in constant time. A token is bound to its user and purpose, works once, expires,
 * and issuing a new one voids the user's older ones of the same purpose. Every way a token can
 * fail — unknown, malformed, expired, used, voided, another purpose, its user gone or
 * deactivated — is the same BAD_REQUEST `invalid_token`, and nothing changes.
 */
import type { AccountTokenPurpose, AccountTokenRow, Database, Db, Kysely, Transaction } from '@gatehouse/db';
import { forUpdate } from '@gatehouse/db';
import { DomainError } from '../errors.js';
import { generateSessionToken, parseSessionToken, secretMatches } from '../sessions/token.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

export const TOKEN_TTL_MS: Readonly<Record<AccountTokenPurpose, number>> = Object.freeze({
  password_reset: 30 * MINUTE,
  email_verification: 24 * HOUR,
  email_change: 24 * HOUR,
});

export const invalidToken = () =>
  new DomainError('BAD_REQUEST', 'invalid_token', 'This link is invalid, has expired or was already used', {
    field: 'token',
  });

export interface IssuedToken {
  token: string;
  expiresAt: Date;
}

/** A new token for `userId` and `purpose`; the user's unused older ones of that purpose stop working. */
export async function issueAccountToken(
  trx: Transaction<Database>,
  input: { userId: string; purpose: AccountTokenPurpose; email: string; now: Date },
): Promise<IssuedToken> {
  await pruneAccountTokens(trx, input.now);
  await trx
    .updateTable('account_tokens')
    .set({ used_at: input.now })
    .where('user_id', '=', input.userId)
    .where('purpose', '=', input.purpose)
    .where('used_at', 'is', null)
    .execute();
  const { token, id, secretHash } = generateSessionToken();
  const expiresAt = new Date(input.now.getTime() + TOKEN_TTL_MS[input.purpose]);
  await trx
    .insertInto('account_tokens')
    .values({
      id,
      user_id: input.userId,
      purpose: input.purpose,
      secret_hash: secretHash,
      email: input.email,
      created_at: input.now,
      expires_at: expiresAt,
      used_at: null,
    })
    .execute();
  return { token, expiresAt };
}

function usable(
  row: AccountTokenRow | undefined,
  secret: string,
  purpose: AccountTokenPurpose,
  now: Date,
): row is AccountTokenRow {
  if (!row) return false;
  // The secret first, in constant time: a caller learns nothing about a row it cannot prove.
  const matches = secretMatches(secret, row.secret_hash);
  return matches && row.purpose === purpose && row.used_at === null && row.expires_at.getTime() > now.getTime();
}

/** The token's row when it is usable now, else `invalid_token`. Reads only (to check before hashing). */
export async function peekAccountToken(
  executor: Kysely<Database>,
  token: string,
  purpose: AccountTokenPurpose,
  now: Date,
): Promise<AccountTokenRow> {
  const parts = parseSessionToken(token);
  if (!parts) throw invalidToken();
  const row = await executor.selectFrom('account_tokens').selectAll().where('id', '=', parts.id).executeTakeFirst();
  if (!usable(row, parts.secret, purpose, now)) throw invalidToken();
  return row;
}

/**
 * Uses the token up inside `trx` (its row locked, so of two concurrent uses exactly one wins):
 * the row when it was usable, else `invalid_token` (and the caller's transaction rolls back).
 */
export async function consumeAccountToken(
  db: Pick<Db, 'dialect'>,
  trx: Transaction<Database>,
  token: string,
  purpose: AccountTokenPurpose,
  now: Date,
): Promise<AccountTokenRow> {
  const parts = parseSessionToken(token);
  if (!parts) throw invalidToken();
  const row = await trx
    .selectFrom('account_tokens')
    .selectAll()
    .where('id', '=', parts.id)
    .$call(forUpdate(db))
    .executeTakeFirst();
  if (!usable(row, parts.secret, purpose, now)) throw invalidToken();
  const used = await trx
    .updateTable('account_tokens')
    .set({ used_at: now })
    .where('id', '=', row.id)
    .where('used_at', 'is', null)
    .executeTakeFirst();
  if (Number(used.numUpdatedRows) !== 1) throw invalidToken();
  return row;
}

/** Deletes tokens that ended more than a day ago (used or expired): nothing can use them. */
async function pruneAccountTokens(executor: Kysely<Database>, now: Date): Promise<void> {
  const before = new Date(now.getTime() - 24 * HOUR);
  await executor
    .deleteFrom('account_tokens')
    .where((eb) => eb.or([eb('expires_at', '<', before), eb('used_at', '<', before)]))
    .execute();
}

/** Where a link leads: a dashboard screen, the token in the URL fragment (never sent to a server or in a Referer). */
export type LinkScreen = 'reset-password' | 'accept-invitation' | 'verify-email' | 'confirm-email';

export function accountLink(publicOrigin: string, screen: LinkScreen, token: string): string {
  return `${new URL('/', publicOrigin).toString()}#/${screen}/${token}`;
}

/**
 * MFA challenges (issue 15): a random token handed to the client, stored only as its SHA-256,
 * living five minutes, bound to what started it (the user and the sign-in's "remember me", or
 * the session of a ceremony), taken exactly once, and dead after five wrong answers.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { sha256 } from '@oslojs/crypto/sha2';
import { encodeBase64urlNoPadding } from '@oslojs/encoding';
import type { Database, Kysely, MfaChallengePurpose, Transaction } from '@gatehouse/db';
import { DomainError } from '../errors.js';
import * as repo from './repository.js';

const CHALLENGE_TTL_MS = 5 * 60_000;
/** Wrong answers one challenge takes before it is gone. */
export const CHALLENGE_MAX_FAILURES = 5;

export const challengeInvalid = () =>
  new DomainError('UNAUTHORIZED', 'mfa_challenge_invalid', 'This sign-in attempt has expired: sign in again');

function hashToken(token: string): Uint8Array {
  return sha256(new TextEncoder().encode(token));
}

export interface NewChallenge {
  purpose: MfaChallengePurpose;
  userId: string | null;
  sessionId?: string | null;
  rememberMe?: boolean;
  webauthnChallenge?: string | null;
}

export async function issueChallenge(
  trx: Transaction<Database>,
  now: Date,
  input: NewChallenge,
): Promise<{ id: string; token: string; expiresAt: Date }> {
  await repo.deleteExpiredChallenges(trx, now);
  const token = encodeBase64urlNoPadding(randomBytes(32));
  const id = randomUUID();
  const expiresAt = new Date(now.getTime() + CHALLENGE_TTL_MS);
  await repo.insertChallenge(trx, {
    id,
    token_hash: hashToken(token),
    purpose: input.purpose,
    user_id: input.userId,
    session_id: input.sessionId ?? null,
    remember_me: input.rememberMe ?? false,
    webauthn_challenge: input.webauthnChallenge ?? null,
    failures: 0,
    created_at: now,
    expires_at: expiresAt,
  });
  return { id, token, expiresAt };
}

/** The live challenge for `token` and `purpose`, or UNAUTHORIZED `mfa_challenge_invalid`. */
export async function findChallenge(
  executor: Kysely<Database>,
  token: string,
  purpose: MfaChallengePurpose,
  now: Date,
): Promise<repo.ChallengeRow> {
  if (token.length > 200) throw challengeInvalid();
  const row = await repo.challengeByHash(executor, hashToken(token), purpose, now);
  if (!row) throw challengeInvalid();
  return row;
}

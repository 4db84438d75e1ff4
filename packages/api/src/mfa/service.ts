/**
 * Second factors (issue 15): TOTP enrolment, recovery codes, the sign-in second step
 * (`auth.verifyMfa`), reauthentication (step-up) and the admin reset. Plain functions
 * `(deps, actor, input)`; routers/mfa.ts and routers/auth.ts stay thin. Passkeys are in
 * passkeys.ts and plug in here as one more kind of proof.
 *
 * Every change writes its audit event in the same transaction, and no event carries a secret,
 * a code or a token (only which method, which challenge and how many failures). A proof is
 * checked before its transaction opens; inside, the writes that make it single-use are
 * conditional (the TOTP step must be later than the last used one, the recovery code unused,
 * the challenge still there), so two requests with one code cannot both succeed.
 */
import { renderSVG } from 'uqr';
import type { Database, Transaction, UserRow } from '@gatehouse/db';
import type { Actor } from '../actor.js';
import { asUser, recorded } from '../actor.js';
import type { MfaMethod, SignInResult } from '../auth/types.js';
import { DomainError, notFound, tooManyRequests, unauthenticated } from '../errors.js';
import type { Services } from '../services.js';
import * as sessionStore from '../sessions/store.js';
import { transact } from '../unit-of-work.js';
import { requireAdmin, requireUser } from '../users/authorize.js';
import { toUser, type User } from '../users/mapping.js';
import * as users from '../users/repository.js';
import { CHALLENGE_MAX_FAILURES, challengeInvalid, findChallenge, issueChallenge } from './challenges.js';
import { mustEnrolMfa } from './policy.js';
import { hashRecoveryCode, looksLikeRecoveryCode, newRecoveryCodes } from './recovery.js';
import * as repo from './repository.js';
import { toPasskeyInfo, type PasskeyInfo } from './types.js';
import { matchTotp, newTotpKey, totpSecretText, totpUri } from './totp.js';
import { checkPasskeyAssertion, passkeyRequestOptions, type PasskeyAssertion } from './passkeys.js';
import {
  queueMfaChangedNotice,
  queueMfaResetNotice,
  queueNewSignInNotice,
  queueRecoveryCodeUsedNotice,
} from './notices.js';

export type MfaDeps = Pick<
  Services,
  | 'db'
  | 'config'
  | 'clock'
  | 'passwords'
  | 'sessions'
  | 'audit'
  | 'throttle'
  | 'invalidator'
  | 'mfaSecrets'
  // seams: the security notices (mfa/notices.ts)
  | 'mail'
>;

const invalidCode = () => new DomainError('UNAUTHORIZED', 'mfa_invalid_code', 'That code is not correct');
const methodUnavailable = () =>
  new DomainError('BAD_REQUEST', 'mfa_method_unavailable', 'That second factor is not set up for this account');

/** The AES-GCM context a user's TOTP secret is sealed for (a copied ciphertext opens nowhere else). */
const totpContext = (userId: string) => `gatehouse totp ${userId}`;

function openTotpKey(deps: Pick<MfaDeps, 'mfaSecrets'>, row: repo.TotpRow): Uint8Array {
  const key = deps.mfaSecrets.open(row.secret, totpContext(row.user_id));
  // The database and MFA_KEY_FILE do not belong together (restored from different backups?).
  if (!key) throw new Error('a TOTP secret cannot be decrypted with MFA_KEY_FILE');
  return key;
}

/** Counts an MFA attempt on the account (and address); TOO_MANY_REQUESTS, audited, when over. */
async function throttleMfa(deps: MfaDeps, actor: Actor, userId: string, operation: string): Promise<string> {
  const account = `mfa:${userId}`;
  const verdict = await deps.throttle.attempt(account, actor.ip);
  if (verdict) {
    await transact(deps, ({ trx }) =>
      deps.audit.append(
        trx,
        recorded(actor, userId, 'auth.throttled', {
          scope: verdict.scope,
          retryAfterSeconds: verdict.retryAfterSeconds,
          operation,
        }),
      ),
    );
    throw tooManyRequests(verdict.retryAfterSeconds);
  }
  return account;
}

// ---- status -------------------------------------------------------------------------------------

export interface MfaStatus {
  mfaEnabled: boolean;
  /** MFA_REQUIRED covers this account and it has no factor yet: the session is limited to enrolment. */
  enrolmentRequired: boolean;
  totp: { enabled: boolean; pending: boolean };
  recoveryCodesRemaining: number;
  passkeys: PasskeyInfo[];
}

async function statusOf(deps: Pick<MfaDeps, 'db' | 'config'>, row: UserRow): Promise<MfaStatus> {
  const [totp, remaining, passkeys] = await Promise.all([
    repo.totpOf(deps.db.kysely, row.id),
    repo.unusedRecoveryCodes(deps.db.kysely, row.id),
    repo.passkeysOf(deps.db.kysely, row.id),
  ]);
  return {
    mfaEnabled: row.mfa_enabled,
    enrolmentRequired: mustEnrolMfa(deps.config, { role: row.role, mfaEnabled: row.mfa_enabled, kind: row.kind }),
    totp: { enabled: totp?.confirmed_at != null, pending: totp !== null && totp.confirmed_at === null },
    recoveryCodesRemaining: remaining,
    passkeys: passkeys.map(toPasskeyInfo),
  };
}

async function activeRow(deps: Pick<MfaDeps, 'db'>, userId: string): Promise<UserRow> {
  const row = await users.findById(deps.db.kysely, userId);
  if (!row || !row.is_active) throw unauthenticated();
  return row;
}

/** The caller's own factors. */
export async function mfaStatus(deps: MfaDeps, actor: Actor): Promise<MfaStatus> {
  return statusOf(deps, await activeRow(deps, requireUser(actor)));
}

/** Any user's factors (administrators; the admin user screen). */
export async function mfaStatusOf(deps: MfaDeps, actor: Actor, input: { id: string }): Promise<MfaStatus> {
  await requireAdmin(deps, actor);
  const row = await users.findById(deps.db.kysely, input.id);
  if (!row) throw notFound('User', 'user_not_found');
  return statusOf(deps, row);
}

// ---- TOTP enrolment -----------------------------------------------------------------------------

export interface TotpEnrolment {
  /** Base32, for typing into an app by hand. */
  secret: string;
  /** `otpauth://totp/…` */
  uri: string;
  /** The URI as a QR code (SVG markup). */
  qrSvg: string;
}

/**
 * Starts TOTP enrolment: a new secret (sealed at rest), replacing any unconfirmed one. Nothing
 * changes for sign-in until `confirmTotp` with a first code. CONFLICT when TOTP is already on.
 */
export async function beginTotp(deps: MfaDeps, actor: Actor): Promise<TotpEnrolment> {
  const row = await activeRow(deps, requireUser(actor));
  const key = newTotpKey();
  const issuer = new URL(deps.config.publicOrigin).hostname;
  const uri = totpUri(`Gatehouse (${issuer})`, row.email, key);
  await transact(deps, async ({ trx }) => {
    const existing = await repo.totpOf(trx, row.id);
    if (existing?.confirmed_at) {
      throw new DomainError('CONFLICT', 'mfa_already_enrolled', 'An authenticator app is already set up');
    }
    await repo.putPendingTotp(trx, row.id, deps.mfaSecrets.seal(key, totpContext(row.id)), deps.clock.now());
    await deps.audit.append(trx, recorded(actor, row.id, 'mfa.totp_enrolment_started', {}));
  });
  return { secret: totpSecretText(key), uri, qrSvg: renderSVG(uri) };
}

/**
 * Confirms the pending secret with a first code: TOTP is on, `mfaEnabled` true, and (when the
 * account had none) 10 new recovery codes, shown this once.
 */
export async function confirmTotp(
  deps: MfaDeps,
  actor: Actor,
  input: { code: string },
): Promise<{ recoveryCodes: string[] | null }> {
  const userId = requireUser(actor);
  const row = await activeRow(deps, userId);
  const pending = await repo.totpOf(deps.db.kysely, userId);
  if (!pending || pending.confirmed_at) {
    throw new DomainError('PRECONDITION_FAILED', 'mfa_not_enrolled', 'Start the authenticator set-up first');
  }
  const account = await throttleMfa(deps, actor, userId, 'confirm_totp');
  const now = deps.clock.now();
  const step = matchTotp(openTotpKey(deps, pending), input.code, now, null);
  if (step === null) {
    await transact(deps, ({ trx }) =>
      deps.audit.append(trx, recorded(actor, userId, 'auth.mfa_failed', { method: 'totp', operation: 'confirm_totp' })),
    );
    throw invalidCode();
  }
  const recoveryCodes = await transact(deps, async (work) => {
    if (!(await repo.useTotpStep(work.trx, userId, step, { confirmAt: now }))) throw challengeInvalid();
    const hadCodes = (await repo.unusedRecoveryCodes(work.trx, userId)) > 0;
    const codes = hadCodes ? null : newRecoveryCodes();
    if (codes) await repo.replaceRecoveryCodes(work.trx, userId, codes.map(hashRecoveryCode), now);
    await repo.refreshMfaEnabled(work.trx, userId, now);
    await deps.audit.append(work.trx, recorded(actor, userId, 'mfa.totp_enabled', {}));
    await queueMfaChangedNotice(deps, work, actor, row, 'totp_enabled');
    if (codes) {
      await deps.audit.append(
        work.trx,
        recorded(actor, userId, 'mfa.recovery_codes_generated', { count: codes.length }),
      );
    }
    work.invalidate({ userIds: [userId] });
    return codes;
  });
  await deps.throttle.succeeded(account, actor.ip);
  return { recoveryCodes };
}

/** Turns TOTP off (step-up first, in the router). Without passkeys left, MFA is off and the recovery codes go. */
export async function disableTotp(deps: MfaDeps, actor: Actor): Promise<{ ok: true; mfaEnabled: boolean }> {
  const userId = requireUser(actor);
  return transact(deps, async (work) => {
    if (!(await repo.deleteTotp(work.trx, userId))) throw methodUnavailable();
    const now = deps.clock.now();
    const enabled = await repo.refreshMfaEnabled(work.trx, userId, now);
    if (!enabled) await repo.replaceRecoveryCodes(work.trx, userId, [], now);
    await deps.audit.append(work.trx, recorded(actor, userId, 'mfa.totp_disabled', { mfaEnabled: enabled }));
    const row = await users.findById(work.trx, userId);
    if (row) await queueMfaChangedNotice(deps, work, actor, row, 'totp_disabled');
    work.invalidate({ userIds: [userId] });
    return { ok: true as const, mfaEnabled: enabled };
  });
}

/** 10 new recovery codes, replacing every old one (step-up first, in the router). Needs MFA on. */
export async function regenerateRecoveryCodes(deps: MfaDeps, actor: Actor): Promise<{ recoveryCodes: string[] }> {
  const userId = requireUser(actor);
  const row = await activeRow(deps, userId);
  if (!row.mfa_enabled) {
    throw new DomainError('PRECONDITION_FAILED', 'mfa_not_enrolled', 'Set up a second factor first');
  }
  const codes = newRecoveryCodes();
  await transact(deps, async (work) => {
    await repo.replaceRecoveryCodes(work.trx, userId, codes.map(hashRecoveryCode), deps.clock.now());
    await deps.audit.append(work.trx, recorded(actor, userId, 'mfa.recovery_codes_generated', { count: codes.length }));
    await queueMfaChangedNotice(deps, work, actor, row, 'recovery_codes_generated');
  });
  return { recoveryCodes: codes };
}

// ---- proofs: TOTP, recovery code, passkey ---------------------------------------------------------

export type MfaProof =
  | { method: 'totp'; code: string }
  | { method: 'recovery'; code: string }
  | { method: 'passkey'; response: PasskeyAssertion };

/** What a proof, checked, will write to become single-use (inside the success transaction). */
interface Checked {
  method: MfaMethod;
  /** False when the conditional write lost (the code was used meanwhile). */
  commit(trx: Transaction<Database>, now: Date): Promise<boolean>;
  /** Extra audit data (never the code). */
  data: Record<string, unknown>;
}

/** The methods this user can finish a sign-in with. */
async function methodsOf(deps: Pick<MfaDeps, 'db'>, userId: string): Promise<MfaMethod[]> {
  const [totp, codes, passkeys] = await Promise.all([
    repo.totpOf(deps.db.kysely, userId),
    repo.unusedRecoveryCodes(deps.db.kysely, userId),
    repo.countPasskeys(deps.db.kysely, userId),
  ]);
  const methods: MfaMethod[] = [];
  if (totp?.confirmed_at) methods.push('totp');
  if (passkeys > 0) methods.push('passkey');
  if (codes > 0) methods.push('recovery');
  return methods;
}

/**
 * Checks a proof for `userId` (null: a passwordless passkey, whose user the credential names).
 * Null when wrong; throws `mfa_method_unavailable` when the user has no such factor.
 */
async function checkProof(
  deps: MfaDeps,
  userId: string,
  proof: MfaProof,
  webauthnChallenge: string | null,
): Promise<Checked | null> {
  const now = deps.clock.now();
  if (proof.method === 'totp') {
    const row = await repo.totpOf(deps.db.kysely, userId);
    if (!row?.confirmed_at) throw methodUnavailable();
    const step = matchTotp(openTotpKey(deps, row), proof.code, now, row.last_used_step);
    if (step === null) return null;
    return { method: 'totp', data: {}, commit: (trx) => repo.useTotpStep(trx, userId, step) };
  }
  if (proof.method === 'recovery') {
    if ((await repo.unusedRecoveryCodes(deps.db.kysely, userId)) === 0) throw methodUnavailable();
    if (!looksLikeRecoveryCode(proof.code)) return null;
    const hash = hashRecoveryCode(proof.code);
    return {
      method: 'recovery',
      data: {},
      commit: (trx, at) => repo.useRecoveryCode(trx, userId, hash, at),
    };
  }
  if (!webauthnChallenge) throw methodUnavailable();
  if ((await repo.countPasskeys(deps.db.kysely, userId)) === 0) throw methodUnavailable();
  const verified = await checkPasskeyAssertion(deps, {
    userId,
    expectedChallenge: webauthnChallenge,
    response: proof.response,
  });
  if (!verified) return null;
  return {
    method: 'passkey',
    data: { passkeyId: verified.passkeyId },
    commit: async (trx, at) => {
      await repo.recordPasskeyUse(trx, verified.passkeyId, verified.newCounter, verified.backedUp, at);
      return true;
    },
  };
}

/** Thrown inside a success transaction to roll it back when a conditional write lost. */
class ProofReplayed extends Error {}

// ---- sign-in second step ------------------------------------------------------------------------

/**
 * auth.signIn's branch for an account with MFA, once the password was right: a challenge bound
 * to this attempt (the user, "remember me") instead of a session. Called inside sign-in's
 * transaction-free part; opens its own.
 */
export async function requireSecondFactor(
  deps: MfaDeps,
  actor: Actor,
  user: UserRow,
  options: { rememberMe: boolean; upgradedHash: string | null },
): Promise<SignInResult> {
  const methods = await methodsOf(deps, user.id);
  const now = deps.clock.now();
  const passkeyOptions = methods.includes('passkey') ? await passkeyRequestOptions(deps, user.id) : null;
  const challenge = await transact(deps, async ({ trx }) => {
    // Only if the hash is still the one just verified (as auth.signIn does).
    if (options.upgradedHash) {
      await users.updatePassword(trx, user.id, options.upgradedHash, { ifHashIs: user.password_hash });
    }
    const issued = await issueChallenge(trx, now, {
      purpose: 'sign_in',
      userId: user.id,
      rememberMe: options.rememberMe,
      webauthnChallenge: passkeyOptions?.challenge ?? null,
    });
    await deps.audit.append(
      trx,
      recorded(asUser(actor, user.id), user.id, 'auth.mfa_required', { challengeId: issued.id, methods }),
    );
    return issued;
  });
  return {
    status: 'mfa-required',
    challengeToken: challenge.token,
    expiresAt: challenge.expiresAt,
    methods,
    ...(passkeyOptions ? { passkeyOptions } : {}),
  };
}

export type VerifyMfaInput = { challengeToken: string } & MfaProof;

/**
 * Finishes a sign-in: the challenge must be live, and the proof right. Five wrong answers end
 * the challenge; the account's MFA attempts are throttled like sign-ins. Each failure is audited.
 */
export async function verifyMfa(
  deps: MfaDeps,
  actor: Actor,
  input: VerifyMfaInput,
  /** The device cookie the request carried: decides the new-browser notice, as in auth.signIn. */
  options: { deviceCookie?: string | null | undefined } = {},
): Promise<Extract<SignInResult, { status: 'signed-in' }>> {
  const challenge = await findChallenge(deps.db.kysely, input.challengeToken, 'sign_in', deps.clock.now());
  const userId = challenge.user_id;
  if (!userId) throw challengeInvalid();
  const user = await users.findById(deps.db.kysely, userId);
  if (!user || !user.is_active) throw challengeInvalid();
  const account = await throttleMfa(deps, actor, userId, 'verify_mfa');
  const checked = await checkProof(deps, userId, input, challenge.webauthn_challenge);
  const fail = async () => {
    const failures = await transact(deps, async ({ trx }) => {
      const count = await repo.failChallenge(trx, challenge.id, CHALLENGE_MAX_FAILURES);
      await deps.audit.append(
        trx,
        recorded(actor, userId, 'auth.mfa_failed', {
          method: input.method,
          challengeId: challenge.id,
          failures: count,
        }),
      );
      return count;
    });
    if (failures >= CHALLENGE_MAX_FAILURES) throw challengeInvalid();
    throw invalidCode();
  };
  if (!checked) return fail();

  const now = deps.clock.now();
  let created;
  try {
    created = await transact(deps, async (work) => {
      if (!(await checked.commit(work.trx, now))) throw new ProofReplayed();
      if (!(await repo.consumeChallenge(work.trx, challenge.id))) throw challengeInvalid();
      await users.setLastSignIn(work.trx, userId, now);
      const session = await deps.sessions.create(work.trx, {
        userId,
        rememberMe: challenge.remember_me,
        ip: actor.ip,
        userAgent: actor.userAgent,
      });
      const signedIn = asUser(actor, userId);
      await deps.audit.append(
        work.trx,
        recorded(signedIn, userId, 'auth.sign_in', {
          sessionId: session.session.id,
          rememberMe: challenge.remember_me,
          mfa: checked.method,
          challengeId: challenge.id,
          ...checked.data,
        }),
      );
      if (checked.method === 'recovery') {
        const remaining = await repo.unusedRecoveryCodes(work.trx, userId);
        await deps.audit.append(work.trx, recorded(signedIn, userId, 'mfa.recovery_code_used', { remaining }));
        await queueRecoveryCodeUsedNotice(deps, work, actor, user, remaining);
      }
      await queueNewSignInNotice(deps, work, actor, user, options.deviceCookie, now);
      work.invalidate({ userIds: [userId] });
      return session;
    });
  } catch (error) {
    if (error instanceof ProofReplayed) return fail();
    throw error;
  }
  await deps.throttle.succeeded(account, actor.ip);
  await deps.throttle.succeeded(`user:${userId}`, actor.ip);
  return {
    status: 'signed-in',
    user: toUser({ ...user, last_sign_in_at: now }),
    token: created.token,
    expiresAt: created.session.expiresAt,
  };
}

// ---- reauthentication (step-up) -----------------------------------------------------------------

export type ReauthenticateInput = { sessionId: string } & (
  | { method: 'password'; password: string }
  | { method: 'totp'; code: string }
  | { method: 'passkey'; challengeToken: string; response: PasskeyAssertion }
);

/**
 * Proves it is still the session's owner (password, TOTP code or passkey) and refreshes
 * `sessions.authenticated_at`: sensitive actions are allowed for ten minutes. Wrong answers are
 * throttled with sign-in's counters and audited.
 */
export async function reauthenticate(
  deps: MfaDeps,
  actor: Actor,
  input: ReauthenticateInput,
): Promise<{ ok: true; authenticatedAt: Date }> {
  const userId = requireUser(actor);
  const row = await activeRow(deps, userId);
  const account = input.method === 'password' ? `user:${userId}` : `mfa:${userId}`;
  const verdict = await deps.throttle.attempt(account, actor.ip);
  if (verdict) {
    await transact(deps, ({ trx }) =>
      deps.audit.append(
        trx,
        recorded(actor, userId, 'auth.throttled', {
          scope: verdict.scope,
          retryAfterSeconds: verdict.retryAfterSeconds,
          operation: 'reauthenticate',
        }),
      ),
    );
    throw tooManyRequests(verdict.retryAfterSeconds);
  }

  let checked: Checked | null;
  let challengeId: string | null = null;
  if (input.method === 'password') {
    const ok = await deps.passwords.verify(row.password_hash, input.password);
    checked = ok ? { method: 'totp', data: {}, commit: () => Promise.resolve(true) } : null;
  } else if (input.method === 'totp') {
    checked = await checkProof(deps, userId, input, null);
  } else {
    const challenge = await findChallenge(deps.db.kysely, input.challengeToken, 'reauthentication', deps.clock.now());
    if (challenge.user_id !== userId || challenge.session_id !== input.sessionId) throw challengeInvalid();
    challengeId = challenge.id;
    checked = await checkProof(
      deps,
      userId,
      { method: 'passkey', response: input.response },
      challenge.webauthn_challenge,
    );
  }
  const fail = async (): Promise<never> => {
    await transact(deps, async ({ trx }) => {
      if (challengeId) await repo.consumeChallenge(trx, challengeId);
      await deps.audit.append(
        trx,
        recorded(actor, userId, 'auth.reauthentication_failed', { method: input.method, sessionId: input.sessionId }),
      );
    });
    if (input.method === 'password') {
      throw new DomainError('BAD_REQUEST', 'wrong_password', 'The password is not correct', { field: 'password' });
    }
    throw invalidCode();
  };
  if (!checked) return fail();
  const now = deps.clock.now();
  try {
    await transact(deps, async (work) => {
      if (!(await checked.commit(work.trx, now))) throw new ProofReplayed();
      if (challengeId && !(await repo.consumeChallenge(work.trx, challengeId))) throw challengeInvalid();
      if (!(await sessionStore.markAuthenticated(work.trx, input.sessionId, now))) throw unauthenticated();
      await deps.audit.append(
        work.trx,
        recorded(actor, userId, 'auth.reauthenticated', { method: input.method, sessionId: input.sessionId }),
      );
      work.invalidate({ sessionIds: [input.sessionId] });
    });
  } catch (error) {
    if (error instanceof ProofReplayed) return fail();
    throw error;
  }
  await deps.throttle.succeeded(account, actor.ip);
  return { ok: true, authenticatedAt: now };
}

// ---- admin reset --------------------------------------------------------------------------------

/**
 * Removes every factor of a user (lost phone and codes): administrators through the API (step-up
 * first, in the router) or the operator with `gatehouse users reset-mfa`. Audited; every session
 * of the user ends, so whoever holds one must sign in again (with the password alone, then
 * enrol again if MFA_REQUIRED covers them).
 */
export async function resetMfa(
  deps: MfaDeps,
  actor: Actor,
  input: { id: string },
): Promise<{
  user: User;
  removed: { totp: boolean; passkeys: number; recoveryCodes: number };
  revokedSessions: number;
}> {
  return transact(deps, async (work) => {
    await requireAdmin(deps, actor, work.trx);
    const row = await users.lockById(deps.db, work.trx, input.id);
    if (!row) throw notFound('User', 'user_not_found');
    const removed = await repo.deleteAllFactors(work.trx, row.id);
    const now = deps.clock.now();
    await repo.refreshMfaEnabled(work.trx, row.id, now);
    const revokedSessions = await deps.sessions.revokeAllForUser(work, row.id);
    await deps.audit.append(work.trx, recorded(actor, row.id, 'mfa.reset', { ...removed, revokedSessions }));
    await queueMfaResetNotice(deps, work, row);
    work.invalidate({ userIds: [row.id] });
    return { user: toUser({ ...row, mfa_enabled: false, updated_at: now }), removed, revokedSessions };
  });
}

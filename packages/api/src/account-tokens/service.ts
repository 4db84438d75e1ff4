/**
 * The email flows on one-time tokens (tokens.ts): password reset, email verification and email
 * change, plus the administrator's one-time reset link for deployments without mail. Plain
 * functions `(deps, actor, input)`; every change, its audit event and the mails it causes commit
 * together (`transact`, the outbox in mail/). No request waits on SMTP.
 *
 * Requests that send mail answer alike for known and unknown addresses (the same `{ ok: true }`
 * after the same kind of work: one transaction with an audit event) and are throttled per
 * address and per IP (`services.mailThrottle`, apart from sign-in's counters).
 */
import type { UserRow } from '@gatehouse/db';
import { recorded, type Actor } from '../actor.js';
import { assertPasswordPolicy } from '../auth/password-policy.js';
import { DomainError, notFound, tooManyRequests, unauthenticated } from '../errors.js';
import { mailNotConfigured } from '../mail/service.js';
import {
  emailChangeMail,
  noticeMail,
  passwordResetMail,
  verificationMail,
  type TemplatedMail,
} from '../mail/templates.js';
import type { Services } from '../services.js';
import { transact, type Work } from '../unit-of-work.js';
import { requireAdmin } from '../users/authorize.js';
import { identifierKey } from '../users/identifier.js';
import { toUser, type User } from '../users/mapping.js';
import * as users from '../users/repository.js';
import {
  accountLink,
  consumeAccountToken,
  issueAccountToken,
  peekAccountToken,
  TOKEN_TTL_MS,
  invalidToken,
} from './tokens.js';

export type AccountTokenDeps = Pick<
  Services,
  'db' | 'config' | 'clock' | 'passwords' | 'sessions' | 'audit' | 'invalidator' | 'mail' | 'mailThrottle' | 'onError'
>;

const minutes = (ms: number) => Math.round(ms / 60_000);
const hours = (ms: number) => Math.round(ms / 3_600_000);

/** Counts one mail request for `address` from the actor's IP; TOO_MANY_REQUESTS (audited) past the limits. */
async function throttleMailRequest(
  deps: AccountTokenDeps,
  actor: Actor,
  operation: string,
  address: string,
): Promise<void> {
  const verdict = await deps.mailThrottle.attempt(`${operation}:${identifierKey(address)}`, actor.ip);
  if (!verdict) return;
  await transact(deps, ({ trx }) =>
    deps.audit.append(
      trx,
      recorded(actor, null, 'auth.throttled', {
        scope: verdict.scope,
        retryAfterSeconds: verdict.retryAfterSeconds,
        operation,
      }),
    ),
  );
  throw tooManyRequests(verdict.retryAfterSeconds);
}

/** A security notice to `to`, when SECURITY_NOTICES is on and mail is configured. */
export async function queueNotice(
  deps: Pick<AccountTokenDeps, 'config' | 'mail'>,
  work: Work,
  notice: () => TemplatedMail,
): Promise<void> {
  if (!deps.config.securityNotices || !deps.mail.configured) return;
  await deps.mail.enqueue(work, notice());
}

// ---- password reset ---------------------------------------------------------------------------

/**
 * Sends a reset link to the address when it belongs to an active account; answers `{ ok: true }`
 * either way (no enumeration) without waiting for SMTP. PRECONDITION_FAILED `mail_not_configured`
 * without mail (for every address alike); TOO_MANY_REQUESTS past the per-address/IP limits.
 */
export async function requestPasswordReset(
  deps: AccountTokenDeps,
  actor: Actor,
  input: { email: string },
): Promise<{ ok: true }> {
  if (!deps.mail.configured) throw mailNotConfigured();
  await throttleMailRequest(deps, actor, 'request_password_reset', input.email);
  const user = await users.findByIdentifier(deps.db.kysely, input.email);
  const known = user !== undefined && user.is_active && identifierKey(user.email) === identifierKey(input.email);
  await transact(deps, async (work) => {
    if (known) {
      const now = deps.clock.now();
      const { token } = await issueAccountToken(work.trx, {
        userId: user.id,
        purpose: 'password_reset',
        email: user.email,
        now,
      });
      const url = accountLink(deps.config.publicOrigin, 'reset-password', token);
      await deps.mail.enqueue(
        work,
        passwordResetMail(user.email, user.name, url, minutes(TOKEN_TTL_MS.password_reset)),
      );
    }
    await deps.audit.append(
      work.trx,
      recorded(actor, known ? user.id : null, 'auth.password_reset_requested', { known }),
    );
  });
  return { ok: true };
}

/**
 * Sets a new password with a reset link: the policy with the account in view (field
 * `newPassword`), Argon2id before the transaction, then — with the token used up under a row
 * lock — the hash, every session revoked, the address marked verified (the link proved it), the
 * audit event and a notice mail. `invalid_token` for any link that cannot be used.
 */
export async function resetPassword(
  deps: AccountTokenDeps,
  actor: Actor,
  input: { token: string; newPassword: string },
): Promise<{ ok: true; revokedSessions: number }> {
  const peeked = await peekAccountToken(deps.db.kysely, input.token, 'password_reset', deps.clock.now());
  const target = await users.findById(deps.db.kysely, peeked.user_id);
  if (!target || !target.is_active) throw invalidToken();
  await assertPasswordPolicy(input.newPassword, { email: target.email, username: target.username }, 'newPassword');
  const passwordHash = await deps.passwords.hash(input.newPassword);

  const revokedSessions = await transact(deps, async (work) => {
    const now = deps.clock.now();
    const token = await consumeAccountToken(deps.db, work.trx, input.token, 'password_reset', now);
    const user = await users.lockById(deps.db, work.trx, token.user_id);
    if (!user || !user.is_active) throw invalidToken();
    await users.updatePassword(work.trx, user.id, passwordHash, { now });
    if (user.email_verified_at === null && identifierKey(token.email) === user.email_key) {
      await users.updateUserRow(work.trx, user.id, { email_verified_at: now, updated_at: now });
    }
    const revoked = await deps.sessions.revokeAllForUser(work.trx, user.id);
    await deps.audit.append(
      work.trx,
      recorded(asTarget(actor, user), user.id, 'auth.password_reset', { revokedSessions: revoked }, user.id),
    );
    await queueNotice(deps, work, () =>
      noticeMail('notice_password_changed', user.email, user.name, deps.config.publicOrigin, { at: now }),
    );
    work.invalidate({ userIds: [user.id] });
    return revoked;
  });
  return { ok: true, revokedSessions };
}

/** The link's owner is who acts (the caller is anonymous): their id, the caller's address. */
function asTarget(actor: Actor, user: Pick<UserRow, 'id'>): Actor {
  return { ...actor, userId: user.id };
}

/**
 * An administrator's one-time reset link for a user (for deployments without mail, or to hand it
 * over in person): the same token a mailed reset carries, 30 minutes. Audited as
 * `user.reset_link_created` (never the link).
 */
export async function createResetLink(
  deps: AccountTokenDeps,
  actor: Actor,
  input: { id: string },
): Promise<{ url: string; expiresAt: Date }> {
  await requireAdmin(deps, actor);
  return transact(deps, (work) => issueResetLink(deps, actor, work, input.id, { mail: false }));
}

/**
 * The same link as `createResetLink`, mailed to the user instead of handed to the administrator
 * (`gatehouse import users --reset-links mail` for users imported without a password).
 * PRECONDITION_FAILED `mail_not_configured` without mail. Audited as `user.reset_link_created`
 * with `mailed: true`.
 */
export async function mailResetLink(
  deps: AccountTokenDeps,
  actor: Actor,
  input: { id: string },
): Promise<{ expiresAt: Date }> {
  if (!deps.mail.configured) throw mailNotConfigured();
  await requireAdmin(deps, actor);
  const { expiresAt } = await transact(deps, (work) => issueResetLink(deps, actor, work, input.id, { mail: true }));
  return { expiresAt };
}

async function issueResetLink(
  deps: AccountTokenDeps,
  actor: Actor,
  work: Work,
  userId: string,
  options: { mail: boolean },
): Promise<{ url: string; expiresAt: Date }> {
  await requireAdmin(deps, actor, work.trx);
  const user = await users.lockById(deps.db, work.trx, userId);
  if (!user) throw notFound('User', 'user_not_found');
  // A deactivated account cannot use a reset link: say so instead of handing out a dead one.
  if (!user.is_active) {
    throw new DomainError('CONFLICT', 'invalid_input', 'The user is deactivated: reactivate them first');
  }
  const now = deps.clock.now();
  const { token, expiresAt } = await issueAccountToken(work.trx, {
    userId: user.id,
    purpose: 'password_reset',
    email: user.email,
    now,
  });
  const url = accountLink(deps.config.publicOrigin, 'reset-password', token);
  if (options.mail) {
    await deps.mail.enqueue(work, passwordResetMail(user.email, user.name, url, minutes(TOKEN_TTL_MS.password_reset)));
  }
  await deps.audit.append(
    work.trx,
    recorded(actor, user.id, 'user.reset_link_created', {
      expiresAt: expiresAt.toISOString(),
      ...(options.mail ? { mailed: true } : {}),
    }),
  );
  return { url, expiresAt };
}

// ---- email verification -----------------------------------------------------------------------

/**
 * Mails a verification link. Signed in: to one's own address (no input needed). Signed out (the
 * sign-in screen's resend when REQUIRE_EMAIL_VERIFICATION refused): to `email` when it belongs to
 * an active, unverified account, answering `{ ok: true }` either way.
 */
export async function requestEmailVerification(
  deps: AccountTokenDeps,
  actor: Actor,
  input: { email?: string | undefined },
): Promise<{ ok: true }> {
  if (!deps.mail.configured) throw mailNotConfigured();
  let user: UserRow | undefined;
  if (actor.userId) {
    user = await users.findById(deps.db.kysely, actor.userId);
    if (!user || !user.is_active) throw unauthenticated();
    await throttleMailRequest(deps, actor, 'request_email_verification', user.email);
  } else {
    if (!input.email) throw unauthenticated();
    await throttleMailRequest(deps, actor, 'request_email_verification', input.email);
    const found = await users.findByIdentifier(deps.db.kysely, input.email);
    user = found && found.is_active && found.email_key === identifierKey(input.email) ? found : undefined;
  }
  const send = user !== undefined && user.email_verified_at === null;
  await transact(deps, async (work) => {
    if (user && send) {
      const { token } = await issueAccountToken(work.trx, {
        userId: user.id,
        purpose: 'email_verification',
        email: user.email,
        now: deps.clock.now(),
      });
      const url = accountLink(deps.config.publicOrigin, 'verify-email', token);
      await deps.mail.enqueue(
        work,
        verificationMail(user.email, user.name, url, hours(TOKEN_TTL_MS.email_verification)),
      );
    }
    await deps.audit.append(
      work.trx,
      recorded(actor, user?.id ?? null, 'auth.email_verification_requested', { sent: send }),
    );
  });
  return { ok: true };
}

/** Marks the address verified when the link is usable and the account still has that address. */
export async function verifyEmail(
  deps: AccountTokenDeps,
  actor: Actor,
  input: { token: string },
): Promise<{ ok: true }> {
  await transact(deps, async (work) => {
    const now = deps.clock.now();
    const token = await consumeAccountToken(deps.db, work.trx, input.token, 'email_verification', now);
    const user = await users.lockById(deps.db, work.trx, token.user_id);
    if (!user || !user.is_active || user.email_key !== identifierKey(token.email)) throw invalidToken();
    if (user.email_verified_at === null) {
      await users.updateUserRow(work.trx, user.id, { email_verified_at: now, updated_at: now });
    }
    await deps.audit.append(work.trx, recorded(actor, user.id, 'auth.email_verified', { email: user.email }, user.id));
    work.invalidate({ userIds: [user.id] });
  });
  return { ok: true };
}

// ---- email change -----------------------------------------------------------------------------

/**
 * updateProfile's email change when mail is configured (auth/service.ts calls it in its
 * transaction): the address does not change yet; a link goes to the new address and a notice
 * (without the link) to the old one.
 */
export async function requestEmailChange(
  deps: AccountTokenDeps,
  actor: Actor,
  work: Work,
  user: UserRow,
  newEmail: string,
): Promise<void> {
  const now = deps.clock.now();
  const { token } = await issueAccountToken(work.trx, {
    userId: user.id,
    purpose: 'email_change',
    email: newEmail,
    now,
  });
  const url = accountLink(deps.config.publicOrigin, 'confirm-email', token);
  await deps.mail.enqueue(work, emailChangeMail(newEmail, user.name, url, hours(TOKEN_TTL_MS.email_change)));
  await queueNotice(deps, work, () =>
    noticeMail('notice_email_change_requested', user.email, user.name, deps.config.publicOrigin, { newEmail, at: now }),
  );
  await deps.audit.append(
    work.trx,
    recorded(actor, user.id, 'auth.email_change_requested', {
      changes: { email: { before: user.email, after: newEmail } },
    }),
  );
}

/**
 * Follows the link sent to a new address: the account's email becomes it, verified. CONFLICT
 * `email_taken` (nothing changes) when someone took the address meanwhile; the old address gets
 * a notice.
 */
export async function confirmEmailChange(
  deps: AccountTokenDeps,
  actor: Actor,
  input: { token: string },
): Promise<User> {
  return transact(deps, async (work) => {
    const now = deps.clock.now();
    const token = await consumeAccountToken(deps.db, work.trx, input.token, 'email_change', now);
    const user = await users.lockById(deps.db, work.trx, token.user_id);
    if (!user || !user.is_active) throw invalidToken();
    const after: UserRow = {
      ...user,
      email: token.email,
      email_key: identifierKey(token.email),
      email_verified_at: now,
      updated_at: now,
    };
    // A taken address is a UniqueViolationError: CONFLICT `email_taken` through the API, rolled back.
    await users.updateUserRow(work.trx, user.id, { email: after.email, email_verified_at: now, updated_at: now });
    await deps.audit.append(
      work.trx,
      recorded(
        actor,
        user.id,
        'auth.email_changed',
        { changes: { email: { before: user.email, after: after.email } } },
        user.id,
      ),
    );
    await queueNotice(deps, work, () =>
      noticeMail('notice_email_changed', user.email, user.name, deps.config.publicOrigin, {
        newEmail: after.email,
        at: now,
      }),
    );
    work.invalidate({ userIds: [user.id] });
    return toUser(after);
  });
}

/**
 * Authentication (architecture §3–§5, §7 `auth.*`): first-run setup, sign-up, sign-in, sign-out,
 * password change and profile update. Plain functions `(deps, actor, input)`; the auth router
 * validates input and sets/clears the cookie. Accounts, passwords and look-ups are the users
 * module's (users/service.ts, users/repository.ts): this file adds sessions and throttling.
 *
 * Every change writes its audit event inside the same transaction (`transact`). Password hashing
 * and verification happen before a transaction opens (they take tens of milliseconds, off the
 * event loop), so no transaction holds a lock while Argon2 runs.
 */
import { randomUUID } from 'node:crypto';
import type { Database, Transaction, UserRow } from '@gatehouse/db';
import type { Actor } from '../actor.js';
import { asUser } from '../actor.js';
import { DomainError, invalidCredentials, tooManyRequests, unauthenticated } from '../errors.js';
import type { PasswordHasher, Services } from '../services.js';
import type { ValidatedSession } from '../sessions/types.js';
import { transact } from '../unit-of-work.js';
import { requireUser } from '../users/authorize.js';
import { identifierKey } from '../users/identifier.js';
import { toUser, type User } from '../users/mapping.js';
import * as users from '../users/repository.js';
import { createUser, needsSetup, setPassword } from '../users/service.js';
import type { SignInResult } from './types.js';
// ---- email flows ----
import { queueNotice, requestEmailChange } from '../account-tokens/service.js';
import { noticeMail } from '../mail/templates.js';
import { requireSecondFactor } from '../mfa/service.js';
import { queueNewSignInNotice } from '../mfa/notices.js';

export type AuthDeps = Pick<
  Services,
  | 'db'
  | 'config'
  | 'clock'
  | 'passwords'
  | 'sessions'
  | 'audit'
  | 'throttle'
  | 'invalidator'
  // ---- email flows ----
  | 'mail'
  | 'mailThrottle'
  | 'onError'
  // ---- issue 15 ----
  | 'mfaSecrets'
>;

// ---- equal-time verification for unknown identifiers -------------------------------------------

const dummyHashes = new WeakMap<PasswordHasher, Promise<string>>();

/** A hash made with the hasher's own parameters, so verifying against it costs what a real one does. */
function dummyHash(passwords: PasswordHasher): Promise<string> {
  let hash = dummyHashes.get(passwords);
  if (!hash) {
    hash = passwords.hash(`gatehouse-dummy-${randomUUID()}`);
    dummyHashes.set(passwords, hash);
  }
  return hash;
}

export async function warmDummyHash(passwords: PasswordHasher): Promise<void> {
  await dummyHash(passwords);
}

// ---- helpers ----------------------------------------------------------------------------------

/** Opens a session for `userId` inside `trx`, from the actor's address and user agent. */
function openSession(deps: AuthDeps, actor: Actor, trx: Transaction<Database>, userId: string, rememberMe: boolean) {
  return deps.sessions.create(trx, { userId, rememberMe, ip: actor.ip, userAgent: actor.userAgent });
}

function signedIn(user: User, created: { token: string; session: { expiresAt: Date } }): SignInResult {
  return { status: 'signed-in', user, token: created.token, expiresAt: created.session.expiresAt };
}

export interface NewAccount {
  email: string;
  username?: string | undefined;
  name: string;
  password: string;
}

// ---- first run --------------------------------------------------------------------------------

export async function setupStatus(deps: Pick<AuthDeps, 'db'>): Promise<{ needsSetup: boolean }> {
  return { needsSetup: await needsSetup(deps) };
}

/**
 * Creates the first account, an admin, and signs it in. Race-safe (users `createUser` kind
 * `first`, the same use case as `gatehouse create-admin`): of two concurrent calls one wins and
 * the other gets PRECONDITION_FAILED (`already_set_up`).
 */
export async function createFirstUser(deps: AuthDeps, actor: Actor, input: NewAccount): Promise<SignInResult> {
  const { user, session } = await createUser(deps, actor, input, {
    kind: 'first',
    openSession: (trx, row) => openSession(deps, actor, trx, row.id, false),
  });
  if (!session) throw new Error('createUser opened no session');
  return signedIn(user, session);
}

// ---- sign-up / sign-in ------------------------------------------------------------------------

export async function signUp(deps: AuthDeps, actor: Actor, input: NewAccount): Promise<SignInResult> {
  const { user, session } = await createUser(deps, actor, input, {
    kind: 'sign_up',
    openSession: (trx, row) => openSession(deps, actor, trx, row.id, false),
  });
  if (!session) throw new Error('createUser opened no session');
  return signedIn(user, session);
}

export interface SignInInput {
  identifier: string;
  password: string;
  rememberMe?: boolean | undefined;
  /** The device cookie the request carried (throttle/device.ts), if any. */
  deviceCookie?: string | null | undefined;
}

/** The account counter's key: the user when the identifier names one, else the identifier. */
function accountKey(user: UserRow | undefined, identifier: string): string {
  return user ? `user:${user.id}` : `identifier:${identifierKey(identifier)}`;
}

/**
 * Email or username (the one identifier rule) and password. Every failure — unknown identifier,
 * wrong password, inactive account — answers the same `invalid_credentials` after the same work
 * (an unknown identifier is verified against a dummy hash). Throttled attempts get
 * TOO_MANY_REQUESTS before any password is checked. A bcrypt or outdated hash is replaced by
 * Argon2id on success.
 */
export async function signIn(deps: AuthDeps, actor: Actor, input: SignInInput): Promise<SignInResult> {
  const user = await users.findByIdentifier(deps.db.kysely, input.identifier);
  const account = accountKey(user, input.identifier);
  // A browser that signed in to this very account before is exempt from its lockout.
  const device = deps.throttle.devices.verify(input.deviceCookie, user?.id);

  const verdict = await deps.throttle.attempt(account, actor.ip, { device });
  if (verdict) {
    await transact(deps, ({ trx }) =>
      deps.audit.append(trx, {
        type: 'auth.throttled',
        targetId: user?.id ?? null,
        ip: actor.ip,
        userAgent: actor.userAgent,
        data: { scope: verdict.scope, retryAfterSeconds: verdict.retryAfterSeconds },
      }),
    );
    throw tooManyRequests(verdict.retryAfterSeconds);
  }

  // #16: a service account has no password and never signs in (API keys only): it costs the
  // same as an unknown identifier and fails the same way.
  const isService = user?.kind === 'service';
  const storedHash = user && !isService ? user.password_hash : await dummyHash(deps.passwords);
  const passwordOk = (await deps.passwords.verify(storedHash, input.password)) && !isService;
  if (!user || !passwordOk || !user.is_active) {
    const reason = !user
      ? 'unknown_identifier'
      : isService
        ? 'service_account'
        : !passwordOk
          ? 'wrong_password'
          : 'inactive';
    await transact(deps, ({ trx }) =>
      deps.audit.append(trx, {
        type: 'auth.sign_in_failed',
        targetId: user?.id ?? null,
        ip: actor.ip,
        userAgent: actor.userAgent,
        data: { reason },
      }),
    );
    throw invalidCredentials();
  }

  // ---- email flows: REQUIRE_EMAIL_VERIFICATION (after the password: says nothing to guessers) ----
  if (deps.config.requireEmailVerification && user.email_verified_at === null) {
    await transact(deps, ({ trx }) =>
      deps.audit.append(trx, {
        type: 'auth.sign_in_failed',
        targetId: user.id,
        ip: actor.ip,
        userAgent: actor.userAgent,
        data: { reason: 'email_unverified' },
      }),
    );
    throw new DomainError(
      'FORBIDDEN',
      'email_unverified',
      'Verify your email address first: follow the link in the mail',
    );
  }
  const upgradedHash = deps.passwords.needsRehash(user.password_hash)
    ? await deps.passwords.hash(input.password)
    : null;
  const rememberMe = input.rememberMe ?? false;
  // issue 15: only now, with the password right, may the answer depend on MFA. The account's
  // counters are reset once the second factor is verified too (mfa/service.ts verifyMfa).
  if (user.mfa_enabled) return requireSecondFactor(deps, actor, user, { rememberMe, upgradedHash });
  await deps.throttle.succeeded(account, actor.ip, { device });
  const now = deps.clock.now();
  const created = await transact(deps, async (work) => {
    await users.setLastSignIn(work.trx, user.id, now);
    // Only if the hash is still the one just verified: never undo a concurrent password change.
    const upgraded = upgradedHash
      ? await users.updatePassword(work.trx, user.id, upgradedHash, { ifHashIs: user.password_hash })
      : false;
    const session = await openSession(deps, actor, work.trx, user.id, rememberMe);
    await deps.audit.append(work.trx, {
      type: 'auth.sign_in',
      actorId: user.id,
      targetId: user.id,
      ip: actor.ip,
      userAgent: actor.userAgent,
      data: { sessionId: session.session.id, rememberMe, ...(upgraded ? { passwordHashUpgraded: true } : {}) },
    });
    // ---- email flows: a notice for a browser that never signed in to the account (not the first
    // sign-in); the rule is mfa/notices.ts's, shared with auth.verifyMfa and auth.signInWithPasskey ----
    await queueNewSignInNotice(deps, work, actor, user, input.deviceCookie, now);
    // The evicted sessions, and the user's cached facts that still carry the previous lastSignInAt.
    work.invalidate({ userIds: [user.id] });
    return session;
  });
  return signedIn(toUser({ ...user, last_sign_in_at: now }), created);
}

// ---- signed-in operations ---------------------------------------------------------------------

/** Ends the caller's session `sessionId`. */
export async function signOut(deps: AuthDeps, actor: Actor, input: { sessionId: string }): Promise<{ ok: true }> {
  await transact(deps, async (work) => {
    await deps.sessions.revoke(work.trx, input.sessionId);
    await deps.audit.append(work.trx, {
      type: 'auth.sign_out',
      actorId: actor.userId,
      targetId: actor.userId,
      ip: actor.ip,
      userAgent: actor.userAgent,
      data: { sessionId: input.sessionId },
    });
    work.invalidate({ sessionIds: [input.sessionId] });
  });
  return { ok: true };
}

/**
 * The caller's user, as the session validation read it. No second query: every change to a user
 * (profile, role, password, deactivation, sign-in) invalidates that user's cached facts on every
 * instance, so this is never older than the last change this deployment made.
 */
export function me(auth: ValidatedSession): User {
  return { ...auth.user };
}

export interface ChangePasswordInput {
  currentPassword: string;
  newPassword: string;
  /** The caller's session: it stays, every other session of the user ends. */
  sessionId: string;
  /** The device cookie the request carried (throttle/device.ts), if any. */
  deviceCookie?: string | null | undefined;
}

/**
 * Needs the current password: a wrong one is BAD_REQUEST (`wrong_password`), recorded as
 * `auth.password_change_failed` and counted towards the account's throttle (so a stolen
 * session cannot guess it unseen). Then the users module's `setPassword` (kind `change`).
 */
export async function changePassword(
  deps: AuthDeps,
  actor: Actor,
  input: ChangePasswordInput,
): Promise<{ ok: true; revokedSessions: number }> {
  const userId = requireUser(actor);
  const row = await users.findById(deps.db.kysely, userId);
  if (!row || !row.is_active) throw unauthenticated();
  const account = accountKey(row, row.email);
  const audited = { actorId: row.id, targetId: row.id, ip: actor.ip, userAgent: actor.userAgent };
  const device = deps.throttle.devices.verify(input.deviceCookie, row.id);
  const verdict = await deps.throttle.attempt(account, actor.ip, { device });
  if (verdict) {
    await transact(deps, ({ trx }) =>
      deps.audit.append(trx, {
        type: 'auth.throttled',
        ...audited,
        data: { scope: verdict.scope, retryAfterSeconds: verdict.retryAfterSeconds, operation: 'change_password' },
      }),
    );
    throw tooManyRequests(verdict.retryAfterSeconds);
  }
  if (!(await deps.passwords.verify(row.password_hash, input.currentPassword))) {
    await transact(deps, ({ trx }) =>
      deps.audit.append(trx, { type: 'auth.password_change_failed', ...audited, data: { sessionId: input.sessionId } }),
    );
    throw new DomainError('BAD_REQUEST', 'wrong_password', 'The current password is not correct', {
      field: 'currentPassword',
    });
  }
  await deps.throttle.succeeded(account, actor.ip, { device });
  return setPassword(deps, asUser(actor, row.id), {
    kind: 'change',
    userId: row.id,
    newPassword: input.newPassword,
    keepSessionId: input.sessionId,
    mustDifferFrom: input.currentPassword,
    // ---- email flows: the notice commits with the change ----
    inTransaction: (work) =>
      queueNotice(deps, work, () =>
        noticeMail('notice_password_changed', row.email, row.name, deps.config.publicOrigin, { at: deps.clock.now() }),
      ),
  });
}

export interface UpdateProfileInput {
  name?: string | undefined;
  email?: string | undefined;
  /** null removes the username. */
  username?: string | null | undefined;
}

/** Changes one's own name, email or username; CONFLICT (with `field`) when taken. */
export async function updateProfile(deps: AuthDeps, actor: Actor, input: UpdateProfileInput): Promise<User> {
  const userId = requireUser(actor);
  // A CONFLICT says an email or username exists: changes to either are throttled like sign-in
  // attempts (per account and address), so a member cannot probe the directory with them.
  const probing = input.email !== undefined || input.username !== undefined;
  const account = `profile:${userId}`;
  if (probing) {
    const verdict = await deps.throttle.attempt(account, actor.ip);
    if (verdict) {
      await transact(deps, ({ trx }) =>
        deps.audit.append(trx, {
          type: 'auth.throttled',
          actorId: userId,
          targetId: userId,
          ip: actor.ip,
          userAgent: actor.userAgent,
          data: { scope: verdict.scope, retryAfterSeconds: verdict.retryAfterSeconds, operation: 'update_profile' },
        }),
      );
      throw tooManyRequests(verdict.retryAfterSeconds);
    }
  }
  const updated = await transact(deps, async (work) => {
    const before = await users.lockById(deps.db, work.trx, userId);
    if (!before || !before.is_active) throw unauthenticated();
    const after: UserRow = { ...before };
    if (input.name !== undefined) after.name = input.name;
    if (input.email !== undefined) after.email = input.email.toLowerCase();
    if (input.username !== undefined) after.username = input.username;
    // ---- email flows: with mail, a new address takes effect only once its link is followed ----
    if (after.email !== before.email && deps.mail.configured) {
      const holder = await users.findByIdentifier(work.trx, after.email);
      if (holder && holder.id !== before.id) {
        throw new DomainError('CONFLICT', 'email_taken', 'This email address is taken', { field: 'email' });
      }
      if (!holder) await requestEmailChange(deps, actor, work, before, after.email);
      after.email = before.email;
    }
    const changes: Record<string, { before: unknown; after: unknown }> = {};
    for (const field of ['name', 'email', 'username'] as const) {
      if (before[field] !== after[field]) changes[field] = { before: before[field], after: after[field] };
    }
    if (Object.keys(changes).length === 0) return before;
    after.updated_at = deps.clock.now();
    await users.updateUserRow(work.trx, after.id, {
      name: after.name,
      email: after.email,
      username: after.username,
      updated_at: after.updated_at,
      // ---- email flows: an address changed without mail is not verified ----
      ...(changes.email ? { email_verified_at: null } : {}),
    });
    if (changes.email) after.email_verified_at = null;
    await deps.audit.append(work.trx, {
      type: 'auth.profile_updated',
      actorId: after.id,
      targetId: after.id,
      ip: actor.ip,
      userAgent: actor.userAgent,
      data: { changes },
    });
    // Cached facts carry the user: drop them here and on the other instances.
    work.invalidate({ userIds: [after.id] });
    return after;
  });
  if (probing) await deps.throttle.succeeded(account, actor.ip);
  return toUser(updated);
}

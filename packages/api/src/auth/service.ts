/**
 * Authentication (design §3–§5, §7 `auth.*`): first-run setup, sign-up, sign-in, sign-out,
 * password change and profile update. Plain functions over the services container; the auth
 * router validates input and sets/clears the cookie.
 *
 * Every change writes its audit event inside the same transaction. Password hashing and
 * verification happen before a transaction opens (they take tens of milliseconds, off the event
 * loop), so no transaction holds a lock while Argon2 runs.
 */
import { randomUUID } from 'node:crypto';
import { sql, withTransaction, type Database, type Transaction, type UserRow } from '@gatehouse/db';
import { DomainError, invalidCredentials, tooManyRequests, unauthenticated } from '../errors.js';
import type { PasswordHasher, Services } from '../services.js';
import type { ValidatedSession } from '../sessions/types.js';
import { newUserRow, toUser, type User } from '../users/mapping.js';
import { assertPasswordPolicy } from './password-policy.js';
import type { RequestMeta, SignInResult } from './types.js';

export type AuthDeps = Pick<Services, 'db' | 'config' | 'clock' | 'passwords' | 'sessions' | 'audit' | 'throttle'>;

/** A fixed key for `pg_advisory_xact_lock`: "first user" creations queue on it. */
const FIRST_USER_LOCK = 0x6761_7465_0001n;

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

function auditMeta(meta: RequestMeta) {
  return { ip: meta.ip, userAgent: meta.userAgent };
}

async function findByIdentifier(deps: AuthDeps, identifier: string): Promise<UserRow | undefined> {
  const key = identifier.trim().toLowerCase();
  // Emails contain '@' and usernames cannot: one indexed look-up either way.
  const column = key.includes('@') ? sql<string>`lower(email)` : sql<string>`lower(username)`;
  return deps.db.kysely.selectFrom('users').selectAll().where(column, '=', key).executeTakeFirst();
}

async function openSession(
  deps: AuthDeps,
  trx: Transaction<Database>,
  user: UserRow,
  rememberMe: boolean,
  meta: RequestMeta,
) {
  return deps.sessions.create(trx, { userId: user.id, rememberMe, ip: meta.ip, userAgent: meta.userAgent });
}

interface NewAccount {
  email: string;
  username?: string | undefined;
  name: string;
  password: string;
}

function accountRow(deps: AuthDeps, input: NewAccount, role: 'admin' | 'member', passwordHash: string): UserRow {
  return newUserRow({
    email: input.email.toLowerCase(),
    username: input.username ?? null,
    name: input.name,
    role,
    passwordHash,
    now: deps.clock.now(),
    signedIn: true,
  });
}

// ---- first run --------------------------------------------------------------------------------

export async function setupStatus(deps: Pick<AuthDeps, 'db'>): Promise<{ needsSetup: boolean }> {
  const row = await deps.db.kysely.selectFrom('users').select('id').limit(1).executeTakeFirst();
  return { needsSetup: row === undefined };
}

/**
 * Creates the first account, an admin, and signs it in. Race-safe: the check and the insert run
 * in one transaction that serializes with any other (SQLite BEGIN IMMEDIATE; PostgreSQL an
 * advisory transaction lock), so of two concurrent calls one wins and the other gets
 * PRECONDITION_FAILED.
 */
export async function createFirstUser(deps: AuthDeps, input: NewAccount, meta: RequestMeta): Promise<SignInResult> {
  const alreadySetUp = () => new DomainError('PRECONDITION_FAILED', 'already_set_up', 'Gatehouse is already set up');
  if (!(await setupStatus(deps)).needsSetup) throw alreadySetUp();
  assertPasswordPolicy(input.password, { email: input.email, username: input.username ?? null });
  const passwordHash = await deps.passwords.hash(input.password);
  const row = accountRow(deps, input, 'admin', passwordHash);
  const created = await withTransaction(deps.db, async (trx) => {
    if (deps.db.dialect === 'postgres') await sql`select pg_advisory_xact_lock(${FIRST_USER_LOCK})`.execute(trx);
    const existing = await trx.selectFrom('users').select('id').limit(1).executeTakeFirst();
    if (existing) throw alreadySetUp();
    await trx.insertInto('users').values(row).execute();
    const session = await openSession(deps, trx, row, false, meta);
    await deps.audit.append(trx, {
      type: 'auth.setup',
      actorId: row.id,
      targetId: row.id,
      ...auditMeta(meta),
      data: { email: row.email, username: row.username, name: row.name, role: row.role, sessionId: session.session.id },
    });
    return session;
  });
  return { status: 'signed-in', user: toUser(row), token: created.token, expiresAt: created.session.expiresAt };
}

// ---- sign-up / sign-in ------------------------------------------------------------------------

export async function signUp(deps: AuthDeps, input: NewAccount, meta: RequestMeta): Promise<SignInResult> {
  if (!deps.config.allowSignup)
    throw new DomainError('FORBIDDEN', 'signup_closed', 'Sign-up is closed: ask an administrator for an account');
  assertPasswordPolicy(input.password, { email: input.email, username: input.username ?? null });
  const passwordHash = await deps.passwords.hash(input.password);
  const row = accountRow(deps, input, 'member', passwordHash);
  const created = await withTransaction(deps.db, async (trx) => {
    await trx.insertInto('users').values(row).execute();
    const session = await openSession(deps, trx, row, false, meta);
    await deps.audit.append(trx, {
      type: 'auth.sign_up',
      actorId: row.id,
      targetId: row.id,
      ...auditMeta(meta),
      data: { email: row.email, username: row.username, name: row.name, sessionId: session.session.id },
    });
    return session;
  });
  return { status: 'signed-in', user: toUser(row), token: created.token, expiresAt: created.session.expiresAt };
}

export interface SignInInput {
  identifier: string;
  password: string;
  rememberMe?: boolean | undefined;
}

/** The account counter's key: the user when the identifier names one, else the identifier. */
function accountKey(user: UserRow | undefined, identifier: string): string {
  return user ? `user:${user.id}` : `identifier:${identifier.trim().toLowerCase()}`;
}

/**
 * Email or username (case-insensitive) and password. Every failure — unknown identifier, wrong
 * password, inactive account — answers the same "Invalid credentials" after the same work (an
 * unknown identifier is verified against a dummy hash). Throttled attempts get TOO_MANY_REQUESTS
 * before any password is checked. A bcrypt or outdated hash is replaced by Argon2id on success.
 */
export async function signIn(deps: AuthDeps, input: SignInInput, meta: RequestMeta): Promise<SignInResult> {
  const user = await findByIdentifier(deps, input.identifier);
  const account = accountKey(user, input.identifier);
  // A browser that signed in to this very account before is exempt from its lockout.
  const device = deps.throttle.devices.verify(meta.deviceCookie, user?.id);

  const verdict = await deps.throttle.attempt(account, meta.ip, { device });
  if (verdict) {
    await withTransaction(deps.db, (trx) =>
      deps.audit.append(trx, {
        type: 'auth.throttled',
        targetId: user?.id ?? null,
        ...auditMeta(meta),
        data: { scope: verdict.scope, retryAfterSeconds: verdict.retryAfterSeconds },
      }),
    );
    throw tooManyRequests(verdict.retryAfterSeconds);
  }

  const storedHash = user?.password_hash ?? (await dummyHash(deps.passwords));
  const passwordOk = await deps.passwords.verify(storedHash, input.password);
  if (!user || !passwordOk || !user.is_active) {
    const reason = !user ? 'unknown_identifier' : !passwordOk ? 'wrong_password' : 'inactive';
    await withTransaction(deps.db, (trx) =>
      deps.audit.append(trx, {
        type: 'auth.sign_in_failed',
        targetId: user?.id ?? null,
        ...auditMeta(meta),
        data: { reason },
      }),
    );
    throw invalidCredentials();
  }

  await deps.throttle.succeeded(account, meta.ip, { device });
  const upgradedHash = deps.passwords.needsRehash(user.password_hash)
    ? await deps.passwords.hash(input.password)
    : null;
  const rememberMe = input.rememberMe ?? false;
  const now = deps.clock.now();
  const created = await withTransaction(deps.db, async (trx) => {
    await trx.updateTable('users').set({ last_sign_in_at: now }).where('id', '=', user.id).execute();
    let upgraded = false;
    if (upgradedHash) {
      // Only if the hash is still the one just verified: never undo a concurrent password change.
      const result = await trx
        .updateTable('users')
        .set({ password_hash: upgradedHash })
        .where('id', '=', user.id)
        .where('password_hash', '=', user.password_hash)
        .executeTakeFirst();
      upgraded = Number(result.numUpdatedRows) > 0;
    }
    const session = await openSession(deps, trx, user, rememberMe, meta);
    await deps.audit.append(trx, {
      type: 'auth.sign_in',
      actorId: user.id,
      targetId: user.id,
      ...auditMeta(meta),
      data: { sessionId: session.session.id, rememberMe, ...(upgraded ? { passwordHashUpgraded: true } : {}) },
    });
    return session;
  });
  // Drops the evicted sessions and, since `auth.me` answers from cached validations, the
  // user's other cached sessions that still carry the previous lastSignInAt.
  await deps.sessions.invalidate({ userId: user.id });
  return {
    status: 'signed-in',
    user: toUser({ ...user, last_sign_in_at: now }),
    token: created.token,
    expiresAt: created.session.expiresAt,
  };
}

// ---- signed-in operations ---------------------------------------------------------------------

export async function signOut(deps: AuthDeps, auth: ValidatedSession, meta: RequestMeta): Promise<{ ok: true }> {
  await withTransaction(deps.db, async (trx) => {
    await deps.sessions.revoke(trx, auth.session.id);
    await deps.audit.append(trx, {
      type: 'auth.sign_out',
      actorId: auth.user.id,
      targetId: auth.user.id,
      ...auditMeta(meta),
      data: { sessionId: auth.session.id },
    });
  });
  await deps.sessions.invalidate({ sessionIds: [auth.session.id] });
  return { ok: true };
}

/**
 * The caller's user, as the session validation read it. No second query: every change to a user
 * (profile, role, password, deactivation, sign-in) invalidates that user's cached validations on
 * every instance, so this is never older than the last change this deployment made.
 */
export function me(auth: ValidatedSession): User {
  return { ...auth.user };
}

export interface ChangePasswordInput {
  currentPassword: string;
  newPassword: string;
}

/**
 * Needs the current password (BAD_REQUEST when wrong; failures count towards the account's
 * throttle). Revokes every other session of the user; the caller's own session stays.
 */
export async function changePassword(
  deps: AuthDeps,
  auth: ValidatedSession,
  input: ChangePasswordInput,
  meta: RequestMeta,
): Promise<{ ok: true; revokedSessions: number }> {
  const row = await deps.db.kysely.selectFrom('users').selectAll().where('id', '=', auth.user.id).executeTakeFirst();
  if (!row || !row.is_active) throw unauthenticated();
  const account = accountKey(row, row.email);
  const device = deps.throttle.devices.verify(meta.deviceCookie, row.id);
  const verdict = await deps.throttle.attempt(account, meta.ip, { device });
  if (verdict) {
    await withTransaction(deps.db, (trx) =>
      deps.audit.append(trx, {
        type: 'auth.throttled',
        actorId: row.id,
        targetId: row.id,
        ...auditMeta(meta),
        data: { scope: verdict.scope, retryAfterSeconds: verdict.retryAfterSeconds, operation: 'change_password' },
      }),
    );
    throw tooManyRequests(verdict.retryAfterSeconds);
  }
  if (!(await deps.passwords.verify(row.password_hash, input.currentPassword))) {
    throw new DomainError('BAD_REQUEST', 'wrong_password', 'The current password is not correct', {
      field: 'currentPassword',
    });
  }
  await deps.throttle.succeeded(account, meta.ip, { device });
  assertPasswordPolicy(input.newPassword, { email: row.email, username: row.username }, 'newPassword');
  if (input.newPassword === input.currentPassword) {
    throw new DomainError('BAD_REQUEST', 'password_unchanged', 'Choose a password different from the current one', {
      field: 'newPassword',
    });
  }
  const passwordHash = await deps.passwords.hash(input.newPassword);
  const revokedSessions = await withTransaction(deps.db, async (trx) => {
    await trx
      .updateTable('users')
      .set({ password_hash: passwordHash, updated_at: deps.clock.now() })
      .where('id', '=', row.id)
      .execute();
    const revoked = await deps.sessions.revokeAllForUser(trx, row.id, { exceptSessionId: auth.session.id });
    await deps.audit.append(trx, {
      type: 'auth.password_changed',
      actorId: row.id,
      targetId: row.id,
      ...auditMeta(meta),
      data: { revokedSessions: revoked },
    });
    return revoked;
  });
  await deps.sessions.invalidate({ userId: row.id });
  return { ok: true, revokedSessions };
}

export interface UpdateProfileInput {
  name?: string | undefined;
  email?: string | undefined;
  /** null removes the username. */
  username?: string | null | undefined;
}

/** Changes one's own name, email or username; CONFLICT (with `field`) when taken. */
export async function updateProfile(
  deps: AuthDeps,
  auth: ValidatedSession,
  input: UpdateProfileInput,
  meta: RequestMeta,
): Promise<User> {
  const updated = await withTransaction(deps.db, async (trx) => {
    let query = trx.selectFrom('users').selectAll().where('id', '=', auth.user.id);
    if (deps.db.dialect === 'postgres') query = query.forUpdate();
    const before = await query.executeTakeFirst();
    if (!before || !before.is_active) throw unauthenticated();
    const after: UserRow = { ...before };
    if (input.name !== undefined) after.name = input.name;
    if (input.email !== undefined) after.email = input.email.toLowerCase();
    if (input.username !== undefined) after.username = input.username;
    const changes: Record<string, { before: unknown; after: unknown }> = {};
    for (const field of ['name', 'email', 'username'] as const) {
      if (before[field] !== after[field]) changes[field] = { before: before[field], after: after[field] };
    }
    if (Object.keys(changes).length === 0) return { row: before, changed: false };
    after.updated_at = deps.clock.now();
    await trx
      .updateTable('users')
      .set({ name: after.name, email: after.email, username: after.username, updated_at: after.updated_at })
      .where('id', '=', after.id)
      .execute();
    await deps.audit.append(trx, {
      type: 'auth.profile_updated',
      actorId: after.id,
      targetId: after.id,
      ...auditMeta(meta),
      data: { changes },
    });
    return { row: after, changed: true };
  });
  // Cached validations carry the user: drop them here and on the other instances.
  if (updated.changed) await deps.sessions.invalidate({ userId: auth.user.id });
  return toUser(updated.row);
}

/**
 * The users module's use cases (architecture §6, §7 `user.*`): the one way to create an account, set a
 * password, change or delete a user, and find one by identifier. The API (auth and user
 * routers), the CLI and the test helpers all come through here; only repository.ts touches the
 * table. Each function takes `(deps, actor, input)`.
 *
 * Every change and its audit event commit in one `transact`, which drops the stale cached
 * sessions/users after the commit. Writes only an administrator may make re-check the actor in
 * that transaction (`requireAdmin` with the actor's row locked), so an admin demoted while a
 * password was hashing is refused. Changes that could leave no active admin lock every active
 * admin row first (repository `lockForChange`), so two admins demoting each other at the same
 * moment cannot both succeed.
 */
import { sql, type Database, type Role, type Transaction, type UserRow } from '@gatehouse/db';
import { recorded, type Actor } from '../actor.js';
import type { AuditEventType } from '../audit/types.js';
import { assertPasswordPolicy } from '../auth/password-policy.js';
import { DomainError, notFound, unauthenticated } from '../errors.js';
import type { Services } from '../services.js';
import { transact, type Work } from '../unit-of-work.js';
import { requireAdmin } from './authorize.js';
import { decodeUserCursor, encodeUserCursor } from './cursor.js';
import { isUserId } from './identifier.js';
import { newUserRow, toUser, type User } from './mapping.js';
import * as repo from './repository.js';

/** What the user functions need of the services container (`Services` satisfies it). */
export type UserDeps = Pick<Services, 'db' | 'config' | 'clock' | 'passwords' | 'sessions' | 'audit' | 'invalidator'>;

/** A fixed key for `pg_advisory_xact_lock`: "first user" creations queue on it. */
const FIRST_USER_LOCK = 0x6761_7465_0001n;

const userNotFound = () => notFound('User', 'user_not_found');

// ---- reading ----------------------------------------------------------------------------------

export interface ListUsersInput {
  limit?: number;
  cursor?: string | null | undefined;
  search?: string | undefined;
  role?: Role | undefined;
  status?: 'active' | 'inactive' | undefined;
}

export interface UserPage {
  items: User[];
  nextCursor: string | null;
  total: number;
}

/**
 * Newest first, keyset-paginated on (created_at, id): users added while a client pages through
 * the list sort before its cursor, so they never shift, repeat or hide the following pages.
 */
export async function listUsers(deps: Pick<UserDeps, 'db'>, input: ListUsersInput = {}): Promise<UserPage> {
  const limit = input.limit ?? 20;
  const after = input.cursor ? decodeUserCursor(input.cursor) : null;
  const filter = { search: input.search, role: input.role, status: input.status };
  const rows = await repo.listUserRows(deps.db.kysely, filter, { after, limit: limit + 1 });
  const total = await repo.countUsers(deps.db.kysely, filter);
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page.map(toUser),
    nextCursor: rows.length > limit && last ? encodeUserCursor({ createdAt: last.created_at, id: last.id }) : null,
    total,
  };
}

export async function getUserById(deps: Pick<UserDeps, 'db'>, id: string): Promise<User> {
  const row = await repo.findById(deps.db.kysely, id);
  if (!row) throw userNotFound();
  return toUser(row);
}

/**
 * A user by id, email or username — exact, under the one identifier rule (identifier.ts), the
 * same as sign-in. NOT_FOUND (`user_not_found`) when nobody has it.
 */
export async function findUserByIdentifier(deps: Pick<UserDeps, 'db'>, identifier: string): Promise<User> {
  const row = isUserId(identifier)
    ? await repo.findById(deps.db.kysely, identifier.trim().toLowerCase())
    : await repo.findByIdentifier(deps.db.kysely, identifier);
  if (!row) throw userNotFound();
  return toUser(row);
}

/** Whether the first account still has to be created. */
export async function needsSetup(deps: Pick<UserDeps, 'db'>): Promise<boolean> {
  return !(await repo.anyUserExists(deps.db.kysely));
}

// ---- creating ---------------------------------------------------------------------------------

export interface CreateUserInput {
  email: string;
  username?: string | null | undefined;
  name: string;
  password: string;
  /** For `kind: 'admin'` (default member); setup makes an admin, sign-up a member. */
  role?: Role | undefined;
}

/**
 * How the account comes to be, which decides its role, who may ask and the audit event:
 * - `first`: the first account, an admin (`auth.setup`); refused once any account exists.
 * - `sign_up`: self-service, a member (`auth.sign_up`); refused while ALLOW_SIGNUP is off.
 * - `admin`: by an administrator or the CLI operator, any role (`user.created`).
 * - `invitation`: an invited person following the link (invitations/service.ts, which checked the
 *   invitation): the invited role, the address verified (`auth.invitation_accepted`).
 */
export type AccountKind = 'first' | 'sign_up' | 'admin' | 'invitation';

export interface CreateUserOptions<S> {
  kind: AccountKind;
  /**
   * Signs the new account in: opens its session inside the same transaction (setup and sign-up
   * through the API). The new account is then its own actor in the audit event.
   */
  openSession?: (trx: Transaction<Database>, user: UserRow) => Promise<S & { session: { id: string } }>;
}

const alreadySetUp = () => new DomainError('PRECONDITION_FAILED', 'already_set_up', 'Gatehouse is already set up');

const auditTypeOf: Record<AccountKind, AuditEventType> = {
  first: 'auth.setup',
  sign_up: 'auth.sign_up',
  admin: 'user.created',
  invitation: 'auth.invitation_accepted',
};

/**
 * The one way an account is created. Checks who may ask and the password policy, hashes the
 * password before any transaction opens, then inserts the row and its audit event together.
 *
 * Race-safe where it matters: the first account is created under a lock that serializes every
 * such attempt (SQLite BEGIN IMMEDIATE; PostgreSQL an advisory transaction lock), so of two
 * concurrent setups — API or CLI — exactly one wins and the other gets PRECONDITION_FAILED
 * (`already_set_up`). An admin's create re-checks the actor's role in the write transaction.
 * A taken email or username is a UniqueViolationError (CONFLICT with `field` through the API).
 */
export async function createUser<S = never>(
  deps: UserDeps,
  actor: Actor,
  input: CreateUserInput,
  options: CreateUserOptions<S> = { kind: 'admin' },
): Promise<{ user: User; session: (S & { session: { id: string } }) | null }> {
  const { kind, openSession } = options;
  if (kind === 'first' && !(await needsSetup(deps))) throw alreadySetUp();
  if (kind === 'sign_up' && !deps.config.allowSignup) {
    throw new DomainError('FORBIDDEN', 'signup_closed', 'Sign-up is closed: ask an administrator for an account');
  }
  if (kind === 'admin') await requireAdmin(deps, actor);
  const username = input.username ?? null;
  await assertPasswordPolicy(input.password, { email: input.email, username });

  const passwordHash = await deps.passwords.hash(input.password);
  const role: Role = kind === 'first' ? 'admin' : kind === 'sign_up' ? 'member' : (input.role ?? 'member');
  const now = deps.clock.now();
  const row = newUserRow({
    email: input.email,
    username,
    name: input.name,
    role,
    passwordHash,
    now,
    signedIn: openSession !== undefined,
    emailVerifiedAt: kind === 'invitation' ? now : null,
  });

  const session = await transact(deps, async ({ trx }) => {
    if (kind === 'first') {
      if (deps.db.dialect === 'postgres') await sql`select pg_advisory_xact_lock(${FIRST_USER_LOCK})`.execute(trx);
      if (await repo.anyUserExists(trx)) throw alreadySetUp();
    }
    if (kind === 'admin') await requireAdmin(deps, actor, trx);
    await repo.insertUser(trx, row);
    const opened = openSession ? await openSession(trx, row) : null;
    const data: Record<string, unknown> = { email: row.email, username: row.username, name: row.name };
    if (kind !== 'sign_up') data.role = row.role;
    if (opened) data.sessionId = opened.session.id;
    const by = opened ? { ...actor, userId: row.id } : actor;
    await deps.audit.append(trx, recorded(by, row.id, auditTypeOf[kind], data));
    return opened;
  });
  return { user: toUser(row), session };
}

// ---- #16: service accounts --------------------------------------------------------------------

const serviceAccountHasNoPassword = () =>
  new DomainError('PRECONDITION_FAILED', 'service_account', 'A service account has no password: it uses API keys');

export interface CreateServiceAccountInput {
  name: string;
  role?: Role | undefined;
}

/**
 * A service account (issue 16): a user of kind `service`, created by an administrator, with no
 * password (the stored hash is empty, which no password verifies against, and sign-in refuses the
 * kind anyway) and a reserved address under `.invalid` (RFC 2606), so it can never receive mail or
 * collide with a person's. It owns API keys and is listed and managed like any other user.
 */
export async function createServiceAccount(
  deps: UserDeps,
  actor: Actor,
  input: CreateServiceAccountInput,
): Promise<User> {
  await requireAdmin(deps, actor);
  const role: Role = input.role ?? 'member';
  const base = newUserRow({
    email: 'pending@service.invalid',
    username: null,
    name: input.name,
    role,
    passwordHash: '',
    now: deps.clock.now(),
    kind: 'service',
  });
  const email = `service-${base.id}@service.invalid`;
  const row: UserRow = { ...base, email, email_key: email };
  await transact(deps, async ({ trx }) => {
    await requireAdmin(deps, actor, trx);
    await repo.insertUser(trx, row);
    await deps.audit.append(trx, recorded(actor, row.id, 'user.created', { kind: 'service', name: row.name, role }));
  });
  return toUser(row);
}

// ---- passwords --------------------------------------------------------------------------------

export interface SetPasswordInput {
  userId: string;
  newPassword: string;
  /**
   * `change`: the user changes their own password (the caller checked the current one); their
   * session `keepSessionId` stays, every other ends (`auth.password_changed`).
   * `reset`: an administrator or the CLI operator sets it; every session ends (`user.password_set`).
   */
  kind: 'change' | 'reset';
  keepSessionId?: string | undefined;
  /** Refuse (`password_unchanged`) a new password equal to this one (the current password). */
  mustDifferFrom?: string | undefined;
  /** Email flows: more work in the same transaction (the security notice mail). */
  inTransaction?: ((work: Work) => Promise<void>) | undefined;
}

/**
 * The one way a password is set: the policy with the account in view (field `newPassword`),
 * Argon2id before any transaction opens, then the hash, the sessions revoked and the audit event
 * in one transaction; the user's cached sessions are dropped after the commit.
 */
export async function setPassword(
  deps: UserDeps,
  actor: Actor,
  input: SetPasswordInput,
): Promise<{ ok: true; revokedSessions: number }> {
  if (input.kind === 'reset') await requireAdmin(deps, actor);
  // A change is one's own (the caller verified the current password); anyone else's is a reset.
  if (input.kind === 'change' && actor.userId !== input.userId) throw unauthenticated();
  const target = await repo.findById(deps.db.kysely, input.userId);
  if (!target) throw userNotFound();
  if (target.kind === 'service') throw serviceAccountHasNoPassword();
  await assertPasswordPolicy(input.newPassword, { email: target.email, username: target.username }, 'newPassword');
  if (input.mustDifferFrom !== undefined && input.newPassword === input.mustDifferFrom) {
    throw new DomainError('BAD_REQUEST', 'password_unchanged', 'Choose a password different from the current one', {
      field: 'newPassword',
    });
  }
  const passwordHash = await deps.passwords.hash(input.newPassword);

  const revokedSessions = await transact(deps, async (work) => {
    if (input.kind === 'reset') {
      await repo.lockForChange(deps.db, work.trx, { ids: [actor.userId, input.userId] });
      await requireAdmin(deps, actor, work.trx);
    }
    const updated = await repo.updatePassword(work.trx, input.userId, passwordHash, { now: deps.clock.now() });
    if (!updated) throw userNotFound();
    const keep = input.kind === 'change' && input.keepSessionId ? { exceptSessionId: input.keepSessionId } : {};
    const revoked = await deps.sessions.revokeAllForUser(work.trx, input.userId, keep);
    const type = input.kind === 'change' ? 'auth.password_changed' : 'user.password_set';
    await deps.audit.append(work.trx, recorded(actor, input.userId, type, { revokedSessions: revoked }));
    await input.inTransaction?.(work);
    work.invalidate({ userIds: [input.userId] });
    return revoked;
  });
  return { ok: true, revokedSessions };
}

// ---- changing and deleting --------------------------------------------------------------------

export interface UpdateUserInput {
  id: string;
  name?: string | undefined;
  email?: string | undefined;
  /** `null` removes the username. */
  username?: string | null | undefined;
  role?: Role | undefined;
  isActive?: boolean | undefined;
}

type ChangeableField = 'name' | 'email' | 'username' | 'role' | 'isActive';
type Changes = Partial<Record<ChangeableField, { before: unknown; after: unknown }>>;

const lastAdmin = (what: 'demoted' | 'deactivated' | 'deleted') =>
  new DomainError('CONFLICT', 'last_admin', `The last active admin cannot be ${what}`);

/**
 * Updates name, email, username, role and active flag. Each kind of change writes its own audit
 * event with before/after values: `user.role_changed`, `user.deactivated` (all the user's
 * sessions are revoked), `user.reactivated`, and `user.updated` for name/email/username.
 * CONFLICT when the email/username is taken or when this would demote or deactivate the last
 * active admin; NOT_FOUND for an unknown id. An update that changes nothing writes nothing.
 */
export async function updateUser(deps: UserDeps, actor: Actor, input: UpdateUserInput): Promise<User> {
  await requireAdmin(deps, actor);
  const mayRemoveAdmin = input.role === 'member' || input.isActive === false;
  const updated = await transact(deps, async (work) => {
    const locked = await repo.lockForChange(deps.db, work.trx, {
      ids: [actor.userId, input.id],
      activeAdmins: mayRemoveAdmin,
    });
    await requireAdmin(deps, actor, work.trx);
    const before = locked.find((row) => row.id === input.id);
    if (!before) throw userNotFound();

    const after: UserRow = { ...before };
    if (input.name !== undefined) after.name = input.name;
    if (input.email !== undefined) after.email = input.email;
    if (input.username !== undefined) after.username = input.username;
    if (input.role !== undefined) after.role = input.role;
    if (input.isActive !== undefined) after.is_active = input.isActive;

    const changes = diff(before, after);
    if (Object.keys(changes).length === 0) return before;

    const wasActiveAdmin = before.role === 'admin' && before.is_active;
    const staysActiveAdmin = after.role === 'admin' && after.is_active;
    const activeAdmins = locked.filter((row) => row.role === 'admin' && row.is_active).length;
    if (wasActiveAdmin && !staysActiveAdmin && activeAdmins <= 1) {
      throw lastAdmin(after.is_active ? 'demoted' : 'deactivated');
    }

    after.updated_at = deps.clock.now();
    if (changes.email) after.email_verified_at = null;
    await repo.updateUserRow(work.trx, after.id, {
      name: after.name,
      email: after.email,
      username: after.username,
      role: after.role,
      is_active: after.is_active,
      updated_at: after.updated_at,
      // Email flows: an address an administrator set is not verified by anyone.
      ...(changes.email ? { email_verified_at: null } : {}),
    });

    const { role, isActive, ...profile } = changes;
    const audit = (type: AuditEventType, data: Record<string, unknown>) =>
      deps.audit.append(work.trx, recorded(actor, after.id, type, data));
    if (Object.keys(profile).length > 0) await audit('user.updated', { changes: profile });
    if (role) await audit('user.role_changed', { changes: { role } });
    if (isActive && after.is_active) {
      await audit('user.reactivated', { changes: { isActive } });
    } else if (isActive) {
      const revokedSessions = await deps.sessions.revokeAllForUser(work.trx, after.id);
      await audit('user.deactivated', { changes: { isActive }, revokedSessions });
    }
    // A cached session must not outlive a deactivation, nor keep a stale role or profile.
    work.invalidate({ userIds: [after.id] });
    return after;
  });
  return toUser(updated);
}

/**
 * Deletes a user. Their sessions go with them (ON DELETE CASCADE) and leave every session cache;
 * audit events keep the ids. CONFLICT for the last active admin; NOT_FOUND for an unknown id.
 */
export async function deleteUser(deps: UserDeps, actor: Actor, input: { id: string }): Promise<{ ok: true }> {
  await requireAdmin(deps, actor);
  await transact(deps, async (work) => {
    const locked = await repo.lockForChange(deps.db, work.trx, { ids: [actor.userId, input.id], activeAdmins: true });
    await requireAdmin(deps, actor, work.trx);
    const target = locked.find((row) => row.id === input.id);
    if (!target) throw userNotFound();
    const activeAdmins = locked.filter((row) => row.role === 'admin' && row.is_active).length;
    if (target.role === 'admin' && target.is_active && activeAdmins <= 1) throw lastAdmin('deleted');
    const revokedSessions = await repo.countSessionsOf(work.trx, input.id);
    await repo.deleteUserRow(work.trx, input.id);
    await deps.audit.append(
      work.trx,
      recorded(actor, input.id, 'user.deleted', {
        email: target.email,
        username: target.username,
        role: target.role,
        revokedSessions,
      }),
    );
    work.invalidate({ userIds: [input.id] });
  });
  return { ok: true };
}

function diff(before: UserRow, after: UserRow): Changes {
  const changes: Changes = {};
  const fields: [ChangeableField, keyof UserRow][] = [
    ['name', 'name'],
    ['email', 'email'],
    ['username', 'username'],
    ['role', 'role'],
    ['isActive', 'is_active'],
  ];
  for (const [field, column] of fields) {
    if (before[column] !== after[column]) changes[field] = { before: before[column], after: after[column] };
  }
  return changes;
}

// ---- #17 user import --------------------------------------------------------------------------

/** The user imported with this id from the old backend (`user.byExternalId`), or NOT_FOUND. */
export async function getUserByExternalId(deps: Pick<UserDeps, 'db'>, externalId: string): Promise<User> {
  const row = await repo.findByExternalId(deps.db.kysely, externalId);
  if (!row) throw userNotFound();
  return toUser(row);
}

/**
 * User management for administrators (design §6, §7 `user.*`). Plain functions taking their
 * dependencies as arguments; the user router validates, authorizes and calls them.
 *
 * Every change and its audit event commit in one transaction. Changes that could leave the
 * system without an active admin (demotion, deactivation, deletion) first lock the active admin
 * rows (PostgreSQL `SELECT … FOR UPDATE`; SQLite's `BEGIN IMMEDIATE` already serializes writers),
 * so two admins demoting each other at the same moment cannot both succeed.
 */
import { sql, type Expression, type ExpressionBuilder, type SqlBool } from 'kysely';
import { withTransaction, type Database, type Db, type Role, type Transaction, type UserRow } from '@gatehouse/db';
import { DomainError, notFound } from '../errors.js';
import type { Clock } from '../clock.js';
import type { AuditAppender, PasswordHasher, SessionStore } from '../services.js';
import type { AuditEventInput } from '../audit/types.js';
import { decodeUserCursor, encodeUserCursor } from './cursor.js';
import { newUserRow, toUser, type User } from './mapping.js';
import { containsPattern } from './search.js';

/** What the user functions need of the services container (`Services` satisfies it). */
export interface UserDeps {
  db: Db;
  clock: Clock;
  audit: AuditAppender;
  sessions: SessionStore;
  passwords: PasswordHasher;
}

/**
 * The password policy (auth/password-policy `assertPasswordPolicy`): throws a BAD_REQUEST
 * DomainError naming `field` when `password` is not acceptable for this account.
 */
export type PasswordPolicyCheck = (
  password: string,
  account: { email: string; username: string | null },
  field?: string,
) => void;

/** Who is making the change, for the audit log. */
export interface Actor {
  actorId: string;
  ip: string | null;
  userAgent: string | null;
}

export interface ListUsersInput {
  limit?: number;
  cursor?: string | null;
  search?: string;
  role?: Role;
  status?: 'active' | 'inactive';
}

export interface UserPage {
  items: User[];
  nextCursor: string | null;
  total: number;
}

export interface CreateUserInput {
  email: string;
  username?: string | undefined;
  name: string;
  password: string;
  role?: Role;
}

export interface UpdateUserInput {
  id: string;
  name?: string | undefined;
  email?: string | undefined;
  /** `null` removes the username. */
  username?: string | null | undefined;
  role?: Role | undefined;
  isActive?: boolean | undefined;
}

type UsersExpressionBuilder = ExpressionBuilder<Database, 'users'>;

function filterConditions(eb: UsersExpressionBuilder, input: ListUsersInput): Expression<SqlBool>[] {
  const conditions: Expression<SqlBool>[] = [];
  const search = input.search?.trim();
  if (search) {
    const pattern = containsPattern(search);
    const like = (column: 'email' | 'username' | 'name') =>
      sql<SqlBool>`lower(${eb.ref(column)}) like ${pattern} escape '\\'`;
    conditions.push(eb.or([like('email'), like('username'), like('name')]));
  }
  if (input.role) conditions.push(eb('role', '=', input.role));
  if (input.status) conditions.push(eb('is_active', '=', input.status === 'active'));
  return conditions;
}

/**
 * Newest first, keyset-paginated on (created_at, id): users added while a client pages through
 * the list sort before its cursor, so they never shift, repeat or hide the following pages.
 */
export async function listUsers(deps: Pick<UserDeps, 'db'>, input: ListUsersInput = {}): Promise<UserPage> {
  const limit = input.limit ?? 20;
  const after = input.cursor ? decodeUserCursor(input.cursor) : null;
  const { kysely } = deps.db;

  const rows = await kysely
    .selectFrom('users')
    .selectAll()
    .where((eb) => {
      const conditions = filterConditions(eb, input);
      if (after) {
        conditions.push(
          eb.or([
            eb('created_at', '<', after.createdAt),
            eb.and([eb('created_at', '=', after.createdAt), eb('id', '<', after.id)]),
          ]),
        );
      }
      return eb.and(conditions);
    })
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit + 1)
    .execute();

  const { total } = await kysely
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<number>().as('total'))
    .where((eb) => eb.and(filterConditions(eb, input)))
    .executeTakeFirstOrThrow();

  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page.map(toUser),
    nextCursor: rows.length > limit && last ? encodeUserCursor({ createdAt: last.created_at, id: last.id }) : null,
    total: Number(total),
  };
}

export async function getUserById(deps: Pick<UserDeps, 'db'>, id: string): Promise<User> {
  const row = await deps.db.kysely.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) throw notFound('User', 'user_not_found');
  return toUser(row);
}

/** An administrator creates an account with the role of their choice (default member). */
export async function createUser(
  deps: UserDeps,
  checkPassword: PasswordPolicyCheck,
  actor: Actor,
  input: CreateUserInput,
): Promise<User> {
  const username = input.username ?? null;
  checkPassword(input.password, { email: input.email, username });
  const passwordHash = await deps.passwords.hash(input.password);
  const row = newUserRow({
    email: input.email,
    username,
    name: input.name,
    role: input.role ?? 'member',
    passwordHash,
    now: deps.clock.now(),
  });

  await withTransaction(deps.db, async (trx) => {
    await trx.insertInto('users').values(row).execute();
    await deps.audit.append(trx, {
      ...auditFrom(actor, row.id),
      type: 'user.created',
      data: { email: row.email, username: row.username, name: row.name, role: row.role },
    });
  });
  return toUser(row);
}

type ChangeableField = 'name' | 'email' | 'username' | 'role' | 'isActive';
type Changes = Partial<Record<ChangeableField, { before: unknown; after: unknown }>>;

/**
 * Updates name, email, username, role and active flag. Each kind of change writes its own audit
 * event with before/after values: `user.role_changed`, `user.deactivated` (all the user's
 * sessions are revoked), `user.reactivated`, and `user.updated` for name/email/username.
 * CONFLICT when the email/username is taken or when this would demote or deactivate the last
 * active admin; NOT_FOUND for an unknown id. An update that changes nothing writes nothing.
 */
export async function updateUser(deps: UserDeps, actor: Actor, input: UpdateUserInput): Promise<User> {
  const mayRemoveAdmin = input.role === 'member' || input.isActive === false;
  const result = await withTransaction(deps.db, async (trx) => {
    const activeAdmins = mayRemoveAdmin ? await lockActiveAdmins(deps, trx) : null;
    const before = await readForUpdate(deps, trx, input.id);

    const after: UserRow = { ...before };
    if (input.name !== undefined) after.name = input.name;
    if (input.email !== undefined) after.email = input.email;
    if (input.username !== undefined) after.username = input.username;
    if (input.role !== undefined) after.role = input.role;
    if (input.isActive !== undefined) after.is_active = input.isActive;

    const changes = diff(before, after);
    if (Object.keys(changes).length === 0) return { row: before, changed: false };

    const wasActiveAdmin = before.role === 'admin' && before.is_active;
    const staysActiveAdmin = after.role === 'admin' && after.is_active;
    if (wasActiveAdmin && !staysActiveAdmin && (activeAdmins ?? 0) <= 1) {
      throw new DomainError(
        'CONFLICT',
        'last_admin',
        after.is_active ? 'The last active admin cannot be demoted' : 'The last active admin cannot be deactivated',
      );
    }

    after.updated_at = deps.clock.now();
    await trx
      .updateTable('users')
      .set({
        name: after.name,
        email: after.email,
        username: after.username,
        role: after.role,
        is_active: after.is_active,
        updated_at: after.updated_at,
      })
      .where('id', '=', after.id)
      .execute();

    const base = auditFrom(actor, after.id);
    const { role, isActive, ...profile } = changes;
    if (Object.keys(profile).length > 0) {
      await deps.audit.append(trx, { ...base, type: 'user.updated', data: { changes: profile } });
    }
    if (role) await deps.audit.append(trx, { ...base, type: 'user.role_changed', data: { changes: { role } } });
    if (isActive && after.is_active) {
      await deps.audit.append(trx, { ...base, type: 'user.reactivated', data: { changes: { isActive } } });
    } else if (isActive) {
      const revokedSessions = await deps.sessions.revokeAllForUser(trx, after.id);
      await deps.audit.append(trx, {
        ...base,
        type: 'user.deactivated',
        data: { changes: { isActive }, revokedSessions },
      });
    }
    return { row: after, changed: true };
  });
  // A cached validation must not outlive a deactivation, nor keep a stale role or profile.
  if (result.changed) await deps.sessions.invalidate({ userId: input.id });
  return toUser(result.row);
}

/** An administrator resets a user's password: policy-checked; every session of the user ends. */
export async function setUserPassword(
  deps: UserDeps,
  checkPassword: PasswordPolicyCheck,
  actor: Actor,
  input: { id: string; newPassword: string },
): Promise<{ ok: true; revokedSessions: number }> {
  const target = await deps.db.kysely
    .selectFrom('users')
    .select(['email', 'username'])
    .where('id', '=', input.id)
    .executeTakeFirst();
  if (!target) throw notFound('User', 'user_not_found');
  checkPassword(input.newPassword, target, 'newPassword');
  const passwordHash = await deps.passwords.hash(input.newPassword);

  const revokedSessions = await withTransaction(deps.db, async (trx) => {
    const updated = await trx
      .updateTable('users')
      .set({ password_hash: passwordHash, updated_at: deps.clock.now() })
      .where('id', '=', input.id)
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) === 0) throw notFound('User', 'user_not_found');
    const revoked = await deps.sessions.revokeAllForUser(trx, input.id);
    await deps.audit.append(trx, {
      ...auditFrom(actor, input.id),
      type: 'user.password_set',
      data: { revokedSessions: revoked },
    });
    return revoked;
  });
  await deps.sessions.invalidate({ userId: input.id });
  return { ok: true, revokedSessions };
}

/**
 * Deletes a user. Their sessions go with them (ON DELETE CASCADE) and leave every session cache;
 * audit events keep the ids. CONFLICT for the last active admin; NOT_FOUND for an unknown id.
 */
export async function deleteUser(deps: UserDeps, actor: Actor, input: { id: string }): Promise<{ ok: true }> {
  await withTransaction(deps.db, async (trx) => {
    const activeAdmins = await lockActiveAdmins(deps, trx);
    const target = await readForUpdate(deps, trx, input.id);
    if (target.role === 'admin' && target.is_active && activeAdmins <= 1) {
      throw new DomainError('CONFLICT', 'last_admin', 'The last active admin cannot be deleted');
    }
    const { sessions } = await trx
      .selectFrom('sessions')
      .select((eb) => eb.fn.countAll<number>().as('sessions'))
      .where('user_id', '=', input.id)
      .executeTakeFirstOrThrow();
    await trx.deleteFrom('users').where('id', '=', input.id).execute();
    await deps.audit.append(trx, {
      ...auditFrom(actor, input.id),
      type: 'user.deleted',
      data: { email: target.email, username: target.username, role: target.role, revokedSessions: Number(sessions) },
    });
  });
  await deps.sessions.invalidate({ userId: input.id });
  return { ok: true };
}

/**
 * Locks every active admin row (PostgreSQL, in id order so two lockers never deadlock) and
 * returns how many there are. A transaction waiting here re-reads the rows once the holder
 * commits, so it counts the admins that are left, not the ones its snapshot saw.
 */
async function lockActiveAdmins(deps: Pick<UserDeps, 'db'>, trx: Transaction<Database>): Promise<number> {
  const rows = await trx
    .selectFrom('users')
    .select('id')
    .where('role', '=', 'admin')
    .where('is_active', '=', true)
    .orderBy('id')
    .$if(deps.db.dialect === 'postgres', (qb) => qb.forUpdate())
    .execute();
  return rows.length;
}

async function readForUpdate(deps: Pick<UserDeps, 'db'>, trx: Transaction<Database>, id: string): Promise<UserRow> {
  const row = await trx
    .selectFrom('users')
    .selectAll()
    .where('id', '=', id)
    .$if(deps.db.dialect === 'postgres', (qb) => qb.forUpdate())
    .executeTakeFirst();
  if (!row) throw notFound('User', 'user_not_found');
  return row;
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

function auditFrom(actor: Actor, targetId: string): Omit<AuditEventInput, 'type'> {
  return { actorId: actor.actorId, targetId, ip: actor.ip, userAgent: actor.userAgent };
}

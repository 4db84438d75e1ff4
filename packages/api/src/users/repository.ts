/**
 * The `users` table: the only code that reads or writes it (sessions/ joins it for the active
 * flag; the audit log stores ids only). Plain functions over an executor — the database's
 * Kysely instance for reads, the write transaction (`work.trx`) for everything inside one.
 * Identifiers are compared through their stored normalized form (identifier.ts), nothing else.
 */
import { sql, type Expression, type ExpressionBuilder, type SqlBool } from 'kysely';
import {
  forUpdate,
  type Database,
  type Db,
  type Kysely,
  type Role,
  type Transaction,
  type UserRow,
} from '@gatehouse/db';
import { identifierColumn, identifierKey } from './identifier.js';
import { containsPattern } from './search.js';
import type { UserCursor } from './cursor.js';

/** Reads run on the database or inside a transaction (a Transaction is a Kysely). */
export type Executor = Kysely<Database>;

export function findById(executor: Executor, id: string): Promise<UserRow | undefined> {
  return executor.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

/** The user without its secrets (no password hash, no MFA secret): what a signed-in request needs. */
export function findPublicById(executor: Executor, id: string) {
  return executor
    .selectFrom('users')
    .select([
      'id',
      'email',
      'username',
      'name',
      'role',
      'is_active',
      'created_at',
      'updated_at',
      'last_sign_in_at',
      'mfa_enabled',
      'external_id',
      'email_verified_at',
      'kind',
    ])
    .where('id', '=', id)
    .executeTakeFirst();
}

/** By email or username, under the one identifier rule (identifier.ts). */
export function findByIdentifier(executor: Executor, identifier: string): Promise<UserRow | undefined> {
  const key = identifierKey(identifier);
  if (key === '') return Promise.resolve(undefined);
  return executor.selectFrom('users').selectAll().where(identifierColumn(key), '=', key).executeTakeFirst();
}

/** The row, locked until the transaction ends (PostgreSQL; SQLite writers are serialized anyway). */
export function lockById(
  db: Pick<Db, 'dialect'>,
  trx: Transaction<Database>,
  id: string,
): Promise<UserRow | undefined> {
  return trx.selectFrom('users').selectAll().where('id', '=', id).$call(forUpdate(db)).executeTakeFirst();
}

/**
 * Locks, in one statement and in id order, the rows a change touches: `ids` (the actor, the
 * target) and, with `activeAdmins`, every active admin. Every locking change takes its locks this
 * way, so two changes never wait on each other crosswise (no deadlock). A statement that waited
 * re-reads the rows once the holder commits: it counts the admins that are left.
 */
export async function lockForChange(
  db: Pick<Db, 'dialect'>,
  trx: Transaction<Database>,
  options: { ids: readonly (string | null)[]; activeAdmins?: boolean },
): Promise<UserRow[]> {
  const ids = options.ids.filter((id): id is string => id !== null);
  if (ids.length === 0 && !options.activeAdmins) return [];
  return trx
    .selectFrom('users')
    .selectAll()
    .where((eb) => {
      const conditions: Expression<SqlBool>[] = [];
      if (ids.length > 0) conditions.push(eb('id', 'in', ids));
      if (options.activeAdmins) conditions.push(eb.and([eb('role', '=', 'admin'), eb('is_active', '=', true)]));
      return eb.or(conditions);
    })
    .orderBy('id')
    .$call(forUpdate(db))
    .execute();
}

export async function anyUserExists(executor: Executor): Promise<boolean> {
  return (await executor.selectFrom('users').select('id').limit(1).executeTakeFirst()) !== undefined;
}

export async function insertUser(trx: Transaction<Database>, row: UserRow): Promise<void> {
  await trx.insertInto('users').values(row).execute();
}

/**
 * Replaces the password hash. With `ifHashIs`, only while the stored hash is still that one
 * (a rehash on sign-in must never undo a concurrent password change). True when a row changed.
 */
export async function updatePassword(
  trx: Transaction<Database>,
  id: string,
  passwordHash: string,
  options: { now?: Date; ifHashIs?: string } = {},
): Promise<boolean> {
  let query = trx
    .updateTable('users')
    .set({ password_hash: passwordHash, ...(options.now ? { updated_at: options.now } : {}) })
    .where('id', '=', id);
  if (options.ifHashIs !== undefined) query = query.where('password_hash', '=', options.ifHashIs);
  const result = await query.executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function setLastSignIn(trx: Transaction<Database>, id: string, at: Date): Promise<void> {
  await trx.updateTable('users').set({ last_sign_in_at: at }).where('id', '=', id).execute();
}

export interface UserPatch {
  name?: string;
  email?: string;
  username?: string | null;
  role?: Role;
  is_active?: boolean;
  updated_at: Date;
  /** Email flows: set when a link proves the address, cleared when the address changes unproven. */
  email_verified_at?: Date | null;
}

/** Writes the changed fields; the normalized identifiers follow the email and username. */
export async function updateUserRow(trx: Transaction<Database>, id: string, patch: UserPatch): Promise<void> {
  await trx
    .updateTable('users')
    .set({
      ...patch,
      ...(patch.email !== undefined ? { email_key: identifierKey(patch.email) } : {}),
      ...(patch.username !== undefined
        ? { username_key: patch.username === null ? null : identifierKey(patch.username) }
        : {}),
    })
    .where('id', '=', id)
    .execute();
}

export async function deleteUserRow(trx: Transaction<Database>, id: string): Promise<void> {
  await trx.deleteFrom('users').where('id', '=', id).execute();
}

// ---- the admin list ---------------------------------------------------------------------------

export interface UserFilter {
  search?: string | undefined;
  role?: Role | undefined;
  status?: 'active' | 'inactive' | undefined;
}

function filterConditions(eb: ExpressionBuilder<Database, 'users'>, filter: UserFilter): Expression<SqlBool>[] {
  const conditions: Expression<SqlBool>[] = [];
  const search = filter.search?.trim();
  if (search) {
    const pattern = containsPattern(search);
    const like = (column: 'email' | 'username' | 'name') =>
      sql<SqlBool>`lower(${eb.ref(column)}) like ${pattern} escape '\\'`;
    // #17 user import: the id from the old backend matches exactly.
    conditions.push(eb.or([like('email'), like('username'), like('name'), eb('external_id', '=', search)]));
  }
  if (filter.role) conditions.push(eb('role', '=', filter.role));
  if (filter.status) conditions.push(eb('is_active', '=', filter.status === 'active'));
  return conditions;
}

/** Newest first on (created_at, id), strictly after `after`; `limit` rows at most. */
export function listUserRows(
  executor: Executor,
  filter: UserFilter,
  page: { after: UserCursor | null; limit: number },
): Promise<UserRow[]> {
  const { after } = page;
  return executor
    .selectFrom('users')
    .selectAll()
    .where((eb) => {
      const conditions = filterConditions(eb, filter);
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
    .limit(page.limit)
    .execute();
}

export async function countUsers(executor: Executor, filter: UserFilter): Promise<number> {
  const { total } = await executor
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<number>().as('total'))
    .where((eb) => eb.and(filterConditions(eb, filter)))
    .executeTakeFirstOrThrow();
  return Number(total);
}

/** How many sessions a user holds (for the audit record of a deletion, which cascades them). */
export async function countSessionsOf(executor: Executor, userId: string): Promise<number> {
  const { sessions } = await executor
    .selectFrom('sessions')
    .select((eb) => eb.fn.countAll<number>().as('sessions'))
    .where('user_id', '=', userId)
    .executeTakeFirstOrThrow();
  return Number(sessions);
}

// ---- #17 user import --------------------------------------------------------------------------

/** The users holding any of these normalized emails, usernames or external ids (import conflicts). */
export function findImportConflicts(
  executor: Executor,
  keys: { emailKeys: readonly string[]; usernameKeys: readonly string[]; externalIds: readonly string[] },
): Promise<Pick<UserRow, 'id' | 'email_key' | 'username_key' | 'external_id'>[]> {
  return executor
    .selectFrom('users')
    .select(['id', 'email_key', 'username_key', 'external_id'])
    .where((eb) => {
      const conditions: Expression<SqlBool>[] = [];
      if (keys.emailKeys.length > 0) conditions.push(eb('email_key', 'in', keys.emailKeys));
      if (keys.usernameKeys.length > 0) conditions.push(eb('username_key', 'in', keys.usernameKeys));
      if (keys.externalIds.length > 0) conditions.push(eb('external_id', 'in', keys.externalIds));
      return conditions.length > 0 ? eb.or(conditions) : sql<SqlBool>`1 = 0`;
    })
    .execute();
}

export async function insertUsers(trx: Transaction<Database>, rows: readonly UserRow[]): Promise<void> {
  if (rows.length > 0)
    await trx
      .insertInto('users')
      .values([...rows])
      .execute();
}

export function findByExternalId(executor: Executor, externalId: string): Promise<UserRow | undefined> {
  return executor.selectFrom('users').selectAll().where('external_id', '=', externalId).executeTakeFirst();
}

/** An import's `--on-conflict update`: the imported facts over the existing row. */
export interface ImportedUserPatch {
  name: string;
  username?: string | null;
  role: Role;
  is_active: boolean;
  external_id?: string;
  password_hash?: string;
  /** #17 ↔ #14: set only where the address is not verified yet (an earlier verification is kept). */
  email_verified_at?: Date;
  updated_at: Date;
}

export async function updateImportedUser(
  trx: Transaction<Database>,
  id: string,
  patch: ImportedUserPatch,
): Promise<void> {
  const { email_verified_at: verifiedAt, ...fields } = patch;
  await trx
    .updateTable('users')
    .set({
      ...fields,
      ...(patch.username !== undefined
        ? { username_key: patch.username === null ? null : identifierKey(patch.username) }
        : {}),
    })
    .where('id', '=', id)
    .execute();
  if (verifiedAt !== undefined) {
    await trx
      .updateTable('users')
      .set({ email_verified_at: verifiedAt })
      .where('id', '=', id)
      .where('email_verified_at', 'is', null)
      .execute();
  }
}

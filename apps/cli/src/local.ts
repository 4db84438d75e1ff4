/**
 * Commands that work on the database directly (DATABASE_URL), for installation and recovery when
 * nobody can sign in. They change data exactly as the API would: inside one transaction with the
 * audit event that records it, sessions revoked and caches invalidated on running servers.
 */
import {
  assertPasswordPolicy,
  createServices,
  defaultApiConfig,
  DomainError,
  newUserRow,
  toUser,
  type ApiConfig,
  type Services,
  type User,
} from '@gatehouse/api';
import { emailSchema, nameSchema, usernameSchema } from '@gatehouse/api/schemas';
import { createDb, migrateToLatest, withTransaction, type Db } from '@gatehouse/db';
import { CliError, UsageError, type CliIO } from './io.js';

const CLI_USER_AGENT = 'gatehouse-cli';

export function databaseUrl(io: CliIO): string {
  const url = io.env.DATABASE_URL || 'file:./data/gatehouse.db';
  if (!/^(file:.+|postgres(ql)?:\/\/.+)$/.test(url)) {
    throw new UsageError('DATABASE_URL must be file:<path> (SQLite) or postgres://… (PostgreSQL)');
  }
  return url;
}

/** The parts of the server's configuration (design §2) that these commands need, same defaults. */
function apiConfig(io: CliIO): ApiConfig {
  const { env } = io;
  return {
    ...defaultApiConfig,
    publicOrigin: env.PUBLIC_ORIGIN || defaultApiConfig.publicOrigin,
    auditKeyFile: env.AUDIT_KEY_FILE || defaultApiConfig.auditKeyFile,
    redisUrl: env.REDIS_URL || null,
  };
}

async function withDb<T>(io: CliIO, fn: (db: Db) => Promise<T>): Promise<T> {
  const db = createDb(databaseUrl(io));
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

/** Services without background work (no session sweep, no checkpoint timer). */
async function withServices<T>(io: CliIO, fn: (services: Services) => Promise<T>): Promise<T> {
  return withDb(io, async (db) => {
    const services = await createServices({ db, config: apiConfig(io), background: false });
    try {
      return await fn(services);
    } finally {
      await services.close();
    }
  });
}

export async function migrate(io: CliIO): Promise<{ applied: string[] }> {
  return withDb(io, (db) => migrateToLatest(db));
}

function parse<T>(
  schema: {
    safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: { message: string }[] } };
  },
  value: unknown,
  option: string,
): T {
  const result = schema.safeParse(value);
  if (!result.success) throw new UsageError(`${option}: ${result.error.issues.map((i) => i.message).join('; ')}`);
  return result.data;
}

function policy(password: string, account: { email: string; username: string | null }, field: string): void {
  try {
    assertPasswordPolicy(password, account, field);
  } catch (error) {
    if (error instanceof DomainError) throw new CliError(`password refused: ${error.message}`);
    throw error;
  }
}

export interface CreateAdminInput {
  email: string;
  name: string;
  username?: string | undefined;
  password: string;
}

/**
 * Creates an admin account (migrating the database first, so a fresh install needs only this).
 * On an empty database it is the setup (`auth.setup`), otherwise `user.created`.
 */
export async function createAdmin(io: CliIO, input: CreateAdminInput): Promise<{ user: User; setup: boolean }> {
  const email = parse(emailSchema, input.email, '--email');
  const name = parse(nameSchema, input.name, '--name');
  const username = input.username === undefined ? null : parse(usernameSchema, input.username, '--username');
  await withDb(io, (db) => migrateToLatest(db));
  return withServices(io, async (services) => {
    policy(input.password, { email, username }, 'password');
    const passwordHash = await services.passwords.hash(input.password);
    const row = newUserRow({ email, username, name, role: 'admin', passwordHash, now: services.clock.now() });

    const setup = await withTransaction(services.db, async (trx) => {
      const taken = await trx
        .selectFrom('users')
        .select('id')
        .where((eb) =>
          username ? eb.or([eb('email', '=', email), eb('username', '=', username)]) : eb('email', '=', email),
        )
        .executeTakeFirst();
      if (taken) throw new CliError(`a user with that ${username ? 'email or username' : 'email'} already exists`);
      const first = (await trx.selectFrom('users').select('id').limit(1).executeTakeFirst()) === undefined;
      await trx.insertInto('users').values(row).execute();
      await services.audit.append(trx, {
        type: first ? 'auth.setup' : 'user.created',
        actorId: null,
        targetId: row.id,
        ip: null,
        userAgent: CLI_USER_AGENT,
        data: { email: row.email, username: row.username, name: row.name, role: row.role, via: 'cli' },
      });
      return first;
    });
    return { user: toUser(row), setup };
  });
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Sets a user's password (found by email, username or id), revokes all their sessions and
 * records `user.password_set` — the same as an admin's `user.setPassword`, without needing one.
 */
export async function resetPassword(
  io: CliIO,
  identifier: string,
  password: string,
): Promise<{ ok: true; user: User; revokedSessions: number }> {
  return withServices(io, async (services) => {
    const key = identifier.trim();
    const row = await services.db.kysely
      .selectFrom('users')
      .selectAll()
      .where((eb) =>
        UUID.test(key)
          ? eb('id', '=', key.toLowerCase())
          : key.includes('@')
            ? eb('email', '=', key.toLowerCase())
            : eb('username', '=', key),
      )
      .executeTakeFirst();
    if (!row) throw new CliError(`no user ${identifier}`);
    policy(password, { email: row.email, username: row.username }, 'newPassword');
    const passwordHash = await services.passwords.hash(password);
    const now = services.clock.now();
    const revokedSessions = await withTransaction(services.db, async (trx) => {
      await trx
        .updateTable('users')
        .set({ password_hash: passwordHash, updated_at: now })
        .where('id', '=', row.id)
        .execute();
      const revoked = await services.sessions.revokeAllForUser(trx, row.id);
      await services.audit.append(trx, {
        type: 'user.password_set',
        actorId: null,
        targetId: row.id,
        ip: null,
        userAgent: CLI_USER_AGENT,
        data: { revokedSessions: revoked, via: 'cli' },
      });
      return revoked;
    });
    // Running servers drop their cached validations (PostgreSQL NOTIFY or Redis when configured).
    await services.sessions.invalidate({ userId: row.id });
    return { ok: true, user: toUser({ ...row, password_hash: passwordHash, updated_at: now }), revokedSessions };
  });
}

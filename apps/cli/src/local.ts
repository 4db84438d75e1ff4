/**
 * Commands that work on the database directly (DATABASE_URL), for installation and recovery when
 * nobody can sign in. They call the API's own use cases (the users module) as the operator
 * (`cliActor`): the same checks, the same transaction with its audit event, sessions revoked and
 * caches invalidated on running servers.
 */
import { readFileSync } from 'node:fs';
import {
  cliActor,
  createServices,
  createUser,
  defaultApiConfig,
  DomainError,
  findUserByIdentifier,
  getUserById,
  needsSetup,
  resetMfa as resetUserMfa,
  setPassword,
  type Actor,
  type ApiConfig,
  type MailConfig,
  type Services,
  type User,
} from '@gatehouse/api';
import { emailSchema, nameSchema, usernameSchema } from '@gatehouse/api/schemas';
import { createDb, migrateToLatest, UniqueViolationError, type Db } from '@gatehouse/db';
import { CliError, stderrLogger, UsageError, type CliIO } from './io.js';

const CLI_USER_AGENT = 'gatehouse-cli';

export function databaseUrl(io: CliIO): string {
  const url = io.env.DATABASE_URL || 'file:./data/gatehouse.db';
  if (!/^(file:.+|postgres(ql)?:\/\/.+)$/.test(url)) {
    throw new UsageError('DATABASE_URL must be file:<path> (SQLite) or postgres://… (PostgreSQL)');
  }
  return url;
}

/** The parts of the server's configuration (architecture §2) that these commands need, same defaults. */
function apiConfig(io: CliIO): ApiConfig {
  const { env } = io;
  return {
    ...defaultApiConfig,
    publicOrigin: env.PUBLIC_ORIGIN || defaultApiConfig.publicOrigin,
    auditKeyFile: env.AUDIT_KEY_FILE || defaultApiConfig.auditKeyFile,
    redisUrl: env.REDIS_URL || null,
    // issue 15: the same TOTP key as the server (default beside AUDIT_KEY_FILE)
    mfaKeyFile: env.MFA_KEY_FILE || null,
  };
}

/**
 * seams (#17 ↔ #14): the server's mail settings (SMTP_URL, SMTP_PASSWORD_FILE, MAIL_FROM,
 * MAIL_TRANSPORT=log), for the local commands that mail (`import users --reset-links mail`).
 * Null without SMTP_URL; a bad value is named, never printed.
 */
export function mailConfigFromEnv(io: CliIO): MailConfig | null {
  const { env } = io;
  const publicOrigin = env.PUBLIC_ORIGIN || defaultApiConfig.publicOrigin;
  const from = env.MAIL_FROM?.trim() || `Gatehouse <gatehouse@${new URL(publicOrigin).hostname}>`;
  if (env.MAIL_TRANSPORT === 'log') return { transport: 'log', from };
  const url = env.SMTP_URL;
  if (!url) return null;
  if (!/^smtps?:\/\/[^/]+/.test(url) || !URL.canParse(url)) {
    throw new UsageError('SMTP_URL must be smtp://[user:password@]host[:port] or smtps://…');
  }
  let password: string | null = null;
  if (env.SMTP_PASSWORD_FILE) {
    try {
      password = readFileSync(env.SMTP_PASSWORD_FILE, 'utf8').replace(/\r?\n$/, '');
    } catch {
      throw new UsageError('SMTP_PASSWORD_FILE cannot be read');
    }
  }
  return { transport: 'smtp', url, password, from };
}

export async function withDb<T>(io: CliIO, fn: (db: Db) => Promise<T>): Promise<T> {
  const db = createDb(databaseUrl(io));
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

/** Services without background work (no session sweep, no checkpoint timer). */
export async function withServices<T>(
  io: CliIO,
  fn: (services: Services) => Promise<T>,
  /** seams: `mail: true` reads the mail settings too (otherwise local commands never mail). */
  options: { mail?: boolean } = {},
): Promise<T> {
  return withDb(io, async (db) => {
    const config = { ...apiConfig(io), ...(options.mail ? { mail: mailConfigFromEnv(io) } : {}) };
    const services = await createServices({ db, config, background: false, logger: stderrLogger(io) });
    try {
      return await fn(services);
    } finally {
      await services.close();
    }
  });
}

/** `gatehouse audit rotate-key`: signs the head, retires the key into the history, writes a new one. */
export async function rotateAuditKey(
  io: CliIO,
): Promise<{ retiredKey: string; from: number; to: number; publicKey: string; history: string }> {
  return withServices(io, async (services) => {
    const { retired, publicKey } = await services.audit.rotateKey();
    return {
      retiredKey: retired.verifier.text,
      from: retired.from,
      to: retired.to,
      publicKey,
      history: `${services.config.auditKeyFile}.history`,
    };
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

/** The CLI's own words for the refusals a person at the terminal can act on. */
function explained(error: unknown): unknown {
  if (error instanceof UniqueViolationError) {
    return new CliError(`a user with that ${error.field ?? 'email or username'} already exists`);
  }
  if (!(error instanceof DomainError)) return error;
  if (error.reason === 'weak_password') return new CliError(`password refused: ${error.message}`);
  if (error.reason === 'already_set_up') {
    return new CliError('Gatehouse was set up by someone else while this command ran: run it again to add an admin');
  }
  return new CliError(error.message);
}

/** The operator at this terminal, as the audit log records them. */
const operator: Actor = { ...cliActor(), userAgent: CLI_USER_AGENT };

export interface CreateAdminInput {
  email: string;
  name: string;
  username?: string | undefined;
  password: string;
}

/**
 * Creates an admin account (migrating the database first, so a fresh install needs only this).
 * On an empty database it is the setup — the same use case as `auth.createFirstUser`, under the
 * same first-user lock, so of the two racing exactly one sets Gatehouse up (`auth.setup`) —
 * otherwise `user.created`.
 */
export async function createAdmin(io: CliIO, input: CreateAdminInput): Promise<{ user: User; setup: boolean }> {
  const email = parse(emailSchema, input.email, '--email');
  const name = parse(nameSchema, input.name, '--name');
  const username = input.username === undefined ? null : parse(usernameSchema, input.username, '--username');
  await withDb(io, (db) => migrateToLatest(db));
  return withServices(io, async (services) => {
    const setup = await needsSetup(services);
    try {
      const { user } = await createUser(
        services,
        operator,
        { email, username, name, password: input.password, role: 'admin' },
        { kind: setup ? 'first' : 'admin' },
      );
      return { user, setup };
    } catch (error) {
      throw explained(error);
    }
  });
}

/**
 * Sets a user's password (found by id, email or username under the same rule as sign-in),
 * revokes all their sessions and records `user.password_set` — the same use case as an admin's
 * `user.setPassword`, without needing one. Running servers drop their cached sessions.
 */
export async function resetPassword(
  io: CliIO,
  identifier: string,
  password: string,
): Promise<{ ok: true; user: User; revokedSessions: number }> {
  return withServices(io, async (services) => {
    try {
      const target = await findUserByIdentifier(services, identifier);
      const { revokedSessions } = await setPassword(services, operator, {
        kind: 'reset',
        userId: target.id,
        newPassword: password,
      });
      return { ok: true, user: await getUserById(services, target.id), revokedSessions };
    } catch (error) {
      if (error instanceof DomainError && error.reason === 'user_not_found')
        throw new CliError(`no user ${identifier}`);
      throw explained(error);
    }
  });
}

/**
 * issue 15, `gatehouse users reset-mfa`: removes every second factor of a user (TOTP, recovery
 * codes, passkeys) and revokes their sessions, as the operator — the same use case as an
 * admin's `mfa.reset`, for when the user lost their factors (or the last admin did).
 */
export async function resetMfa(
  io: CliIO,
  identifier: string,
): Promise<{
  ok: true;
  user: User;
  removed: { totp: boolean; passkeys: number; recoveryCodes: number };
  revokedSessions: number;
}> {
  return withServices(io, async (services) => {
    try {
      const target = await findUserByIdentifier(services, identifier);
      const { user, removed, revokedSessions } = await resetUserMfa(services, operator, { id: target.id });
      return { ok: true, user, removed, revokedSessions };
    } catch (error) {
      if (error instanceof DomainError && error.reason === 'user_not_found')
        throw new CliError(`no user ${identifier}`);
      throw explained(error);
    }
  });
}

/**
 * Test helpers for router and service tests (`@gatehouse/api/testing`): a real services container
 * on a real database, accounts with sessions, and callers. Never mocks.
 *
 * ```ts
 * const services = await createTestServices(db, { clock });
 * const admin = await createTestUser(services, { role: 'admin' });
 * const caller = callerFor(services, admin.token);          // bearer: no CSRF check
 * await caller.user.list({});
 * await services.close();                                    // then close/drop the db
 * ```
 */
import { generateKeyPairSync } from 'node:crypto';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Db, Role, UserRow } from '@gatehouse/db';
import { TRPCError } from '@trpc/server';
import type { Redis } from 'ioredis';
import { createPasswordHasher, type Argon2Parameters } from './auth/passwords.js';
import type { PasswordHasher } from './services.js';
import { signerFromPrivateKey } from './audit/checkpoint.js';
import { ManualClock, type Clock } from './clock.js';
import { defaultApiConfig, type ApiConfig } from './config.js';
import { createContext, type RequestInfo, type ResponseControl } from './context.js';
import { assembleServices } from './create-services.js';
import { createCaller } from './root.js';
import { errorReason } from './trpc.js';
import type { ErrorReason } from './error-reasons.js';
import type { Services } from './services.js';
import type { ThrottleOptions } from './throttle/throttle.js';
import { newUserRow, toUser, type User } from './users/mapping.js';
import { insertUser } from './users/repository.js';
import { transact } from './unit-of-work.js';
import type { SessionInfo } from './sessions/types.js';
// ---- email flows ----
import type { WorkerOptions } from './mail/worker.js';
export { startTestSmtp, tokenFromLink, type ReceivedMail, type TestSmtp } from './mail/test-smtp.js';
// #16 bridges
import { JwtKeys } from './tokens/keys.js';
// #19 webhooks
import type { WebhookWorkerOptions } from './webhooks/worker.js';
import type { Resolver } from './webhooks/ssrf.js';
export { startTestWebhookReceiver, type ReceivedWebhook, type TestWebhookReceiver } from './webhooks/test-receiver.js';

/**
 * Argon2id with tiny costs, for tests only (hashing at the OWASP parameters would make every
 * sign-in in a test take ~50 ms). Production always uses OWASP_ARGON2ID (createServices).
 */
export const TEST_ARGON2: Readonly<Argon2Parameters> = Object.freeze({ memoryCost: 256, timeCost: 1, parallelism: 1 });

export interface TestServicesOverrides {
  /** Merged over defaultApiConfig (PUBLIC_ORIGIN http://localhost:3000, ALLOW_SIGNUP false…). */
  config?: Partial<ApiConfig>;
  /** Default: a fresh ManualClock at 2026-01-01T00:00:00Z (pass your own to move it). */
  clock?: Clock;
  /** Use Redis for throttling and invalidation (pass a unique `throttle.keyPrefix` per test). */
  redis?: Redis | null;
  throttle?: Partial<ThrottleOptions> & { keyPrefix?: string };
  /** Argon2 parameters (default TEST_ARGON2). */
  argon2?: Argon2Parameters;
  /** A hasher of your own (e.g. one that waits on a promise the test controls, `gatedHasher`). */
  passwords?: PasswordHasher;
  sessionCacheSize?: number;
  // ---- email flows ----
  /** Mail-request throttle limits (default 3 per address and IP, 5 per address, 20 per IP, per hour). */
  mailThrottle?: Partial<ThrottleOptions>;
  /** Mail worker timing (retry backoff), e.g. `{ baseDelayMs: 1000 }`. */
  mailWorker?: Partial<WorkerOptions>;
  // #19 webhooks
  /** Webhook worker timing, e.g. `{ baseDelayMs: 1000, autoDisableAfterFailures: 3 }`. */
  webhookWorker?: Partial<WebhookWorkerOptions>;
  /** A DNS resolver for the webhook SSRF guard (e.g. one that answers 127.0.0.1 for a name). */
  webhookResolver?: Resolver;
  /** A ready MFA key (e.g. to open a second container on the same database that reads the sealed secrets). */
  mfaKey?: Uint8Array;
}

/**
 * A complete Services container on `db` for tests: cheap Argon2id, an in-memory audit signing
 * key, no background timers (call `services.sessions.sweep()` or `services.audit.checkpointer`
 * yourself). On PostgreSQL it LISTENs for session invalidations like a server does. Close it
 * with `services.close()` before closing the database.
 */
export async function createTestServices(db: Db, overrides: TestServicesOverrides = {}): Promise<Services> {
  const config: ApiConfig = { ...defaultApiConfig, ...overrides.config };
  const { privateKey } = generateKeyPairSync('ed25519');
  return assembleServices({
    db,
    config,
    clock: overrides.clock ?? new ManualClock(),
    redis: overrides.redis ?? null,
    ...(overrides.throttle ? { throttle: overrides.throttle } : {}),
    ...(overrides.sessionCacheSize !== undefined ? { sessionCacheSize: overrides.sessionCacheSize } : {}),
    auditSigner: signerFromPrivateKey(`gatehouse/${new URL(config.publicOrigin).host}`, privateKey),
    background: false,
    mfaKey: overrides.mfaKey ?? new Uint8Array(randomBytes(32)),
    passwords: overrides.passwords ?? createPasswordHasher(overrides.argon2 ?? TEST_ARGON2),
    ...(overrides.mailThrottle ? { mailThrottle: overrides.mailThrottle } : {}),
    ...(overrides.mailWorker ? { mailWorker: overrides.mailWorker } : {}),
    // #16: JWT keys in memory (no JWT_KEY_FILE written by tests)
    jwtKeys: await JwtKeys.inMemory(),
    // #19 webhooks
    ...(overrides.webhookWorker ? { webhookWorker: overrides.webhookWorker } : {}),
    ...(overrides.webhookResolver ? { webhookResolver: overrides.webhookResolver } : {}),
  });
}

export interface TestUserInput {
  email?: string;
  username?: string | null;
  name?: string;
  password?: string;
  role?: Role;
  isActive?: boolean;
  rememberMe?: boolean;
  /** Open a session (default true; an inactive user gets none). */
  withSession?: boolean;
}

export interface TestUser {
  user: User;
  password: string;
  /** Bearer/cookie token of a fresh session (null with `withSession: false`). */
  token: string | null;
  session: SessionInfo | null;
}

let counter = 0;

/**
 * Inserts an account through the users module's row and insert (a fixture: no audit event) and opens a session for it.
 * Defaults: a unique email, role member, active, password "correct horse battery staple".
 */
export async function createTestUser(services: Services, input: TestUserInput = {}): Promise<TestUser> {
  counter += 1;
  const password = input.password ?? 'correct horse battery staple';
  const row: UserRow = {
    ...newUserRow({
      email: (input.email ?? `user${counter}-${randomUUID().slice(0, 8)}@example.test`).toLowerCase(),
      username: input.username ?? null,
      name: input.name ?? `Test User ${counter}`,
      role: input.role ?? 'member',
      passwordHash: await services.passwords.hash(password),
      now: services.clock.now(),
    }),
    is_active: input.isActive ?? true,
  };
  const withSession = (input.withSession ?? true) && row.is_active;
  const created = await transact(services, async ({ trx }) => {
    await insertUser(trx, row);
    if (!withSession) return null;
    return services.sessions.create(trx, {
      userId: row.id,
      rememberMe: input.rememberMe ?? false,
      ip: null,
      userAgent: null,
    });
  });
  return { user: toUser(row), password, token: created?.token ?? null, session: created?.session ?? null };
}

/**
 * A caller acting with `token` as a bearer token (no CSRF check), or anonymously with null.
 * `req` overrides any request field (e.g. `{ tokenSource: 'cookie', origin: … }`, `ip`).
 */
export function callerFor(
  services: Services,
  token: string | null,
  req: Partial<RequestInfo> = {},
  res?: ResponseControl,
) {
  const base: Partial<RequestInfo> = token ? { token, tokenSource: 'bearer' } : {};
  return createCaller(createContext(services, { ...base, ...req }, res));
}

/** Redis for tests: TEST_REDIS_URL, default redis://127.0.0.1:6379. */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * A connected ioredis client for tests, or null (with a visible warning) when Redis is not
 * reachable outside CI; with CI=true an unreachable Redis fails the run. `quit()` it afterwards.
 */
export async function connectTestRedis(): Promise<Redis | null> {
  const { Redis: RedisClient } = await import('ioredis');
  const client = new RedisClient(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
    return client;
  } catch (error) {
    client.disconnect();
    if (process.env.CI === 'true')
      throw new Error(`CI=true but Redis is unreachable at ${TEST_REDIS_URL}`, { cause: error });
    console.warn(`[gatehouse tests] Redis unreachable at ${TEST_REDIS_URL}: SKIPPING the Redis tests`);
    return null;
  }
}

/** A key prefix no other test shares. */
export function uniqueTestPrefix(label = 'test'): string {
  return `gatehouse-test:${label}:${randomUUID()}:`;
}

/**
 * A hasher whose `hash` waits until the test calls `release()` once `hold()` was called: to act
 * while a request is "hashing" (e.g. demote the admin whose `user.create` is in flight).
 * `hashing` resolves when a held hash has started.
 */
export function gatedHasher(inner: PasswordHasher = createPasswordHasher(TEST_ARGON2)) {
  let gate: Promise<void> | null = null;
  let release = () => {};
  let started = () => {};
  let hashing = Promise.resolve();
  const hasher: PasswordHasher & { hold(): void; release(): void; hashing(): Promise<void> } = {
    async hash(password) {
      const waiting = gate;
      if (waiting) {
        started();
        await waiting;
      }
      return inner.hash(password);
    },
    verify: (hash, password) => inner.verify(hash, password),
    needsRehash: (hash) => inner.needsRehash(hash),
    hold() {
      gate = new Promise<void>((resolve) => (release = resolve));
      hashing = new Promise<void>((resolve) => (started = resolve));
    },
    release() {
      gate = null;
      release();
    },
    hashing: () => hashing,
  };
  return hasher;
}

/**
 * The TRPCError a call rejects with, plus the `reason` the API would send in `error.data.reason`;
 * anything else (success, another error) fails the test. Assert on `code` and `reason`.
 */
export async function trpcError(promise: Promise<unknown>): Promise<TRPCError & { reason: ErrorReason }> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof TRPCError) return Object.assign(error, { reason: errorReason(error) });
    throw error;
  }
  throw new Error('expected the call to fail with a TRPCError, but it succeeded');
}

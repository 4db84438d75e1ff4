/**
 * Builds the services container the server (and every router test) hands to tRPC: passwords,
 * sessions with their invalidation bus, sign-in throttling and the audit log, on one database.
 */
import { parseDatabaseUrl, type Db } from '@gatehouse/db';
import type { Redis } from 'ioredis';
import { createPasswordHasher } from './auth/passwords.js';
import { AuditService } from './audit/service.js';
import type { Signer } from './audit/checkpoint.js';
import { systemClock, type Clock } from './clock.js';
import type { ApiConfig } from './config.js';
import type { PasswordHasher, Services } from './services.js';
import { LocalBus, PostgresBus, RedisBus, SqliteBus, type InvalidationBus } from './sessions/invalidation.js';
import { SessionManager } from './sessions/manager.js';
import { DeviceCookies, deriveDeviceCookieKey } from './throttle/device.js';
import { MemoryCounterStore, PostgresCounterStore, RedisCounterStore, type CounterStore } from './throttle/store.js';
import { createLoginThrottle, type ThrottleOptions } from './throttle/throttle.js';
import { silentLogger, type Logger } from './logger.js';
import { warmDummyHash } from './auth/service.js';
import { openRedis } from './redis.js';
// ---- email flows ----
import { createMailService } from './mail/service.js';
import type { MailTransport } from './mail/transport.js';
import type { WorkerOptions } from './mail/worker.js';
import { SecretBox, defaultMfaKeyFile, loadOrCreateMfaKey } from './mfa/secret-box.js';
// #16 bridges
import { ApiKeyManager } from './api-keys/manager.js';
import { JwtKeys } from './tokens/keys.js';
import { TokenService } from './tokens/service.js';
// #19 webhooks
import { createWebhookService } from './webhooks/service.js';
import type { Resolver } from './webhooks/ssrf.js';
import type { WebhookWorkerOptions } from './webhooks/worker.js';

export interface CreateServicesOptions {
  db: Db;
  /** Kept by reference: `services.config` is this very object. */
  config: ApiConfig;
  clock?: Clock;
  /**
   * A Redis connection for shared throttling and cache invalidation. When absent and
   * `config.redisUrl` is set, one is opened (and closed by `close()`).
   */
  redis?: Redis | null;
  /** Throttle limits (defaults: 5 failures per account, 50 per IP, per 15 minutes). */
  throttle?: Partial<ThrottleOptions> & { keyPrefix?: string };
  /** Session cache bound (entries, default 10 000). */
  sessionCacheSize?: number;
  /** A ready audit signer (otherwise AUDIT_KEY_FILE is loaded or created). */
  auditSigner?: Signer;
  /** Start the background work: the session sweep timer and audit checkpointing (default true). */
  background?: boolean;
  /** #16: ready JWT keys (tests); otherwise JWT_KEY_FILE is loaded or created. */
  jwtKeys?: JwtKeys;
  /**
   * Where background work reports (session sweeps, checkpointing, Redis outages): the server
   * passes its pino logger, `app.log`. Default: silent.
   */
  logger?: Logger;
  // ---- email flows ----
  /** Throttle limits for requests that send mail (defaults: 3 per address and IP, 5 per address, 20 per IP, per hour). */
  mailThrottle?: Partial<ThrottleOptions>;
  /** Retry timing of the mail worker (mail/worker.ts). */
  mailWorker?: Partial<WorkerOptions>;
  /** issue 15: a ready 32-byte MFA key (tests); otherwise MFA_KEY_FILE is loaded or created (0600). */
  mfaKey?: Uint8Array;
  // #19 webhooks
  /** Timing of the webhook worker (backoff, auto-disable thresholds, timeouts; webhooks/worker.ts). */
  webhookWorker?: Partial<WebhookWorkerOptions>;
  /** The DNS resolver of the webhook SSRF guard (tests: a fake DNS answer); default the system's. */
  webhookResolver?: Resolver;
}

/** Internal: like CreateServicesOptions plus a hasher; only the test helper passes one. */
export interface AssembleOptions extends CreateServicesOptions {
  passwords?: PasswordHasher;
  /** A mail transport of the test's own (e.g. one that records or fails); default from config.mail. */
  mailTransport?: MailTransport;
}

export async function assembleServices(options: AssembleOptions): Promise<Services> {
  const { db, config } = options;
  const clock = options.clock ?? systemClock;
  const background = options.background ?? true;
  const logger = options.logger ?? silentLogger;
  /** A background failure of `task`, logged with its error; nothing else sees it. */
  const reportFailure =
    (task: string) =>
    (error: unknown): void =>
      logger.error({ err: error, task }, `${task} failed`);

  // issue 15: the MFA key, outside the database, like the audit key (created 0600 at first start).
  const mfaSecrets = new SecretBox(
    options.mfaKey ?? loadOrCreateMfaKey(config.mfaKeyFile ?? defaultMfaKeyFile(config.auditKeyFile)),
  );

  let redis = options.redis ?? null;
  const ownsRedis = !redis && !!config.redisUrl;
  if (!redis && config.redisUrl) redis = await openRedis(config.redisUrl, logger);

  const passwords = options.passwords ?? createPasswordHasher();
  const audit = new AuditService({
    db,
    clock,
    config,
    ...(options.auditSigner ? { signer: options.auditSigner } : {}),
    onError: reportFailure('audit checkpoint'),
    logger,
  });

  // A SQLite file may have other processes on it (the CLI beside a server); `:memory:` cannot.
  let bus: InvalidationBus;
  if (redis) bus = new RedisBus(redis, { logger });
  else if (db.dialect === 'postgres') bus = new PostgresBus(db, { logger });
  else if (isSharedSqliteFile(db)) bus = new SqliteBus(db, { logger, clock });
  else bus = new LocalBus();

  const sessions = new SessionManager({
    db,
    clock,
    config,
    audit,
    bus,
    ...(options.sessionCacheSize !== undefined ? { cacheSize: options.sessionCacheSize } : {}),
    onError: reportFailure('session maintenance'),
  });

  // Throttle counters live where the other shared state does: Redis, else PostgreSQL, else memory.
  const prefix = options.throttle?.keyPrefix !== undefined ? { keyPrefix: options.throttle.keyPrefix } : {};
  const store: CounterStore = redis
    ? new RedisCounterStore(redis, prefix)
    : db.dialect === 'postgres'
      ? new PostgresCounterStore(db.kysely, prefix)
      : new MemoryCounterStore();
  const { keyPrefix: _prefix, ...limits } = options.throttle ?? {};
  const devices = new DeviceCookies(deriveDeviceCookieKey(audit.signer.privateKey), clock);
  const throttle = createLoginThrottle(store, clock, limits, devices);

  // ---- email flows: a separate set of counters (key prefix `mail:`), so mail requests never
  // spend sign-in attempts and the other way round.
  const mailStore: CounterStore = redis
    ? new RedisCounterStore(redis, { keyPrefix: `${options.throttle?.keyPrefix ?? 'gatehouse:throttle:'}mail:` })
    : db.dialect === 'postgres'
      ? new PostgresCounterStore(db.kysely, { keyPrefix: `${options.throttle?.keyPrefix ?? ''}mail:` })
      : new MemoryCounterStore();
  const mailThrottle = createLoginThrottle(
    mailStore,
    clock,
    { accountIpLimit: 3, accountLimit: 5, ipLimit: 20, windowMs: 3_600_000, ...options.mailThrottle },
    devices,
  );
  const mail = createMailService({
    db,
    clock,
    config,
    logger,
    background,
    ...(options.mailTransport ? { transport: options.mailTransport } : {}),
    ...(options.mailWorker ? { worker: options.mailWorker } : {}),
  });

  // #16: API keys share the sessions' invalidations (a key id travels as a session id).
  const apiKeys = new ApiKeyManager({
    db,
    clock,
    events: sessions,
    ...(options.sessionCacheSize !== undefined ? { cacheSize: options.sessionCacheSize } : {}),
  });

  const tokens = new TokenService({
    keys: options.jwtKeys ?? JwtKeys.fromFile(config.jwtKeyFile),
    config,
    clock,
  });

  // #19 webhooks: delivered from the audit log; woken after appends on this instance, else polling.
  const webhooks = createWebhookService({
    services: {
      db,
      clock,
      audit,
      invalidator: sessions,
      secrets: mfaSecrets,
      config,
      onError: reportFailure('webhooks'),
    },
    logger,
    background,
    resolver: options.webhookResolver,
    worker: options.webhookWorker,
  });

  await sessions.start({ sweep: background });
  if (background) audit.start();
  // The first unknown-identifier sign-in must not cost more than a known one: compute the dummy
  // hash now, in the background (sign-in awaits the same promise), not before the first request.
  warmDummyHash(passwords).catch(reportFailure('dummy hash warm-up'));

  let closed = false;
  return {
    db,
    config,
    clock,
    passwords,
    sessions,
    // Session facts, sessions by user and cached users, dropped here and on every instance.
    invalidator: sessions,
    throttle,
    audit,
    onError: reportFailure('after-commit task'),
    mail,
    mailThrottle,
    mfaSecrets,
    apiKeys,
    tokens,
    // #19 webhooks
    webhooks,
    async close() {
      if (closed) return;
      closed = true;
      await webhooks.close(); // #19 webhooks
      await mail.close();
      await sessions.close();
      await audit.close();
      if (ownsRedis && redis) await redis.quit().catch(() => redis?.disconnect());
    },
  };
}

function isSharedSqliteFile(db: Db): boolean {
  const location = parseDatabaseUrl(db.url);
  return location.dialect === 'sqlite' && location.path !== ':memory:';
}

/**
 * The production container: Argon2id with the OWASP parameters, the session sweep at start and
 * every SESSION_CLEANUP_INTERVAL, audit checkpointing, Redis when REDIS_URL is set (else, on
 * PostgreSQL, throttle counters in the database).
 */
export function createServices(options: CreateServicesOptions): Promise<Services> {
  // Production hashing only: cheaper parameters can be injected by the test helper alone.
  return assembleServices({ ...options, passwords: undefined });
}

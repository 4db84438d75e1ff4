/**
 * The webhook worker (issue 19): delivers the audit log to every enabled endpoint, in seq order,
 * at least once. Each endpoint has a cursor (the last seq handled); a round leases due endpoints
 * (PostgreSQL `FOR UPDATE SKIP LOCKED`, a `lease_token` guarding every write, `locked_until` for
 * a crashed worker), reads the events after the cursor, skips those the endpoint did not ask for,
 * POSTs the others one by one and advances the cursor only on a 2xx. A failure stops the endpoint
 * there: the next attempt (same `webhook-id`) waits an exponential backoff (5 s doubling, at most
 * 1 h, with jitter), and after `autoDisableAfterFailures` consecutive failures spanning at least
 * `autoDisableAfterMs` the endpoint is disabled and `webhook.auto_disabled` audited.
 *
 * Woken by `kick()` (after an append on this instance) and a poll timer (appends on other
 * instances, retries). Nothing is lost across a restart: the cursor is in the database.
 */
import { randomUUID } from 'node:crypto';
import type { Db, WebhookEndpointRow } from '@gatehouse/db';
import { withTransaction } from '@gatehouse/db';
import type { AuditService } from '../audit/service.js';
import type { AuditEvent } from '../audit/types.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import type { SecretBox } from '../mfa/secret-box.js';
import { transact } from '../unit-of-work.js';
import type { Invalidator } from '../unit-of-work.js';
import { decodeEvents, matchesEvent } from './events.js';
import { postWebhook, type PostOutcome } from './http.js';
import { signedHeaders } from './signing.js';
import { checkWebhookUrl, UrlRefusedError, type Resolver, type WebhookNetworkPolicy } from './ssrf.js';

export interface WebhookWorkerOptions {
  /** First retry delay (doubles each failed attempt). */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Up to this fraction of the delay is added at random (0: none). */
  jitter: number;
  /** Consecutive failed attempts before an endpoint is disabled… */
  autoDisableAfterFailures: number;
  /** …provided the first of them is at least this old. */
  autoDisableAfterMs: number;
  pollIntervalMs: number;
  /** How long a leased endpoint is held; longer than `messagesPerLease` requests can take. */
  leaseMs: number;
  messagesPerLease: number;
  requestTimeoutMs: number;
  endpointsPerRound: number;
}

const defaultWebhookWorkerOptions: Readonly<WebhookWorkerOptions> = Object.freeze({
  baseDelayMs: 5_000,
  maxDelayMs: 3_600_000,
  jitter: 0.1,
  autoDisableAfterFailures: 10,
  autoDisableAfterMs: 3_600_000,
  pollIntervalMs: 2_000,
  leaseMs: 150_000,
  messagesPerLease: 10,
  requestTimeoutMs: 10_000,
  endpointsPerRound: 20,
});

/** The delay before the next attempt after `failures` consecutive failed ones. */
function webhookRetryDelayMs(
  failures: number,
  options: Pick<WebhookWorkerOptions, 'baseDelayMs' | 'maxDelayMs' | 'jitter'>,
  random: () => number = Math.random,
): number {
  const base = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** Math.max(0, Math.min(30, failures - 1)));
  return Math.round(base * (1 + options.jitter * random()));
}

/** The `webhook-id`: the same for every attempt of one audit event to one endpoint. */
function messageId(endpointId: string, seq: number): string {
  return `msg_${endpointId}_${seq}`;
}

/** The Standard Webhooks payload `{ type, timestamp, data }` of an audit event. */
function eventPayload(event: AuditEvent): string {
  return JSON.stringify({
    type: event.type,
    timestamp: event.at.toISOString(),
    data: {
      seq: event.seq,
      type: event.type,
      at: event.at.toISOString(),
      actorId: event.actorId,
      targetId: event.targetId,
      ip: event.ip,
      userAgent: event.userAgent,
      data: event.data,
      leafHash: event.leafHash,
    },
  });
}

export interface WebhookDeps {
  db: Db;
  clock: Clock;
  audit: AuditService;
  invalidator: Invalidator;
  secrets: SecretBox;
  logger: Logger;
  policy: () => WebhookNetworkPolicy;
  resolver?: Resolver | undefined;
  onError?: (error: unknown) => void;
}

export const secretContext = (endpointId: string) => `webhook:${endpointId}`;

/** The secrets that sign now: the current one, and the previous one during its 24 h overlap. */
function signingSecrets(deps: Pick<WebhookDeps, 'secrets' | 'clock'>, row: WebhookEndpointRow): string[] | null {
  const open = (sealed: string) => {
    const bytes = deps.secrets.open(sealed, secretContext(row.id));
    return bytes === null ? null : Buffer.from(bytes).toString('utf8');
  };
  const current = open(row.secret_sealed);
  if (current === null) return null;
  const out = [current];
  if (
    row.previous_secret_sealed !== null &&
    row.previous_secret_expires_at !== null &&
    row.previous_secret_expires_at.getTime() > deps.clock.now().getTime()
  ) {
    const previous = open(row.previous_secret_sealed);
    if (previous !== null) out.push(previous);
  }
  return out;
}

export interface SendResult extends PostOutcome {
  messageId: string;
}

/** Checks the URL again (SSRF, DNS rebinding), signs and POSTs; never throws. */
export async function sendSigned(
  deps: WebhookDeps,
  row: WebhookEndpointRow,
  id: string,
  body: string,
  timeoutMs: number,
): Promise<SendResult> {
  const started = Date.now();
  const fail = (error: string): SendResult => ({
    ok: false,
    status: null,
    error,
    excerpt: null,
    durationMs: Date.now() - started,
    messageId: id,
  });
  const secrets = signingSecrets(deps, row);
  if (secrets === null) return fail('signing secret unreadable (MFA key changed?)');
  let target;
  try {
    target = await checkWebhookUrl(row.url, deps.policy(), deps.resolver);
  } catch (error) {
    if (error instanceof UrlRefusedError) return fail(`refused: ${error.message}`);
    return fail('address check failed');
  }
  const headers = signedHeaders(secrets, id, Math.floor(deps.clock.now().getTime() / 1000), body);
  const outcome = await postWebhook(target, { ...headers }, body, timeoutMs);
  return { ...outcome, messageId: id };
}

/** Appends one row to the endpoint's delivery log (numbered per endpoint). */
export async function logDelivery(
  db: Db,
  endpointId: string,
  entry: { seq: number | null; eventType: string; attempt: number; at: Date } & SendResult,
): Promise<void> {
  await withTransaction(db, async (trx) => {
    const bumped = await trx
      .updateTable('webhook_endpoints')
      .set((eb) => ({ deliveries: eb('deliveries', '+', 1) }))
      .where('id', '=', endpointId)
      .returning('deliveries')
      .executeTakeFirst();
    if (!bumped) return;
    await trx
      .insertInto('webhook_deliveries')
      .values({
        endpoint_id: endpointId,
        n: Number(bumped.deliveries),
        seq: entry.seq,
        event_type: entry.eventType,
        message_id: entry.messageId,
        attempt: entry.attempt,
        ok: entry.ok,
        status_code: entry.status,
        error: entry.error?.slice(0, 200) ?? null,
        response_excerpt: entry.excerpt?.slice(0, 256) ?? null,
        duration_ms: Math.max(0, Math.round(entry.durationMs)),
        at: entry.at,
      })
      .execute();
  });
}

export interface WebhookRound {
  delivered: number;
  failed: number;
}

export class WebhookWorker {
  readonly #deps: WebhookDeps;
  readonly #options: WebhookWorkerOptions;
  #timer: NodeJS.Timeout | null = null;
  #soon: NodeJS.Timeout | null = null;
  #running: Promise<WebhookRound> | null = null;
  #again = false;
  #closed = false;

  constructor(deps: WebhookDeps, options: Partial<WebhookWorkerOptions> = {}) {
    this.#deps = deps;
    this.#options = { ...defaultWebhookWorkerOptions, ...options };
  }

  get deps(): WebhookDeps {
    return this.#deps;
  }

  get options(): Readonly<WebhookWorkerOptions> {
    return this.#options;
  }

  start(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setInterval(() => this.kick(), this.#options.pollIntervalMs);
    this.#timer.unref();
    this.kick();
  }

  /** After an append: the event is not committed yet, so look a moment later. */
  kickSoon(): void {
    if (this.#closed || this.#soon) return;
    this.#soon = setTimeout(() => {
      this.#soon = null;
      this.kick();
    }, 50);
    this.#soon.unref();
  }

  /**
   * Wakes a started worker (after an append, an update or an enable). One that was never started
   * (services without background work: tests, the CLI) delivers only when asked (`deliverDue`),
   * never behind its caller's back.
   */
  kick(): void {
    if (this.#closed || this.#timer === null) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.deliverDue().catch((error: unknown) =>
      this.#deps.logger.error({ err: error, task: 'webhook delivery' }, 'webhook delivery failed'),
    );
  }

  /** One round (joined if one is running), repeated while kicks arrived during it. */
  deliverDue(): Promise<WebhookRound> {
    if (this.#running) return this.#running;
    const run = (async () => {
      const total: WebhookRound = { delivered: 0, failed: 0 };
      do {
        this.#again = false;
        const round = await this.#round();
        total.delivered += round.delivered;
        total.failed += round.failed;
      } while (this.#again && !this.#closed);
      return total;
    })();
    this.#running = run;
    return run.finally(() => {
      this.#running = null;
    });
  }

  async #claim(): Promise<{ rows: WebhookEndpointRow[]; token: string }> {
    const { db, clock } = this.#deps;
    const now = clock.now();
    const token = randomUUID();
    const rows = await withTransaction(db, async (trx) => {
      const head = await trx.selectFrom('audit_head').select('tree_size').where('id', '=', 1).executeTakeFirst();
      const size = Number(head?.tree_size ?? 0);
      let query = trx
        .selectFrom('webhook_endpoints')
        .selectAll()
        .where('enabled', '=', true)
        .where('next_attempt_at', '<=', now)
        .where('cursor_seq', '<', size)
        .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<=', now)]))
        .orderBy('next_attempt_at')
        .orderBy('id')
        .limit(this.#options.endpointsPerRound);
      if (db.dialect === 'postgres') query = query.forUpdate().skipLocked();
      const due = await query.execute();
      if (due.length === 0) return [];
      await trx
        .updateTable('webhook_endpoints')
        .set({ locked_until: new Date(now.getTime() + this.#options.leaseMs), lease_token: token })
        .where(
          'id',
          'in',
          due.map((r) => r.id),
        )
        .execute();
      return due;
    });
    return { rows, token };
  }

  async #round(): Promise<WebhookRound> {
    const result: WebhookRound = { delivered: 0, failed: 0 };
    for (let i = 0; i < 100 && !this.#closed; i++) {
      const { rows, token } = await this.#claim();
      if (rows.length === 0) break;
      for (const row of rows) {
        try {
          const one = await this.#deliverEndpoint(row, token);
          result.delivered += one.delivered;
          result.failed += one.failed;
        } catch (error) {
          this.#deps.logger.error({ err: error, webhookId: row.id }, 'webhook endpoint delivery failed');
          await this.#release(row.id, token).catch(() => {});
        }
      }
    }
    return result;
  }

  async #release(id: string, token: string): Promise<void> {
    await this.#deps.db.kysely
      .updateTable('webhook_endpoints')
      .set({ locked_until: null, lease_token: null })
      .where('id', '=', id)
      .where('lease_token', '=', token)
      .execute();
  }

  async #deliverEndpoint(row: WebhookEndpointRow, token: string): Promise<WebhookRound> {
    const { db, clock, audit } = this.#deps;
    const result: WebhookRound = { delivered: 0, failed: 0 };
    const patterns = decodeEvents(row.events);
    let cursor = Number(row.cursor_seq);
    let sent = 0;
    while (sent < this.#options.messagesPerLease && !this.#closed) {
      const events = await audit.log.eventsAfter(cursor, 200);
      if (events.length === 0) break;
      const next = events.find((e) => matchesEvent(patterns, e.type));
      if (next === undefined) {
        cursor = events.at(-1)?.seq ?? cursor;
        continue;
      }
      cursor = next.seq - 1; // the events skipped before it are handled
      const attempt = row.failures + 1;
      const outcome = await sendSigned(
        this.#deps,
        row,
        messageId(row.id, next.seq),
        eventPayload(next),
        this.#options.requestTimeoutMs,
      );
      sent += 1;
      const now = clock.now();
      await logDelivery(db, row.id, { ...outcome, seq: next.seq, eventType: next.type, attempt, at: now });
      if (outcome.ok) {
        cursor = next.seq;
        const updated = await db.kysely
          .updateTable('webhook_endpoints')
          .set({ cursor_seq: cursor, failures: 0, first_failure_at: null, last_error: null })
          .where('id', '=', row.id)
          .where('lease_token', '=', token)
          .executeTakeFirst();
        result.delivered += 1;
        if (Number(updated.numUpdatedRows) === 0) return result; // lease lost (deleted, or expired)
        row = { ...row, failures: 0, first_failure_at: null };
        continue;
      }
      result.failed += 1;
      await this.#recordFailure(row, token, cursor, attempt, outcome.error ?? 'failed', now);
      return result;
    }
    await db.kysely
      .updateTable('webhook_endpoints')
      .set({ cursor_seq: cursor, locked_until: null, lease_token: null })
      .where('id', '=', row.id)
      .where('lease_token', '=', token)
      .execute();
    return result;
  }

  async #recordFailure(
    row: WebhookEndpointRow,
    token: string,
    cursor: number,
    failures: number,
    error: string,
    now: Date,
  ): Promise<void> {
    const firstFailureAt = row.first_failure_at ?? now;
    const retryAt = new Date(now.getTime() + webhookRetryDelayMs(failures, this.#options));
    const giveUp =
      failures >= this.#options.autoDisableAfterFailures &&
      now.getTime() - firstFailureAt.getTime() >= this.#options.autoDisableAfterMs;
    const base = {
      cursor_seq: cursor,
      failures,
      first_failure_at: firstFailureAt,
      next_attempt_at: retryAt,
      last_error: error.slice(0, 200),
      locked_until: null,
      lease_token: null,
    };
    if (!giveUp) {
      await this.#deps.db.kysely
        .updateTable('webhook_endpoints')
        .set(base)
        .where('id', '=', row.id)
        .where('lease_token', '=', token)
        .execute();
      return;
    }
    const reason = `Disabled after ${failures} consecutive failed attempts: ${error}`.slice(0, 300);
    await transact({ ...this.#deps, onError: this.#deps.onError }, async ({ trx }) => {
      const updated = await trx
        .updateTable('webhook_endpoints')
        .set({ ...base, enabled: false, disabled_reason: reason, disabled_at: now, updated_at: now })
        .where('id', '=', row.id)
        .where('lease_token', '=', token)
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) === 0) return;
      await this.#deps.audit.append(trx, {
        type: 'webhook.auto_disabled',
        actorId: null,
        targetId: null,
        data: { webhookId: row.id, url: row.url, failures, lastError: error.slice(0, 200) },
      });
    });
    this.#deps.logger.warn({ webhookId: row.id, failures, error }, 'webhook endpoint disabled after repeated failures');
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    if (this.#soon) clearTimeout(this.#soon);
    this.#timer = null;
    this.#soon = null;
    await this.#running?.catch(() => {});
  }
}

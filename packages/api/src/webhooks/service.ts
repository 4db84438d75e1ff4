/**
 * The webhook use cases (issue 19), `(deps, actor, input)`, administrators only: create (the
 * secret is returned once), list, get, update, rotateSecret (the old secret keeps signing for
 * 24 h), disable, enable (resumes at the cursor), delete, the delivery log and a test message.
 * Each change and its audit event commit in one `transact`; the secret is never audited, logged
 * or stored in clear (sealed with the MFA key, bound to the endpoint id).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { WebhookDeliveryRow, WebhookEndpointRow } from '@gatehouse/db';
import { recorded, type Actor } from '../actor.js';
import { readHead } from '../audit/store.js';
import type { Clock } from '../clock.js';
import { DomainError, notFound } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ApiConfig } from '../config.js';
import type { Services } from '../services.js';
import type { WebhookService } from './types.js';
import { transact } from '../unit-of-work.js';
import { requireAdmin } from '../users/authorize.js';
import { decodeEvents, encodeEvents, normalizeEventPatterns } from './events.js';
import { generateWebhookSecret } from './signing.js';
import { checkWebhookUrl, UrlRefusedError, type Resolver, type WebhookNetworkPolicy } from './ssrf.js';
import {
  logDelivery,
  secretContext,
  sendSigned,
  WebhookWorker,
  type WebhookDeps,
  type WebhookWorkerOptions,
} from './worker.js';

/** How long the previous secret keeps signing after a rotation. */
const ROTATION_OVERLAP_MS = 24 * 3_600_000;
/** How far back `fromSeq` may reach (events before the head). */
const MAX_REPLAY_EVENTS = 10_000;

function networkPolicy(config: ApiConfig): WebhookNetworkPolicy {
  return { allowedHosts: config.webhookAllowedHosts ?? [], allowHttp: config.webhookAllowHttp ?? false };
}

export function createWebhookService(deps: {
  services: Omit<WebhookDeps, 'policy' | 'resolver' | 'logger'> & { config: ApiConfig };
  logger: Logger;
  background: boolean;
  resolver?: Resolver | undefined;
  worker?: Partial<WebhookWorkerOptions> | undefined;
}): WebhookService {
  const workerDeps: WebhookDeps = {
    ...deps.services,
    logger: deps.logger,
    policy: () => networkPolicy(deps.services.config),
    resolver: deps.resolver,
  };
  const worker = new WebhookWorker(workerDeps, deps.worker);
  let unsubscribe = () => {};
  if (deps.background) {
    unsubscribe = deps.services.audit.log.onAppend(() => worker.kickSoon());
    worker.start();
  }
  return {
    worker,
    async checkUrl(url) {
      try {
        await checkWebhookUrl(url, workerDeps.policy(), deps.resolver);
      } catch (error) {
        if (error instanceof UrlRefusedError) {
          throw new DomainError('BAD_REQUEST', 'webhook_url_refused', `Webhook URL refused: ${error.message}`, {
            field: 'url',
          });
        }
        throw error;
      }
    },
    deliverDue: () => worker.deliverDue(),
    async close() {
      unsubscribe();
      await worker.close();
    },
  };
}

export type WebhookUseCaseDeps = Pick<
  Services,
  'db' | 'clock' | 'audit' | 'invalidator' | 'mfaSecrets' | 'webhooks' | 'onError'
>;

export interface WebhookInfo {
  id: string;
  url: string;
  description: string;
  events: string[];
  enabled: boolean;
  /** `Disabled by an administrator`, or why it was disabled automatically. */
  disabledReason: string | null;
  disabledAt: Date | null;
  /** The last audit seq handled. */
  cursorSeq: number;
  failures: number;
  lastError: string | null;
  /** When the next attempt is due while failing. */
  nextAttemptAt: Date | null;
  /** The previous secret still signs until then (after a rotation). */
  previousSecretExpiresAt: Date | null;
  createdBy: string | null;
  createdAt: Date;
  updatedAt: Date;
}

const MANUAL_DISABLE = 'Disabled by an administrator';

function infoOf(row: WebhookEndpointRow, clock: Clock): WebhookInfo {
  const now = clock.now().getTime();
  return {
    id: row.id,
    url: row.url,
    description: row.description,
    events: decodeEvents(row.events),
    enabled: row.enabled,
    disabledReason: row.enabled ? null : row.disabled_reason,
    disabledAt: row.enabled ? null : row.disabled_at,
    cursorSeq: Number(row.cursor_seq),
    failures: row.failures,
    lastError: row.last_error,
    nextAttemptAt: row.enabled && row.failures > 0 ? row.next_attempt_at : null,
    previousSecretExpiresAt:
      row.previous_secret_expires_at !== null && row.previous_secret_expires_at.getTime() > now
        ? row.previous_secret_expires_at
        : null,
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

const webhookNotFound = () => notFound('Webhook', 'webhook_not_found');

function newId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  return `wh_${[...randomBytes(16)].map((b) => alphabet[b & 31]).join('')}`;
}

function seal(deps: WebhookUseCaseDeps, id: string, secret: string): string {
  return deps.mfaSecrets.seal(Buffer.from(secret, 'utf8'), secretContext(id));
}

async function rowOf(deps: WebhookUseCaseDeps, id: string): Promise<WebhookEndpointRow> {
  const row = await deps.db.kysely.selectFrom('webhook_endpoints').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) throw webhookNotFound();
  return row;
}

export interface CreateWebhookInput {
  url: string;
  events: string[];
  description?: string | undefined;
  /** Deliver from this audit seq on (at most MAX_REPLAY_EVENTS back); default: new events only. */
  fromSeq?: number | undefined;
}

export interface CreatedWebhook {
  /** `whsec_…`: shown this once, stored only sealed. */
  secret: string;
  webhook: WebhookInfo;
}

// Step-up: the router requires a recent authentication before `create` and `rotateSecret`.
export async function createWebhook(
  deps: WebhookUseCaseDeps,
  actor: Actor,
  input: CreateWebhookInput,
): Promise<CreatedWebhook> {
  await requireAdmin(deps, actor);
  const events = normalizeEventPatterns(input.events);
  await deps.webhooks.checkUrl(input.url);
  const id = newId();
  const secret = generateWebhookSecret();
  const now = deps.clock.now();
  const row = await transact(deps, async ({ trx }) => {
    await requireAdmin(deps, actor, trx);
    const head = await readHead(trx);
    let cursor = head.size;
    if (input.fromSeq !== undefined) {
      if (input.fromSeq < head.size - MAX_REPLAY_EVENTS + 1) {
        throw new DomainError(
          'BAD_REQUEST',
          'invalid_input',
          `fromSeq may reach at most ${MAX_REPLAY_EVENTS} events back (from ${Math.max(1, head.size - MAX_REPLAY_EVENTS + 1)})`,
          { field: 'fromSeq' },
        );
      }
      cursor = Math.min(head.size, Math.max(0, input.fromSeq - 1));
    }
    const values: WebhookEndpointRow = {
      id,
      url: input.url,
      description: input.description ?? '',
      events: encodeEvents(events),
      secret_sealed: seal(deps, id, secret),
      previous_secret_sealed: null,
      previous_secret_expires_at: null,
      enabled: true,
      disabled_reason: null,
      disabled_at: null,
      cursor_seq: cursor,
      failures: 0,
      first_failure_at: null,
      next_attempt_at: now,
      locked_until: null,
      lease_token: null,
      last_error: null,
      deliveries: 0,
      created_by: actor.userId,
      created_at: now,
      updated_at: now,
    };
    await trx.insertInto('webhook_endpoints').values(values).execute();
    await deps.audit.append(
      trx,
      recorded(actor, null, 'webhook.created', {
        webhookId: id,
        url: values.url,
        events,
        description: values.description,
        fromSeq: cursor + 1,
      }),
    );
    return values;
  });
  return { secret, webhook: infoOf(row, deps.clock) };
}

export async function listWebhooks(deps: WebhookUseCaseDeps, actor: Actor): Promise<WebhookInfo[]> {
  await requireAdmin(deps, actor);
  const rows = await deps.db.kysely
    .selectFrom('webhook_endpoints')
    .selectAll()
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  return rows.map((r) => infoOf(r, deps.clock));
}

export async function getWebhook(deps: WebhookUseCaseDeps, actor: Actor, input: { id: string }): Promise<WebhookInfo> {
  await requireAdmin(deps, actor);
  return infoOf(await rowOf(deps, input.id), deps.clock);
}

export interface UpdateWebhookInput {
  id: string;
  url?: string | undefined;
  events?: string[] | undefined;
  description?: string | undefined;
}

export async function updateWebhook(
  deps: WebhookUseCaseDeps,
  actor: Actor,
  input: UpdateWebhookInput,
): Promise<WebhookInfo> {
  await requireAdmin(deps, actor);
  const events = input.events === undefined ? undefined : normalizeEventPatterns(input.events);
  if (input.url !== undefined) await deps.webhooks.checkUrl(input.url);
  const now = deps.clock.now();
  await transact(deps, async ({ trx }) => {
    await requireAdmin(deps, actor, trx);
    const changes = {
      ...(input.url !== undefined ? { url: input.url } : {}),
      ...(events !== undefined ? { events: encodeEvents(events) } : {}),
      ...(input.description !== undefined ? { description: input.description } : {}),
    };
    const updated = await trx
      .updateTable('webhook_endpoints')
      .set({ ...changes, updated_at: now })
      .where('id', '=', input.id)
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) === 0) throw webhookNotFound();
    await deps.audit.append(
      trx,
      recorded(actor, null, 'webhook.updated', {
        webhookId: input.id,
        ...(changes.url !== undefined ? { url: changes.url } : {}),
        ...(events !== undefined ? { events } : {}),
        ...(changes.description !== undefined ? { description: changes.description } : {}),
      }),
    );
  });
  deps.webhooks.worker.kick();
  return infoOf(await rowOf(deps, input.id), deps.clock);
}

export async function rotateWebhookSecret(
  deps: WebhookUseCaseDeps,
  actor: Actor,
  input: { id: string },
): Promise<CreatedWebhook> {
  await requireAdmin(deps, actor);
  const secret = generateWebhookSecret();
  const now = deps.clock.now();
  const expires = new Date(now.getTime() + ROTATION_OVERLAP_MS);
  await transact(deps, async ({ trx }) => {
    await requireAdmin(deps, actor, trx);
    const row = await trx
      .selectFrom('webhook_endpoints')
      .select(['id', 'secret_sealed'])
      .where('id', '=', input.id)
      .executeTakeFirst();
    if (!row) throw webhookNotFound();
    await trx
      .updateTable('webhook_endpoints')
      .set({
        secret_sealed: seal(deps, row.id, secret),
        previous_secret_sealed: row.secret_sealed,
        previous_secret_expires_at: expires,
        updated_at: now,
      })
      .where('id', '=', row.id)
      .execute();
    await deps.audit.append(
      trx,
      recorded(actor, null, 'webhook.secret_rotated', { webhookId: row.id, previousValidUntil: expires.toISOString() }),
    );
  });
  return { secret, webhook: infoOf(await rowOf(deps, input.id), deps.clock) };
}

async function setEnabled(deps: WebhookUseCaseDeps, actor: Actor, id: string, enabled: boolean): Promise<WebhookInfo> {
  await requireAdmin(deps, actor);
  const now = deps.clock.now();
  await transact(deps, async ({ trx }) => {
    await requireAdmin(deps, actor, trx);
    const row = await trx
      .selectFrom('webhook_endpoints')
      .select(['id', 'url', 'enabled'])
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw webhookNotFound();
    if (row.enabled === enabled) return;
    await trx
      .updateTable('webhook_endpoints')
      .set(
        enabled
          ? {
              enabled: true,
              disabled_reason: null,
              disabled_at: null,
              failures: 0,
              first_failure_at: null,
              last_error: null,
              next_attempt_at: now,
              updated_at: now,
            }
          : { enabled: false, disabled_reason: MANUAL_DISABLE, disabled_at: now, updated_at: now },
      )
      .where('id', '=', id)
      .execute();
    await deps.audit.append(
      trx,
      recorded(actor, null, enabled ? 'webhook.enabled' : 'webhook.disabled', { webhookId: id, url: row.url }),
    );
  });
  if (enabled) deps.webhooks.worker.kick();
  return infoOf(await rowOf(deps, id), deps.clock);
}

export const disableWebhook = (deps: WebhookUseCaseDeps, actor: Actor, input: { id: string }) =>
  setEnabled(deps, actor, input.id, false);
export const enableWebhook = (deps: WebhookUseCaseDeps, actor: Actor, input: { id: string }) =>
  setEnabled(deps, actor, input.id, true);

export async function deleteWebhook(
  deps: WebhookUseCaseDeps,
  actor: Actor,
  input: { id: string },
): Promise<{ ok: true }> {
  await requireAdmin(deps, actor);
  await transact(deps, async ({ trx }) => {
    await requireAdmin(deps, actor, trx);
    const row = await trx
      .selectFrom('webhook_endpoints')
      .select(['id', 'url'])
      .where('id', '=', input.id)
      .executeTakeFirst();
    if (!row) throw webhookNotFound();
    await trx.deleteFrom('webhook_deliveries').where('endpoint_id', '=', row.id).execute();
    await trx.deleteFrom('webhook_endpoints').where('id', '=', row.id).execute();
    await deps.audit.append(trx, recorded(actor, null, 'webhook.deleted', { webhookId: row.id, url: row.url }));
  });
  return { ok: true };
}

export interface WebhookDelivery {
  n: number;
  /** The audit seq; null for a test message. */
  seq: number | null;
  eventType: string;
  messageId: string;
  attempt: number;
  ok: boolean;
  statusCode: number | null;
  error: string | null;
  responseExcerpt: string | null;
  durationMs: number;
  at: Date;
}

function deliveryOf(row: WebhookDeliveryRow): WebhookDelivery {
  return {
    n: Number(row.n),
    seq: row.seq === null ? null : Number(row.seq),
    eventType: row.event_type,
    messageId: row.message_id,
    attempt: row.attempt,
    ok: row.ok,
    statusCode: row.status_code,
    error: row.error,
    responseExcerpt: row.response_excerpt,
    durationMs: row.duration_ms,
    at: row.at,
  };
}

/** The delivery log of one endpoint, newest first; `cursor` is the `n` below which the next page starts. */
export async function listDeliveries(
  deps: WebhookUseCaseDeps,
  actor: Actor,
  input: { id: string; cursor?: string | null | undefined; limit?: number | undefined },
): Promise<{ items: WebhookDelivery[]; nextCursor: string | null }> {
  await requireAdmin(deps, actor);
  await rowOf(deps, input.id);
  const limit = input.limit ?? 50;
  let before: number | null = null;
  if (input.cursor != null) {
    if (!/^[1-9][0-9]{0,15}$/.test(input.cursor)) {
      throw new DomainError('BAD_REQUEST', 'invalid_input', 'Invalid cursor', { field: 'cursor' });
    }
    before = Number(input.cursor);
  }
  const rows = await deps.db.kysely
    .selectFrom('webhook_deliveries')
    .selectAll()
    .where('endpoint_id', '=', input.id)
    .$if(before !== null, (qb) => qb.where('n', '<', before as number))
    .orderBy('n', 'desc')
    .limit(limit + 1)
    .execute();
  const items = rows.slice(0, limit).map(deliveryOf);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last !== undefined ? String(last.n) : null };
}

/** Sends a signed `webhook.test` message now (outside the audit order) and logs the attempt. */
export async function sendTestWebhook(
  deps: WebhookUseCaseDeps,
  actor: Actor,
  input: { id: string },
): Promise<WebhookDelivery> {
  await requireAdmin(deps, actor);
  const row = await rowOf(deps, input.id);
  const now = deps.clock.now();
  const id = `msg_test_${randomUUID()}`;
  const body = JSON.stringify({
    type: 'webhook.test',
    timestamp: now.toISOString(),
    data: { webhookId: row.id, message: 'A test message from Gatehouse' },
  });
  const worker = deps.webhooks.worker;
  const outcome = await sendSigned(worker.deps, row, id, body, worker.options.requestTimeoutMs);
  await logDelivery(deps.db, row.id, { ...outcome, seq: null, eventType: 'webhook.test', attempt: 1, at: now });
  const [latest] = (await listDeliveries(deps, actor, { id: row.id, limit: 1 })).items;
  if (!latest) throw webhookNotFound();
  return latest;
}

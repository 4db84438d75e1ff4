/**
 * Webhooks (issue 19) on both dialects, delivered over real HTTP to a loopback receiver and
 * verified with the independent `standardwebhooks` package: the secret shown once and stored
 * sealed, signatures that verify (two during a rotation), only the chosen events, in seq order,
 * retried after the receiver was down with the same `webhook-id`, auto-disabled after repeated
 * failure and resumed on enable, SSRF refusals at create and at delivery (DNS rebinding), and
 * nothing lost when the services stop mid-way and new ones start on the same database.
 */
import { randomBytes } from 'node:crypto';
import type { Db } from '@gatehouse/db';
import { createMigratedTestDb, testDialects } from '@gatehouse/db/testing';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditEventType } from '../audit/types.js';
import { ManualClock } from '../clock.js';
import type { Services } from '../services.js';
import {
  callerFor,
  createTestServices,
  createTestUser,
  startTestWebhookReceiver,
  trpcError,
  type TestServicesOverrides,
  type TestWebhookReceiver,
} from '../testing.js';
import { transact } from '../unit-of-work.js';
import { isRefusedAddress } from './ssrf.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

describe.each(testDialects)('webhooks on %s', (dialect) => {
  let db: Db;
  let cleanup: () => Promise<void>;
  let clock: ManualClock;
  let receiver: TestWebhookReceiver;
  let services: Services;
  let adminToken: string;
  const mfaKey = new Uint8Array(randomBytes(32));
  const opened: Services[] = [];
  const fakeDns = new Map<string, string>();

  async function open(overrides: TestServicesOverrides = {}): Promise<Services> {
    const s = await createTestServices(db, {
      clock,
      mfaKey,
      config: { webhookAllowedHosts: [`127.0.0.1:${receiver.port}`] },
      webhookWorker: { jitter: 0, baseDelayMs: 1000 },
      webhookResolver: async (host) => {
        const address = fakeDns.get(host);
        if (address) return [{ address, family: address.includes(':') ? 6 : 4 }];
        return [{ address: '127.0.0.1', family: 4 }]; // `localhost` and anything else: loopback
      },
      ...overrides,
    });
    opened.push(s);
    return s;
  }

  const admin = () => callerFor(services, adminToken);

  async function record(type: AuditEventType, data: Record<string, unknown> = {}, on = services) {
    return transact(on, ({ trx }) => on.audit.append(trx, { type, actorId: null, targetId: null, data }));
  }

  async function create(events: string[] = ['*'], url = `${receiver.origin}/hook`) {
    return admin().webhook.create({ url, events, description: 'SIEM' });
  }

  beforeEach(async () => {
    ({ db, cleanup } = await createMigratedTestDb(dialect));
    // Near the real time: standardwebhooks refuses timestamps more than 5 minutes off.
    clock = new ManualClock(new Date());
    receiver = await startTestWebhookReceiver();
    fakeDns.clear();
    services = await open();
    adminToken = (await createTestUser(services, { role: 'admin' })).token as string;
  });
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
    await receiver.stop();
    await cleanup();
  });

  it('returns a whsec_ secret once, stores it sealed, and signs what verifies with the standardwebhooks package', async () => {
    const { secret, webhook } = await create(['auth.*']);
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    expect(webhook).toMatchObject({ url: `${receiver.origin}/hook`, events: ['auth.*'], enabled: true });
    const row = await db.kysely
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('id', '=', webhook.id)
      .executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain(secret.slice(6));
    expect(JSON.stringify(await admin().webhook.list())).not.toContain(secret.slice(6));
    const audited = await db.kysely.selectFrom('audit_events').select(['type', 'data']).execute();
    expect(audited.map((e) => e.type)).toContain('webhook.created');
    expect(JSON.stringify(audited)).not.toContain(secret.slice(6));

    const signIn = await record('auth.sign_in', { method: 'password' });
    await record('user.created');
    expect(await services.webhooks.deliverDue()).toEqual({ delivered: 1, failed: 0 });
    expect(receiver.received).toHaveLength(1);
    const got = receiver.received[0]!;
    const verified = new Webhook(secret).verify(got.body, got.headers) as { type: string; data: { seq: number } };
    expect(verified.type).toBe('auth.sign_in');
    expect(verified.data.seq).toBe(signIn.seq);
    expect(got.json).toMatchObject({ type: 'auth.sign_in', timestamp: signIn.at.toISOString() });
    expect(got.headers['webhook-id']).toBe(`msg_${webhook.id}_${signIn.seq}`);
    expect(() => new Webhook(`whsec_${randomBytes(24).toString('base64')}`).verify(got.body, got.headers)).toThrow();
    expect(() => new Webhook(secret).verify(`${got.body} `, got.headers)).toThrow();
    // New endpoints start at the head: nothing from before their creation.
    expect(receiver.received.some((r) => r.json.type === 'webhook.created')).toBe(false);
  });

  it('signs with both secrets for 24 hours after a rotation, then with the new one only', async () => {
    const { secret: old, webhook } = await create();
    const rotated = await admin().webhook.rotateSecret({ id: webhook.id });
    expect(rotated.secret).not.toBe(old);
    expect(rotated.webhook.previousSecretExpiresAt?.getTime()).toBe(clock.now().getTime() + 24 * HOUR);
    await record('auth.sign_in');
    await services.webhooks.deliverDue();
    const during = receiver.received.at(-1)!;
    expect(during.headers['webhook-signature']!.split(' ')).toHaveLength(2);
    expect(new Webhook(old).verify(during.body, during.headers)).toBeTruthy();
    expect(new Webhook(rotated.secret).verify(during.body, during.headers)).toBeTruthy();
    const types = (await db.kysely.selectFrom('audit_events').select('type').execute()).map((e) => e.type);
    expect(types).toContain('webhook.secret_rotated');

    clock.advance(24 * HOUR + 1);
    await record('auth.sign_out');
    await services.webhooks.deliverDue();
    const after = receiver.received.at(-1)!;
    expect(after.json.type).toBe('auth.sign_out');
    expect(after.headers['webhook-signature']!.split(' ')).toHaveLength(1);
  });

  it('delivers in seq order, stops at a failure and retries it with the same webhook-id after the backoff', async () => {
    const { webhook } = await create(['auth.sign_in', 'user.*']);
    receiver.status = 503;
    const a = await record('auth.sign_in', { n: 1 });
    await record('auth.sign_out'); // not chosen: skipped
    const b = await record('user.created', { n: 2 });
    const c = await record('auth.sign_in', { n: 3 });
    expect(await services.webhooks.deliverDue()).toEqual({ delivered: 0, failed: 1 });
    expect(receiver.attempts.map((r) => r.json.data.seq)).toEqual([a.seq]);
    // Not due before the backoff (1 s after the first failure).
    expect(await services.webhooks.deliverDue()).toEqual({ delivered: 0, failed: 0 });
    const state = await admin().webhook.get({ id: webhook.id });
    expect(state).toMatchObject({ failures: 1, lastError: 'HTTP 503', cursorSeq: a.seq - 1 });

    receiver.status = 200;
    clock.advance(1000);
    expect(await services.webhooks.deliverDue()).toEqual({ delivered: 3, failed: 0 });
    expect(receiver.received.map((r) => r.json.data.seq)).toEqual([a.seq, b.seq, c.seq]);
    expect(receiver.attempts[0]!.headers['webhook-id']).toBe(receiver.received[0]!.headers['webhook-id']);
    expect(Number(receiver.received[1]!.headers['webhook-timestamp'])).toBeGreaterThan(0);

    const log = await admin().webhook.deliveries({ id: webhook.id });
    expect(log.items.map((d) => [d.seq, d.attempt, d.ok, d.statusCode, d.error])).toEqual([
      [c.seq, 1, true, 200, null],
      [b.seq, 1, true, 200, null],
      [a.seq, 2, true, 200, null],
      [a.seq, 1, false, 503, 'HTTP 503'],
    ]);
    const page = await admin().webhook.deliveries({ id: webhook.id, limit: 3 });
    expect(page.nextCursor).not.toBeNull();
    const rest = await admin().webhook.deliveries({ id: webhook.id, limit: 3, cursor: page.nextCursor });
    expect(rest.items.map((d) => d.attempt)).toEqual([1]);
    expect((await admin().webhook.get({ id: webhook.id })).failures).toBe(0);
  });

  it('disables an endpoint after repeated failures spanning the threshold, audits it, and resumes on enable', async () => {
    services = await open({
      config: { webhookAllowedHosts: [`127.0.0.1:${receiver.port}`] },
      webhookWorker: { jitter: 0, baseDelayMs: 1000, autoDisableAfterFailures: 3, autoDisableAfterMs: MINUTE },
    });
    adminToken = (await createTestUser(services, { role: 'admin' })).token as string;
    const { secret, webhook } = await create(['auth.sign_in']);
    receiver.status = 500;
    const first = await record('auth.sign_in');
    for (let i = 0; i < 3; i++) {
      expect(await services.webhooks.deliverDue()).toEqual({ delivered: 0, failed: 1 });
      clock.advance(40_000);
    }
    const disabled = await admin().webhook.get({ id: webhook.id });
    expect(disabled.enabled).toBe(false);
    expect(disabled.disabledReason).toMatch(/^Disabled after 3 consecutive failed attempts: HTTP 500/);
    const event = await db.kysely
      .selectFrom('audit_events')
      .select(['type', 'actor_id', 'data'])
      .where('type', '=', 'webhook.auto_disabled')
      .executeTakeFirstOrThrow();
    expect(event.actor_id).toBeNull();
    expect(JSON.parse(event.data)).toMatchObject({ webhookId: webhook.id, failures: 3 });
    clock.advance(HOUR);
    expect(await services.webhooks.deliverDue()).toEqual({ delivered: 0, failed: 0 });

    receiver.status = 200;
    clock.set(new Date());
    await admin().webhook.enable({ id: webhook.id });
    expect(await services.webhooks.deliverDue()).toEqual({ delivered: 1, failed: 0 });
    const got = receiver.received[0]!;
    expect(got.json.data.seq).toBe(first.seq);
    expect(new Webhook(secret).verify(got.body, got.headers)).toBeTruthy();
    const types = (await db.kysely.selectFrom('audit_events').select('type').orderBy('seq').execute()).map(
      (e) => e.type,
    );
    expect(types.filter((t) => t.startsWith('webhook.'))).toEqual([
      'webhook.created',
      'webhook.auto_disabled',
      'webhook.enabled',
    ]);
  });

  it('refuses non-http(s), private, loopback, link-local and mapped addresses at create, and plain http to public hosts', async () => {
    const refused = async (url: string) => {
      const error = await trpcError(create(['*'], url));
      expect({ url, reason: error.reason }).toEqual({ url, reason: 'webhook_url_refused' });
    };
    await refused('ftp://example.com/x');
    await refused(`http://localhost:${receiver.port}/hook`); // resolves to 127.0.0.1; only 127.0.0.1:<port> is allowed
    await refused(`http://127.0.0.1:${receiver.port + 1}/hook`); // another port
    await refused('https://10.1.2.3/hook');
    await refused('https://169.254.169.254/latest/meta-data');
    await refused('https://[::1]/hook');
    await refused('https://[::ffff:127.0.0.1]/hook');
    await refused('https://[::ffff:7f00:1]/hook');
    await refused('https://100.64.0.1/hook');
    await refused('https://0.0.0.0/hook');
    await refused('https://user:pw@93.184.216.34/hook');
    await refused('http://93.184.216.34/hook'); // public, but plain http
    fakeDns.set('internal.example.test', '192.168.1.10');
    await refused('https://internal.example.test/hook');
    expect((await trpcError(create(['nope.thing']))).reason).toBe('invalid_input');
    expect((await trpcError(create(['bogus.*']))).reason).toBe('invalid_input');
    expect(await admin().webhook.list()).toEqual([]);

    for (const address of ['127.0.0.1', '10.0.0.1', '172.16.0.1', '192.168.0.1', '169.254.1.1', '100.100.0.1']) {
      expect(isRefusedAddress(address)).toBe(true);
    }
    for (const address of ['::', '::1', 'fe80::1', 'fd00::1', 'ff02::1', '::ffff:10.0.0.1', '64:ff9b::7f00:1']) {
      expect(isRefusedAddress(address)).toBe(true);
    }
    for (const address of ['93.184.216.34', '2606:4700::1111', '::ffff:93.184.216.34']) {
      expect(isRefusedAddress(address)).toBe(false);
    }
  });

  it('checks the address again at delivery: a name that now resolves to loopback is refused, nothing is sent', async () => {
    fakeDns.set('hooks.example.test', '93.184.216.34');
    const { webhook } = await create(['*'], `https://hooks.example.test:${receiver.port}/hook`);
    fakeDns.set('hooks.example.test', '127.0.0.1'); // DNS rebinding
    await record('auth.sign_in');
    expect(await services.webhooks.deliverDue()).toEqual({ delivered: 0, failed: 1 });
    expect(receiver.attempts).toHaveLength(0);
    const [attempt] = (await admin().webhook.deliveries({ id: webhook.id })).items;
    expect(attempt?.error).toMatch(
      /^refused: hooks\.example\.test resolves to a private, loopback or reserved address/,
    );

    // `localhost` allowed at create, then taken out of WEBHOOK_ALLOWED_HOSTS: refused at delivery.
    services.config.webhookAllowedHosts = [`localhost:${receiver.port}`];
    const local = await create(['*'], `http://localhost:${receiver.port}/hook`);
    services.config.webhookAllowedHosts = [];
    await record('auth.sign_out');
    clock.advance(HOUR);
    await services.webhooks.deliverDue();
    expect(receiver.attempts).toHaveLength(0);
    const [refusedLocal] = (await admin().webhook.deliveries({ id: local.webhook.id })).items;
    expect(refusedLocal?.error).toMatch(/^refused: /);
  });

  it('loses nothing across a restart: new services on the same database deliver the rest in order', async () => {
    await create(['auth.*']);
    const seqs: number[] = [];
    for (let i = 0; i < 2; i++) seqs.push((await record('auth.sign_in', { i })).seq);
    expect(await services.webhooks.deliverDue()).toEqual({ delivered: 2, failed: 0 });
    receiver.status = 503;
    for (let i = 2; i < 5; i++) seqs.push((await record('auth.sign_in', { i })).seq);
    expect(await services.webhooks.deliverDue()).toEqual({ delivered: 0, failed: 1 });
    await services.close();

    const next = await open();
    for (let i = 5; i < 7; i++) seqs.push((await record('auth.sign_in', { i }, next)).seq);
    receiver.status = 200;
    clock.advance(5000);
    expect(await next.webhooks.deliverDue()).toEqual({ delivered: 5, failed: 0 });
    expect(receiver.received.map((r) => r.json.data.seq)).toEqual(seqs);
  });

  it('a lease held by a crashed worker blocks the endpoint until it expires, then delivery goes on', async () => {
    const { webhook } = await create(['auth.*']);
    const signIn = await record('auth.sign_in');
    // Another instance leased the endpoint and died before releasing it.
    await db.kysely
      .updateTable('webhook_endpoints')
      .set({ locked_until: new Date(clock.now().getTime() + 150_000), lease_token: 'crashed-worker' })
      .where('id', '=', webhook.id)
      .execute();
    expect(await services.webhooks.deliverDue()).toEqual({ delivered: 0, failed: 0 });
    clock.advance(150_000);
    expect(await services.webhooks.deliverDue()).toEqual({ delivered: 1, failed: 0 });
    expect(receiver.received.map((r) => r.json.data.seq)).toEqual([signIn.seq]);
  });

  it('two workers on one database deliver each message exactly once while both are up, in order', async () => {
    const other = await open();
    await create(['auth.*']);
    const seqs: number[] = [];
    for (let i = 0; i < 12; i++) seqs.push((await record('auth.sign_in', { i })).seq);
    const [x, y] = await Promise.all([services.webhooks.deliverDue(), other.webhooks.deliverDue()]);
    expect(x.delivered + y.delivered).toBe(12);
    expect(receiver.received.map((r) => r.json.data.seq)).toEqual(seqs);
  });

  it('admin only, step-up for create and rotateSecret, sendTest, update, disable and delete audited', async () => {
    const member = await createTestUser(services, { role: 'member' });
    expect((await trpcError(callerFor(services, member.token).webhook.list())).reason).toBe('admin_required');
    const { webhook } = await create(['auth.sign_in']);

    const test = await admin().webhook.sendTest({ id: webhook.id });
    expect(test).toMatchObject({ eventType: 'webhook.test', ok: true, statusCode: 200, seq: null });
    expect(receiver.received.at(-1)?.json.type).toBe('webhook.test');

    const updated = await admin().webhook.update({ id: webhook.id, events: ['mfa.*', 'auth.sign_in'] });
    expect(updated.events).toEqual(['auth.sign_in', 'mfa.*']);
    expect((await trpcError(admin().webhook.update({ id: webhook.id, url: 'https://10.0.0.1/' }))).reason).toBe(
      'webhook_url_refused',
    );
    expect((await admin().webhook.disable({ id: webhook.id })).disabledReason).toBe('Disabled by an administrator');
    await record('auth.sign_in');
    expect(await services.webhooks.deliverDue()).toEqual({ delivered: 0, failed: 0 });

    clock.advance(11 * MINUTE);
    expect((await trpcError(create())).reason).toBe('reauthentication_required');
    expect((await trpcError(admin().webhook.rotateSecret({ id: webhook.id }))).reason).toBe(
      'reauthentication_required',
    );
    await admin().webhook.delete({ id: webhook.id });
    expect((await trpcError(admin().webhook.get({ id: webhook.id }))).reason).toBe('webhook_not_found');
    expect((await trpcError(admin().webhook.get({ id: 'not-an-id' }))).reason).toBe('validation_failed');
    const types = (await db.kysely.selectFrom('audit_events').select('type').orderBy('seq').execute()).map(
      (e) => e.type,
    );
    expect(types.filter((t) => t.startsWith('webhook.'))).toEqual([
      'webhook.created',
      'webhook.updated',
      'webhook.disabled',
      'webhook.deleted',
    ]);
  });
});

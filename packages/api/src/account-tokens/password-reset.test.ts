/**
 * Password reset end to end on both dialects, through the router, against a real SMTP server on
 * loopback (smtp-server) with every mail parsed by mailparser: request → mail arrives → the link
 * is read out of it → followed → the password is new, every session ended, a notice mailed, all
 * audited. Also: the same answer for unknown addresses, SMTP outages, expiry, reuse, the wrong
 * purpose, throttling, and `mail_not_configured` without SMTP.
 */
import type { Db } from '@gatehouse/db';
import { createMigratedTestDb, testDialects } from '@gatehouse/db/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import type { ApiConfig } from '../config.js';
import { createContext, type RequestInfo } from '../context.js';
import { createCaller } from '../root.js';
import type { Services } from '../services.js';
import {
  callerFor,
  createTestServices,
  createTestUser,
  startTestSmtp,
  tokenFromLink,
  trpcError,
  type TestServicesOverrides,
  type TestSmtp,
} from '../testing.js';

const MINUTE = 60_000;
const NEW_PASSWORD = 'saffron kettle lighthouse';

describe.each(testDialects)('password reset by mail on %s', (dialect) => {
  let db: Db;
  let cleanup: () => Promise<void>;
  let clock: ManualClock;
  let services: Services;
  let smtp: TestSmtp;

  const visitor: Partial<RequestInfo> = { ip: '198.51.100.4', userAgent: 'Browser/2.0' };
  const anonymous = (req: Partial<RequestInfo> = {}) => createCaller(createContext(services, { ...visitor, ...req }));

  async function restart(overrides: TestServicesOverrides & { config?: Partial<ApiConfig> } = {}) {
    await services.close();
    services = await createTestServices(db, {
      clock,
      ...overrides,
      config: { mail: smtp.mailConfig(), ...overrides.config },
    });
  }

  async function auditOf(type: string) {
    const rows = await db.kysely
      .selectFrom('audit_events')
      .selectAll()
      .where('type', '=', type)
      .orderBy('seq')
      .execute();
    return rows.map((r) => ({ ...r, data: JSON.parse(r.data) as Record<string, unknown> }));
  }

  beforeEach(async () => {
    ({ db, cleanup } = await createMigratedTestDb(dialect));
    clock = new ManualClock('2026-05-01T08:00:00.000Z');
    smtp = await startTestSmtp();
    services = await createTestServices(db, { clock, config: { mail: smtp.mailConfig() } });
  });
  afterEach(async () => {
    await services.close();
    await smtp.stop();
    await cleanup();
  });

  it('mails a link that sets the new password, ends every session, verifies the address and sends a notice', async () => {
    const ada = await createTestUser(services, { email: 'ada@example.com', name: 'Ada' });
    const second = await createTestUser(services, { email: 'other@example.com' });

    expect(await anonymous().auth.requestPasswordReset({ email: 'Ada@Example.com' })).toEqual({ ok: true });
    // Nothing was sent during the request: the mail waits in the outbox for the worker.
    expect(smtp.received).toHaveLength(0);
    expect(await services.mail.deliverDue()).toEqual({ sent: 1, failed: 0 });

    const mail = await smtp.next((m) => m.to === 'ada@example.com');
    expect(mail.subject).toBe('Reset your Gatehouse password');
    expect(mail.from).toContain('gatehouse@example.test');
    expect(mail.text).toContain('Hello Ada,');
    expect(mail.text).toContain('30 minutes');
    const link = mail.links.find((l) => l.includes('#/reset-password/'));
    if (!link) throw new Error('no reset link in the mail');
    expect(link.startsWith('http://localhost:3000/#/reset-password/')).toBe(true);
    // The HTML part carries the same link, and nothing that loads from elsewhere (no tracking).
    expect(mail.html).toContain(`href="${link}"`);
    expect(mail.html).not.toMatch(/<img|src=/i);

    const token = tokenFromLink(link);
    const result = await anonymous().auth.resetPassword({ token, newPassword: NEW_PASSWORD });
    expect(result).toEqual({ ok: true, revokedSessions: 1 });

    // The old session is gone; the new password signs in; the other user is untouched.
    expect((await trpcError(callerFor(services, ada.token).auth.me())).reason).toBe('unauthenticated');
    const signedIn = await anonymous().auth.signIn({ identifier: 'ada@example.com', password: NEW_PASSWORD });
    expect(signedIn.status).toBe('signed-in');
    if (signedIn.status === 'signed-in') expect(signedIn.user.emailVerifiedAt).toEqual(clock.now());
    expect((await callerFor(services, second.token).auth.me()).user.email).toBe('other@example.com');

    // The link worked once.
    const again = await trpcError(anonymous().auth.resetPassword({ token, newPassword: 'another fine password' }));
    expect([again.code, again.reason]).toEqual(['BAD_REQUEST', 'invalid_token']);

    await services.mail.deliverDue();
    const notice = await smtp.next((m) => m.subject === 'Your Gatehouse password was changed');
    expect(notice.to).toBe('ada@example.com');
    expect(notice.text).not.toContain(token);

    const requested = await auditOf('auth.password_reset_requested');
    expect(requested.map((r) => [r.target_id, r.data.known])).toEqual([[ada.user.id, true]]);
    const reset = await auditOf('auth.password_reset');
    expect(reset).toHaveLength(1);
    expect(reset[0]).toMatchObject({ actor_id: ada.user.id, target_id: ada.user.id, ip: '198.51.100.4' });
    expect(reset[0]?.data).toEqual({ revokedSessions: 1 });
    // No token, secret or password in the audit log, and none left in the outbox once sent.
    const secret = token.split('.')[1] ?? '';
    const everything = JSON.stringify(await db.kysely.selectFrom('audit_events').select('data').execute());
    expect(everything).not.toContain(secret);
    expect(everything).not.toContain(NEW_PASSWORD);
    const outbox = await db.kysely.selectFrom('mail_outbox').selectAll().execute();
    expect(outbox.every((row) => row.status === 'sent' && row.text_body === null && row.html_body === null)).toBe(true);
    // The stored token is the SHA-256 of its secret, never the secret.
    const stored = await db.kysely.selectFrom('account_tokens').selectAll().execute();
    expect(stored).toHaveLength(1);
    expect(Buffer.from(stored[0]?.secret_hash ?? []).length).toBe(32);
    expect(JSON.stringify(stored)).not.toContain(secret);
  });

  it('answers unknown and inactive addresses exactly like known ones, and mails nobody', async () => {
    await restart({ mailThrottle: { accountIpLimit: 1000, accountLimit: 1000, ipLimit: 1000 } });
    await createTestUser(services, { email: 'known@example.com', withSession: false });
    await createTestUser(services, { email: 'asleep@example.com', isActive: false });
    const known = await anonymous().auth.requestPasswordReset({ email: 'known@example.com' });
    const unknown = await anonymous().auth.requestPasswordReset({ email: 'ghost@example.com' });
    const inactive = await anonymous().auth.requestPasswordReset({ email: 'asleep@example.com' });
    expect(unknown).toEqual(known);
    expect(inactive).toEqual(known);
    await services.mail.deliverDue();
    expect(smtp.received.map((m) => m.to)).toEqual(['known@example.com']);
    expect((await auditOf('auth.password_reset_requested')).map((r) => r.data.known)).toEqual([true, false, false]);

    // And in the same time: neither waits for SMTP; the fastest of several runs is compared.
    await smtp.stop();
    const time = async (email: string) => {
      const start = performance.now();
      await anonymous().auth.requestPasswordReset({ email });
      return performance.now() - start;
    };
    const knownTimes: number[] = [];
    const unknownTimes: number[] = [];
    for (let i = 0; i < 9; i++) {
      knownTimes.push(await time('known@example.com'));
      unknownTimes.push(await time(`ghost${i}@example.com`));
    }
    const ratio = Math.min(...unknownTimes) / Math.min(...knownTimes);
    expect(ratio).toBeGreaterThan(0.33);
    expect(ratio).toBeLessThan(3);
    // Even with the SMTP server down, no request took long: none of them touched SMTP.
    expect(Math.max(...knownTimes)).toBeLessThan(1000);
    await smtp.start();
  });

  it('loses no mail while SMTP is down: the worker retries with backoff and delivers once it is back', async () => {
    await restart({ mailWorker: { baseDelayMs: 30_000 } });
    await createTestUser(services, { email: 'patient@example.com', withSession: false });
    await smtp.stop();

    const start = performance.now();
    expect(await anonymous().auth.requestPasswordReset({ email: 'patient@example.com' })).toEqual({ ok: true });
    expect(performance.now() - start).toBeLessThan(1000);

    expect(await services.mail.deliverDue()).toEqual({ sent: 0, failed: 1 });
    let row = await db.kysely.selectFrom('mail_outbox').selectAll().executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'pending', attempts: 1 });
    expect(row.last_error).toMatch(/ECONNREFUSED/);
    expect(row.next_attempt_at).toEqual(new Date(clock.now().getTime() + 30_000));
    // Not due yet: nothing is tried before the backoff ends.
    expect(await services.mail.deliverDue()).toEqual({ sent: 0, failed: 0 });
    clock.advance(30_000);
    expect(await services.mail.deliverDue()).toEqual({ sent: 0, failed: 1 });
    row = await db.kysely.selectFrom('mail_outbox').selectAll().executeTakeFirstOrThrow();
    expect(row.next_attempt_at).toEqual(new Date(clock.now().getTime() + 60_000));

    const status = await callerFor(services, (await createTestUser(services, { role: 'admin' })).token).mail.status();
    expect(status).toMatchObject({ configured: true, transport: 'smtp', pending: 1, sent: 0, failed: 0 });
    expect(status.recent[0]).toMatchObject({ kind: 'password_reset', to: 'patient@example.com', attempts: 2 });
    expect(JSON.stringify(status)).not.toContain('#/reset-password/');

    await smtp.start();
    clock.advance(60_000);
    expect(await services.mail.deliverDue()).toEqual({ sent: 1, failed: 0 });
    const mail = await smtp.next((m) => m.to === 'patient@example.com');
    const link = mail.links.find((l) => l.includes('#/reset-password/'));
    if (!link) throw new Error('no link');
    expect(await anonymous().auth.resetPassword({ token: tokenFromLink(link), newPassword: NEW_PASSWORD })).toEqual({
      ok: true,
      revokedSessions: 0,
    });
  });

  it('refuses expired, replaced, foreign-purpose and malformed links with one typed error, changing nothing', async () => {
    const user = await createTestUser(services, { email: 'careful@example.com' });
    const linkOf = async (subject: string) => {
      await services.mail.deliverDue();
      const mails = smtp.received.filter((m) => m.subject === subject);
      const link = mails.at(-1)?.links.find((l) => l.includes('#/'));
      if (!link) throw new Error(`no link in ${subject}`);
      return tokenFromLink(link);
    };
    await anonymous().auth.requestPasswordReset({ email: 'careful@example.com' });
    const first = await linkOf('Reset your Gatehouse password');
    clock.advance(MINUTE);
    await anonymous().auth.requestPasswordReset({ email: 'careful@example.com' });
    const second = await linkOf('Reset your Gatehouse password');
    expect(second).not.toBe(first);

    const refused = async (token: string) => {
      const error = await trpcError(anonymous().auth.resetPassword({ token, newPassword: NEW_PASSWORD }));
      return [error.code, error.reason];
    };
    // A newer link voided the older one.
    expect(await refused(first)).toEqual(['BAD_REQUEST', 'invalid_token']);
    // A verification link is not a reset link.
    await callerFor(services, user.token).auth.requestEmailVerification();
    const verification = await linkOf('Verify your email address for Gatehouse');
    expect(await refused(verification)).toEqual(['BAD_REQUEST', 'invalid_token']);
    // Tampered or malformed.
    expect(await refused(`${second.slice(0, -1)}${second.endsWith('a') ? 'b' : 'a'}`)).toEqual([
      'BAD_REQUEST',
      'invalid_token',
    ]);
    expect(await refused('not-a-token')).toEqual(['BAD_REQUEST', 'invalid_token']);
    // Expired after 30 minutes.
    clock.advance(30 * MINUTE);
    expect(await refused(second)).toEqual(['BAD_REQUEST', 'invalid_token']);

    // Nothing changed: the old password and the session still work; no reset was audited.
    expect((await callerFor(services, user.token).auth.me()).user.email).toBe('careful@example.com');
    expect((await anonymous().auth.signIn({ identifier: 'careful@example.com', password: user.password })).status).toBe(
      'signed-in',
    );
    expect(await auditOf('auth.password_reset')).toHaveLength(0);
    // The verification link still works for its own purpose.
    expect(await anonymous().auth.verifyEmail({ token: verification })).toEqual({ ok: true });
  });

  it('checks the password policy before using the link up', async () => {
    await createTestUser(services, { email: 'policy@example.com', withSession: false });
    await anonymous().auth.requestPasswordReset({ email: 'policy@example.com' });
    await services.mail.deliverDue();
    const link = (await smtp.next()).links.find((l) => l.includes('#/reset-password/'));
    if (!link) throw new Error('no link');
    const weak = await trpcError(
      anonymous().auth.resetPassword({ token: tokenFromLink(link), newPassword: 'password' }),
    );
    expect(weak.reason).toBe('weak_password');
    expect(
      await anonymous().auth.resetPassword({ token: tokenFromLink(link), newPassword: NEW_PASSWORD }),
    ).toMatchObject({
      ok: true,
    });
  });

  it('throttles requests per address and per IP (TOO_MANY_REQUESTS, audited), known or not alike', async () => {
    await restart({ mailThrottle: { accountIpLimit: 2, accountLimit: 3, ipLimit: 4 } });
    await createTestUser(services, { email: 'popular@example.com', withSession: false });
    const from = (ip: string) => anonymous({ ip });
    await from('192.0.2.1').auth.requestPasswordReset({ email: 'popular@example.com' });
    await from('192.0.2.1').auth.requestPasswordReset({ email: 'popular@example.com' });
    const pair = await trpcError(from('192.0.2.1').auth.requestPasswordReset({ email: 'popular@example.com' }));
    expect([pair.code, pair.reason]).toEqual(['TOO_MANY_REQUESTS', 'throttled']);
    // Unknown addresses are throttled the same way.
    await from('192.0.2.2').auth.requestPasswordReset({ email: 'nobody@example.com' });
    await from('192.0.2.2').auth.requestPasswordReset({ email: 'nobody@example.com' });
    const unknown = await trpcError(from('192.0.2.2').auth.requestPasswordReset({ email: 'nobody@example.com' }));
    expect(unknown.reason).toBe('throttled');
    // Per IP: many addresses from one IP.
    const ip = '192.0.2.3';
    for (let i = 0; i < 4; i++) await from(ip).auth.requestPasswordReset({ email: `spray${i}@example.com` });
    expect((await trpcError(from(ip).auth.requestPasswordReset({ email: 'spray9@example.com' }))).reason).toBe(
      'throttled',
    );
    const throttled = await auditOf('auth.throttled');
    expect(throttled.map((r) => r.data.operation)).toEqual([
      'request_password_reset',
      'request_password_reset',
      'request_password_reset',
    ]);
    // Sign-in's counters are separate: the address can still sign in attempts as usual.
    const signIn = await trpcError(
      from('192.0.2.1').auth.signIn({ identifier: 'popular@example.com', password: 'wrong one' }),
    );
    expect(signIn.reason).toBe('invalid_credentials');
  });

  it('answers mail_not_configured without SMTP_URL, for every address alike; an admin link works instead', async () => {
    await services.close();
    services = await createTestServices(db, { clock });
    const user = await createTestUser(services, { email: 'offline@example.com' });
    for (const email of ['offline@example.com', 'ghost@example.com']) {
      const error = await trpcError(anonymous().auth.requestPasswordReset({ email }));
      expect([error.code, error.reason]).toEqual(['PRECONDITION_FAILED', 'mail_not_configured']);
    }
    const admin = await createTestUser(services, { role: 'admin' });
    const member = await createTestUser(services);
    expect((await trpcError(callerFor(services, member.token).user.createResetLink({ id: user.user.id }))).reason).toBe(
      'admin_required',
    );
    const asleep = await createTestUser(services, { isActive: false });
    const dead = await trpcError(callerFor(services, admin.token).user.createResetLink({ id: asleep.user.id }));
    expect([dead.code, dead.reason]).toEqual(['CONFLICT', 'invalid_input']);
    const { url, expiresAt } = await callerFor(services, admin.token).user.createResetLink({ id: user.user.id });
    expect(expiresAt).toEqual(new Date(clock.now().getTime() + 30 * MINUTE));
    expect(await anonymous().auth.resetPassword({ token: tokenFromLink(url), newPassword: NEW_PASSWORD })).toEqual({
      ok: true,
      revokedSessions: 1,
    });
    const created = await auditOf('user.reset_link_created');
    expect(created).toHaveLength(1);
    expect(created[0]).toMatchObject({ actor_id: admin.user.id, target_id: user.user.id });
    expect(JSON.stringify(created[0]?.data)).not.toContain(tokenFromLink(url).split('.')[1]);
    expect(await db.kysely.selectFrom('mail_outbox').selectAll().execute()).toEqual([]);
    const status = await callerFor(services, admin.token).mail.status();
    expect(status).toMatchObject({ configured: false, transport: null, pending: 0 });
  });
});

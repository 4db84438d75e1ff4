/**
 * Email verification, REQUIRE_EMAIL_VERIFICATION, email change by confirmation and the security
 * notices, on both dialects, through the router, with a real SMTP server on loopback.
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
  type ReceivedMail,
  type TestSmtp,
} from '../testing.js';

const HOUR = 3_600_000;

describe.each(testDialects)('email verification and change on %s', (dialect) => {
  let db: Db;
  let cleanup: () => Promise<void>;
  let clock: ManualClock;
  let services: Services;
  let smtp: TestSmtp;

  const anonymous = (req: Partial<RequestInfo> = {}) =>
    createCaller(createContext(services, { ip: '198.51.100.20', userAgent: 'Phone/3.1', ...req }));

  async function restart(config: Partial<ApiConfig>) {
    await services.close();
    services = await createTestServices(db, { clock, config: { mail: smtp.mailConfig(), ...config } });
  }

  async function mailTo(to: string, subject: string): Promise<ReceivedMail> {
    await services.mail.deliverDue();
    return smtp.next((m) => m.to === to && m.subject === subject, 2000);
  }
  const linkIn = (mail: ReceivedMail) => {
    const link = mail.links.find((l) => l.includes('/#/'));
    if (!link) throw new Error(`no link in "${mail.subject}"`);
    return tokenFromLink(link);
  };

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
    clock = new ManualClock('2026-07-01T12:00:00.000Z');
    smtp = await startTestSmtp();
    services = await createTestServices(db, { clock, config: { mail: smtp.mailConfig() } });
  });
  afterEach(async () => {
    await services.close();
    await smtp.stop();
    await cleanup();
  });

  it('verifies one’s own address by a mailed link (24 h, once)', async () => {
    const user = await createTestUser(services, { email: 'verify@example.com', name: 'Vera' });
    expect((await callerFor(services, user.token).auth.me()).user.emailVerifiedAt).toBeNull();
    expect(await callerFor(services, user.token).auth.requestEmailVerification()).toEqual({ ok: true });
    const mail = await mailTo('verify@example.com', 'Verify your email address for Gatehouse');
    expect(mail.text).toContain('24 hours');
    const token = linkIn(mail);
    expect(await anonymous().auth.verifyEmail({ token })).toEqual({ ok: true });
    expect((await callerFor(services, user.token).auth.me()).user.emailVerifiedAt).toEqual(clock.now());
    expect((await trpcError(anonymous().auth.verifyEmail({ token }))).reason).toBe('invalid_token');
    const verified = await auditOf('auth.email_verified');
    expect(verified[0]).toMatchObject({ actor_id: user.user.id, target_id: user.user.id });
    expect(JSON.stringify(verified)).not.toContain(token.split('.')[1]);
  });

  it('a verification link expires after 24 hours', async () => {
    const user = await createTestUser(services, { email: 'late@example.com' });
    await callerFor(services, user.token).auth.requestEmailVerification();
    const token = linkIn(await mailTo('late@example.com', 'Verify your email address for Gatehouse'));
    clock.advance(24 * HOUR);
    expect((await trpcError(anonymous().auth.verifyEmail({ token }))).reason).toBe('invalid_token');
  });

  it('REQUIRE_EMAIL_VERIFICATION refuses unverified sign-ins with email_unverified; a signed-out resend fixes it', async () => {
    await restart({ requireEmailVerification: true });
    const user = await createTestUser(services, { email: 'strict@example.com', withSession: false });
    // A wrong password still says nothing about the address.
    expect(
      (await trpcError(anonymous().auth.signIn({ identifier: 'strict@example.com', password: 'wrong guess' }))).reason,
    ).toBe('invalid_credentials');
    const refused = await trpcError(
      anonymous().auth.signIn({ identifier: 'strict@example.com', password: user.password }),
    );
    expect([refused.code, refused.reason]).toEqual(['FORBIDDEN', 'email_unverified']);
    expect((await auditOf('auth.sign_in_failed')).map((r) => r.data.reason)).toEqual([
      'wrong_password',
      'email_unverified',
    ]);

    // The resend from the sign-in screen answers alike for any address.
    expect(await anonymous().auth.requestEmailVerification({ email: 'strict@example.com' })).toEqual({ ok: true });
    expect(await anonymous().auth.requestEmailVerification({ email: 'nobody@example.com' })).toEqual({ ok: true });
    const token = linkIn(await mailTo('strict@example.com', 'Verify your email address for Gatehouse'));
    expect(smtp.received.map((m) => m.to)).toEqual(['strict@example.com']);
    await anonymous().auth.verifyEmail({ token });
    expect((await anonymous().auth.signIn({ identifier: 'strict@example.com', password: user.password })).status).toBe(
      'signed-in',
    );
  });

  it('changes the email only once the link mailed to the new address is followed; the old one gets a notice', async () => {
    const user = await createTestUser(services, { email: 'old@example.com', name: 'Olga' });
    const me = callerFor(services, user.token);
    const answered = await me.auth.updateProfile({ email: 'New@Example.com' });
    // Not yet.
    expect(answered.email).toBe('old@example.com');
    expect((await me.auth.me()).user.email).toBe('old@example.com');

    const confirm = await mailTo('new@example.com', 'Confirm your new email address for Gatehouse');
    const notice = await mailTo('old@example.com', 'A change of your Gatehouse email address was requested');
    expect(notice.text).toContain('new@example.com');
    const token = linkIn(confirm);
    // The notice carries no secret: no link but the sign-in page.
    expect(notice.text).not.toContain(token);
    expect(notice.links).toEqual(['http://localhost:3000/']);

    const changed = await anonymous().auth.confirmEmailChange({ token });
    expect(changed).toMatchObject({ email: 'new@example.com', emailVerifiedAt: clock.now() });
    expect((await me.auth.me()).user.email).toBe('new@example.com');
    expect((await anonymous().auth.signIn({ identifier: 'new@example.com', password: user.password })).status).toBe(
      'signed-in',
    );
    expect((await trpcError(anonymous().auth.confirmEmailChange({ token }))).reason).toBe('invalid_token');
    const done = await mailTo('old@example.com', 'Your Gatehouse email address was changed');
    expect(done.text).toContain('new@example.com');

    expect((await auditOf('auth.email_change_requested'))[0]?.data).toEqual({
      changes: { email: { before: 'old@example.com', after: 'new@example.com' } },
    });
    expect((await auditOf('auth.email_changed'))[0]).toMatchObject({ actor_id: user.user.id, target_id: user.user.id });
  });

  it('an email change whose address was taken meanwhile is a CONFLICT and changes nothing', async () => {
    const user = await createTestUser(services, { email: 'first@example.com' });
    await callerFor(services, user.token).auth.updateProfile({ email: 'wanted@example.com' });
    const token = linkIn(await mailTo('wanted@example.com', 'Confirm your new email address for Gatehouse'));
    await createTestUser(services, { email: 'wanted@example.com' });
    const error = await trpcError(anonymous().auth.confirmEmailChange({ token }));
    expect([error.code, error.reason]).toEqual(['CONFLICT', 'email_taken']);
    expect((await callerFor(services, user.token).auth.me()).user.email).toBe('first@example.com');
    // A verification link is not an email-change link either.
    await callerFor(services, user.token).auth.requestEmailVerification();
    const verification = linkIn(await mailTo('first@example.com', 'Verify your email address for Gatehouse'));
    expect((await trpcError(anonymous().auth.confirmEmailChange({ token: verification }))).reason).toBe(
      'invalid_token',
    );
  });

  it('mails notices for a password change and for a sign-in from a new browser, not with SECURITY_NOTICES=false', async () => {
    const user = await createTestUser(services, { email: 'notice@example.com', name: 'Nina' });
    // The first sign-in ever is no news; the second, without the device cookie, is.
    await anonymous().auth.signIn({ identifier: 'notice@example.com', password: user.password });
    await services.mail.deliverDue();
    expect(smtp.received).toHaveLength(0);
    await anonymous({ ip: '192.0.2.77', userAgent: 'Unknown/9' }).auth.signIn({
      identifier: 'notice@example.com',
      password: user.password,
    });
    const newSignIn = await mailTo('notice@example.com', 'New sign-in to your Gatehouse account');
    expect(newSignIn.text).toContain('192.0.2.77');
    expect(newSignIn.text).toContain('Unknown/9');

    await callerFor(services, user.token).auth.changePassword({
      currentPassword: user.password,
      newPassword: 'quartz meadow bicycle',
    });
    await mailTo('notice@example.com', 'Your Gatehouse password was changed');

    await restart({ securityNotices: false });
    const before = smtp.received.length;
    await anonymous({ ip: '192.0.2.78' }).auth.signIn({
      identifier: 'notice@example.com',
      password: 'quartz meadow bicycle',
    });
    await services.mail.deliverDue();
    expect(smtp.received).toHaveLength(before);
  });

  it('without mail an email change applies at once and leaves the address unverified', async () => {
    await services.close();
    services = await createTestServices(db, { clock });
    const user = await createTestUser(services, { email: 'direct@example.com' });
    await db.kysely
      .updateTable('users')
      .set({ email_verified_at: clock.now() })
      .where('id', '=', user.user.id)
      .execute();
    const changed = await callerFor(services, user.token).auth.updateProfile({ email: 'direct2@example.com' });
    expect(changed).toMatchObject({ email: 'direct2@example.com', emailVerifiedAt: null });
    expect((await trpcError(callerFor(services, user.token).auth.requestEmailVerification())).reason).toBe(
      'mail_not_configured',
    );
  });
});

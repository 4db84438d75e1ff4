/**
 * Invitations end to end on both dialects, through the router, with a real SMTP server on
 * loopback: an administrator invites → the mail arrives → its link is followed → the new account
 * exists with the invited role, its address verified, signed in. Also resend (the old link stops
 * working), revoke, 7-day expiry, one acceptance only, and the administrator's link without mail.
 */
import type { Db } from '@gatehouse/db';
import { createMigratedTestDb, testDialects } from '@gatehouse/db/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import { createContext, recordingResponse } from '../context.js';
import { createCaller } from '../root.js';
import type { Services } from '../services.js';
import {
  callerFor,
  createTestServices,
  createTestUser,
  startTestSmtp,
  tokenFromLink,
  trpcError,
  type TestSmtp,
  type TestUser,
} from '../testing.js';

const DAY = 86_400_000;
const PASSWORD = 'marble orchard compass';

describe.each(testDialects)('invitations on %s', (dialect) => {
  let db: Db;
  let cleanup: () => Promise<void>;
  let clock: ManualClock;
  let services: Services;
  let smtp: TestSmtp;
  let admin: TestUser;

  const anonymous = () => {
    const res = recordingResponse();
    return { caller: createCaller(createContext(services, { ip: '203.0.113.9', userAgent: 'Invitee/1.0' }, res)), res };
  };
  const adminCaller = () => callerFor(services, admin.token);

  async function invitationLink(to: string): Promise<string> {
    await services.mail.deliverDue();
    const mail = smtp.received.filter((m) => m.to === to).at(-1);
    const link = mail?.links.find((l) => l.includes('#/accept-invitation/'));
    if (!link) throw new Error(`no invitation mail to ${to}`);
    return tokenFromLink(link);
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
    clock = new ManualClock('2026-06-01T10:00:00.000Z');
    smtp = await startTestSmtp();
    services = await createTestServices(db, { clock, config: { mail: smtp.mailConfig() } });
    admin = await createTestUser(services, { role: 'admin', name: 'Grace Admin', rememberMe: true });
  });
  afterEach(async () => {
    await services.close();
    await smtp.stop();
    await cleanup();
  });

  it('invites by mail; following the link creates the account with the role, verified, and signs it in', async () => {
    const invitation = await adminCaller().user.invite({ email: 'New@Example.com', name: 'Newcomer', role: 'admin' });
    expect(invitation).toMatchObject({ email: 'new@example.com', name: 'Newcomer', role: 'admin', status: 'pending' });
    expect(invitation.expiresAt).toEqual(new Date(clock.now().getTime() + 7 * DAY));

    await services.mail.deliverDue();
    const mail = await smtp.next((m) => m.to === 'new@example.com');
    expect(mail.subject).toBe('You are invited to Gatehouse');
    expect(mail.text).toContain('Grace Admin invited you');
    expect(mail.text).toContain('7 days');
    const token = await invitationLink('new@example.com');

    const { caller, res } = anonymous();
    const result = await caller.auth.acceptInvitation({ token, password: PASSWORD, username: 'newcomer' });
    if (result.status !== 'signed-in') throw new Error('expected signed-in');
    expect(result.user).toMatchObject({
      email: 'new@example.com',
      username: 'newcomer',
      name: 'Newcomer',
      role: 'admin',
    });
    expect(result.user.emailVerifiedAt).toEqual(clock.now());
    expect(res.cookie).toEqual({ token: result.token, expiresAt: result.expiresAt });
    expect((await callerFor(services, result.token).auth.me()).user.id).toBe(result.user.id);

    // Once only.
    const again = await trpcError(anonymous().caller.auth.acceptInvitation({ token, password: PASSWORD }));
    expect([again.code, again.reason]).toEqual(['BAD_REQUEST', 'invalid_token']);

    const [listed] = await adminCaller().user.invitations({});
    expect(listed).toMatchObject({ id: invitation.id, status: 'accepted', acceptedUserId: result.user.id });

    const invited = await auditOf('user.invited');
    expect(invited[0]).toMatchObject({ actor_id: admin.user.id, target_id: invitation.id });
    expect(invited[0]?.data).toEqual({ email: 'new@example.com', name: 'Newcomer', role: 'admin', delivery: 'mail' });
    const accepted = await auditOf('auth.invitation_accepted');
    expect(accepted[0]).toMatchObject({ actor_id: result.user.id, target_id: result.user.id, ip: '203.0.113.9' });
    const secret = token.split('.')[1] ?? '';
    expect(JSON.stringify(await db.kysely.selectFrom('audit_events').select('data').execute())).not.toContain(secret);
    expect(JSON.stringify(await db.kysely.selectFrom('invitations').selectAll().execute())).not.toContain(secret);
  });

  it('refuses an address that has an account or a pending invitation', async () => {
    const taken = await trpcError(adminCaller().user.invite({ email: admin.user.email, name: 'Dup' }));
    expect([taken.code, taken.reason]).toEqual(['CONFLICT', 'email_taken']);
    await adminCaller().user.invite({ email: 'twice@example.com', name: 'Twice' });
    const pending = await trpcError(adminCaller().user.invite({ email: 'twice@example.com', name: 'Twice' }));
    expect([pending.code, pending.reason]).toEqual(['CONFLICT', 'invitation_pending']);
  });

  it('resend replaces the link; revoke ends it; a link expires after 7 days', async () => {
    const invitation = await adminCaller().user.invite({ email: 'later@example.com', name: 'Later' });
    const first = await invitationLink('later@example.com');
    clock.advance(DAY);
    const resent = await adminCaller().user.resendInvitation({ id: invitation.id });
    expect(resent.expiresAt).toEqual(new Date(clock.now().getTime() + 7 * DAY));
    const second = await invitationLink('later@example.com');
    expect(second).not.toBe(first);
    expect(
      (await trpcError(anonymous().caller.auth.acceptInvitation({ token: first, password: PASSWORD }))).reason,
    ).toBe('invalid_token');

    // Expired after 7 days: nothing is created.
    clock.advance(7 * DAY);
    expect(
      (await trpcError(anonymous().caller.auth.acceptInvitation({ token: second, password: PASSWORD }))).reason,
    ).toBe('invalid_token');
    expect((await adminCaller().user.invitations({ status: 'expired' })).map((i) => i.id)).toEqual([invitation.id]);

    // An expired invitation can be renewed; a revoked one cannot be used.
    await adminCaller().user.resendInvitation({ id: invitation.id });
    const third = await invitationLink('later@example.com');
    const revoked = await adminCaller().user.revokeInvitation({ id: invitation.id });
    expect(revoked.status).toBe('revoked');
    expect(
      (await trpcError(anonymous().caller.auth.acceptInvitation({ token: third, password: PASSWORD }))).reason,
    ).toBe('invalid_token');
    expect((await trpcError(adminCaller().user.revokeInvitation({ id: invitation.id }))).code).toBe('CONFLICT');
    expect(
      await db.kysely.selectFrom('users').select('email').where('email', '=', 'later@example.com').execute(),
    ).toEqual([]);
    expect((await auditOf('user.invitation_resent')).length).toBe(2);
    expect((await auditOf('user.invitation_revoked')).length).toBe(1);
  });

  it('of two concurrent acceptances exactly one creates the account', async () => {
    await adminCaller().user.invite({ email: 'race@example.com', name: 'Race' });
    const token = await invitationLink('race@example.com');
    const results = await Promise.allSettled([
      anonymous().caller.auth.acceptInvitation({ token, password: PASSWORD }),
      anonymous().caller.auth.acceptInvitation({ token, password: PASSWORD }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(
      await db.kysely.selectFrom('users').select('id').where('email', '=', 'race@example.com').execute(),
    ).toHaveLength(1);
  });

  it('checks the password policy and keeps the invitation when it fails', async () => {
    await adminCaller().user.invite({ email: 'weak@example.com', name: 'Weak' });
    const token = await invitationLink('weak@example.com');
    expect((await trpcError(anonymous().caller.auth.acceptInvitation({ token, password: 'password' }))).reason).toBe(
      'weak_password',
    );
    expect((await anonymous().caller.auth.acceptInvitation({ token, password: PASSWORD })).status).toBe('signed-in');
  });

  it('members cannot invite; without mail, invite answers mail_not_configured and an admin link works', async () => {
    const member = await createTestUser(services);
    expect(
      (await trpcError(callerFor(services, member.token).user.invite({ email: 'x@example.com', name: 'X' }))).reason,
    ).toBe('admin_required');
    await services.close();
    services = await createTestServices(db, { clock });
    const offline = await trpcError(adminCaller().user.invite({ email: 'handed@example.com', name: 'Handed' }));
    expect([offline.code, offline.reason]).toEqual(['PRECONDITION_FAILED', 'mail_not_configured']);
    const { invitation, url } = await adminCaller().user.createInvitationLink({
      email: 'handed@example.com',
      name: 'Handed',
    });
    expect(url.startsWith('http://localhost:3000/#/accept-invitation/')).toBe(true);
    const result = await anonymous().caller.auth.acceptInvitation({ token: tokenFromLink(url), password: PASSWORD });
    expect(result.status).toBe('signed-in');
    const invited = await auditOf('user.invited');
    expect(invited.at(-1)).toMatchObject({ target_id: invitation.id });
    expect(invited.at(-1)?.data).toMatchObject({ delivery: 'link' });
    expect(JSON.stringify(invited)).not.toContain(tokenFromLink(url).split('.')[1]);
  });
});

/**
 * seams (#14 ↔ #15): the administrator's one-time links hand an account to whoever holds them,
 * so `user.createResetLink` and `user.createInvitationLink` need a recent authentication
 * (step-up), like `user.delete` — through the router, on both dialects.
 */
import type { Db } from '@gatehouse/db';
import { createMigratedTestDb, testDialects } from '@gatehouse/db/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import type { Services } from '../services.js';
import { callerFor, createTestServices, createTestUser, tokenFromLink, trpcError } from '../testing.js';

const PASSWORD = 'violet tractor umbrella';
const MINUTE = 60_000;

describe.each(testDialects)('step-up for one-time links on %s', (dialect) => {
  let db: Db;
  let cleanup: () => Promise<void>;
  let clock: ManualClock;
  let services: Services;

  const tokensIssued = async () => (await db.kysely.selectFrom('account_tokens').select('id').execute()).length;

  beforeEach(async () => {
    ({ db, cleanup } = await createMigratedTestDb(dialect));
    clock = new ManualClock('2026-05-01T08:00:00.000Z');
    services = await createTestServices(db, { clock });
  });
  afterEach(async () => {
    await services.close();
    await cleanup();
  });

  it('refuses both links after ten minutes with reauthentication_required, issuing nothing; auth.reauthenticate allows them again', async () => {
    const admin = await createTestUser(services, { role: 'admin', password: PASSWORD });
    const user = await createTestUser(services, { email: 'handover@example.com' });
    const caller = callerFor(services, admin.token);
    // Fresh from sign-in: allowed.
    const first = await caller.user.createResetLink({ id: user.user.id });
    expect(first.url).toMatch(/\/#\/reset-password\//);

    clock.advance(11 * MINUTE);
    const before = await tokensIssued();
    const reset = await trpcError(caller.user.createResetLink({ id: user.user.id }));
    expect([reset.code, reset.reason]).toEqual(['FORBIDDEN', 'reauthentication_required']);
    const invite = await trpcError(caller.user.createInvitationLink({ email: 'new@example.com', name: 'New' }));
    expect([invite.code, invite.reason]).toEqual(['FORBIDDEN', 'reauthentication_required']);
    expect(await tokensIssued()).toBe(before);
    expect(await db.kysely.selectFrom('invitations').select('id').execute()).toEqual([]);

    await caller.auth.reauthenticate({ method: 'password', password: PASSWORD });
    const { url } = await caller.user.createResetLink({ id: user.user.id });
    expect(tokenFromLink(url)).not.toBe(tokenFromLink(first.url));
    const invited = await caller.user.createInvitationLink({ email: 'new@example.com', name: 'New' });
    expect(invited.url).toMatch(/\/#\/accept-invitation\//);
  });

  it('still answers admin_required to a member, before any step-up question', async () => {
    const member = await createTestUser(services);
    clock.advance(11 * MINUTE);
    const error = await trpcError(callerFor(services, member.token).user.createResetLink({ id: member.user.id }));
    expect(error.reason).toBe('admin_required');
  });
});

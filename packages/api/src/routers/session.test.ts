import { randomUUID } from 'node:crypto';
import type { Db } from '@gatehouse/db';
import { createMigratedTestDb, testDialects } from '@gatehouse/db/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import { createContext, recordingResponse } from '../context.js';
import { createCaller } from '../root.js';
import type { Services } from '../services.js';
import { callerFor, createTestServices, createTestUser, trpcError } from '../testing.js';

const PASSWORD = 'violet tractor umbrella';
const DAY = 86_400_000;

describe.each(testDialects)('session router on %s', (dialect) => {
  let db: Db;
  let cleanup: () => Promise<void>;
  let clock: ManualClock;
  let services: Services;
  let admin: { id: string; token: string };
  let member: { id: string; token: string };

  const req = { ip: '203.0.113.9', userAgent: 'session-tests' };
  const as = (token: string | null) => callerFor(services, token, req);

  async function signIn(identifier: string): Promise<string> {
    const result = await as(null).auth.signIn({ identifier, password: PASSWORD });
    if (result.status !== 'signed-in') throw new Error('expected signed-in');
    return result.token;
  }

  async function auditRows(type: string) {
    const rows = await db.kysely
      .selectFrom('audit_events')
      .select(['type', 'actor_id', 'target_id', 'ip', 'data'])
      .where('type', '=', type)
      .orderBy('seq')
      .execute();
    return rows.map((r) => ({ ...r, data: JSON.parse(r.data) as Record<string, unknown> }));
  }

  beforeEach(async () => {
    ({ db, cleanup } = await createMigratedTestDb(dialect));
    clock = new ManualClock('2026-06-01T00:00:00.000Z');
    services = await createTestServices(db, { clock });
    const a = await createTestUser(services, { role: 'admin', email: 'admin@example.com', password: PASSWORD });
    const m = await createTestUser(services, { role: 'member', email: 'member@example.com', password: PASSWORD });
    admin = { id: a.user.id, token: a.token as string };
    member = { id: m.user.id, token: m.token as string };
  });
  afterEach(async () => {
    await services.close();
    await cleanup();
  });

  it('session.list shows one’s own live sessions, newest first, marking the current one', async () => {
    clock.advance(1000);
    const second = await signIn('member@example.com');
    const sessions = await as(second).session.list();
    expect(sessions).toHaveLength(2);
    expect(sessions[0]).toMatchObject({
      current: true,
      ip: '203.0.113.9',
      userAgent: 'session-tests',
      rememberMe: false,
    });
    expect(sessions[1]?.current).toBe(false);
    expect(JSON.stringify(sessions)).not.toMatch(/secret|hash|userId/);
    // Expired sessions are not listed.
    clock.advance(DAY - 500);
    expect(await as(second).session.list()).toHaveLength(1);
  });

  it('session.revoke ends one of one’s sessions at once; the current one clears the cookie', async () => {
    const other = await signIn('member@example.com');
    const [current, otherSession] = await as(member.token)
      .session.list()
      .then((all) => [all.find((s) => s.current), all.find((s) => !s.current)]);
    expect(await as(member.token).session.revoke({ id: otherSession?.id ?? '' })).toEqual({ ok: true });
    expect((await trpcError(as(other).auth.me())).code).toBe('UNAUTHORIZED');
    expect(await auditRows('session.revoked')).toMatchObject([
      {
        actor_id: member.id,
        target_id: member.id,
        ip: '203.0.113.9',
        data: { sessionId: otherSession?.id, current: false },
      },
    ]);

    const res = recordingResponse();
    const cookieCaller = createCaller(
      createContext(
        services,
        { ...req, token: member.token, tokenSource: 'cookie', origin: services.config.publicOrigin },
        res,
      ),
    );
    await cookieCaller.session.revoke({ id: current?.id ?? '' });
    expect(res.cookie).toBe('cleared');
    expect((await trpcError(as(member.token).auth.me())).code).toBe('UNAUTHORIZED');
  });

  it('session.revoke: NOT_FOUND for someone else’s session (unless admin) and for unknown ids', async () => {
    const adminSession = (await as(admin.token).session.list())[0]?.id ?? '';
    const memberSession = (await as(member.token).session.list())[0]?.id ?? '';
    expect((await trpcError(as(member.token).session.revoke({ id: adminSession }))).code).toBe('NOT_FOUND');
    expect((await as(admin.token).auth.me()).user.id).toBe(admin.id);
    expect((await trpcError(as(member.token).session.revoke({ id: 'nope' }))).code).toBe('NOT_FOUND');
    // An admin may revoke anyone's.
    expect(await as(admin.token).session.revoke({ id: memberSession })).toEqual({ ok: true });
    expect((await trpcError(as(member.token).auth.me())).code).toBe('UNAUTHORIZED');
    expect((await auditRows('session.revoked'))[0]).toMatchObject({ actor_id: admin.id, target_id: member.id });
  });

  it('session.revokeOthers keeps only the current session', async () => {
    const others = [await signIn('member@example.com'), await signIn('member@example.com')];
    expect(await as(member.token).session.revokeOthers()).toEqual({ revoked: 2 });
    for (const t of others) expect((await trpcError(as(t).auth.me())).code).toBe('UNAUTHORIZED');
    expect(await as(member.token).session.list()).toHaveLength(1);
    expect(await auditRows('session.revoked_all')).toMatchObject([
      { actor_id: member.id, target_id: member.id, data: { revoked: 2, exceptCurrent: true } },
    ]);
  });

  it('admins list and revoke all sessions of a user, and see stats; members get FORBIDDEN', async () => {
    await signIn('member@example.com');
    const listed = await as(admin.token).session.listForUser({ userId: member.id });
    expect(listed).toHaveLength(2);
    expect(listed.every((s) => !s.current)).toBe(true);

    expect((await trpcError(as(member.token).session.listForUser({ userId: admin.id }))).code).toBe('FORBIDDEN');
    expect((await trpcError(as(member.token).session.revokeAllForUser({ userId: admin.id }))).code).toBe('FORBIDDEN');
    expect((await trpcError(as(member.token).session.stats())).code).toBe('FORBIDDEN');
    expect((await trpcError(as(admin.token).session.listForUser({ userId: randomUUID() }))).code).toBe('NOT_FOUND');
    expect((await trpcError(as(admin.token).session.listForUser({ userId: 'not-a-uuid' }))).code).toBe('BAD_REQUEST');

    const stats = await as(admin.token).session.stats();
    expect(stats.active).toBe(3);
    expect(stats.cached).toBeGreaterThanOrEqual(1);

    expect(await as(admin.token).session.revokeAllForUser({ userId: member.id })).toEqual({ revoked: 2 });
    expect((await trpcError(as(member.token).auth.me())).code).toBe('UNAUTHORIZED');
    expect(await as(admin.token).session.listForUser({ userId: member.id })).toEqual([]);
    expect(await auditRows('session.revoked_all')).toMatchObject([
      { actor_id: admin.id, target_id: member.id, data: { revoked: 2, exceptCurrent: false } },
    ]);
    expect((await as(admin.token).session.stats()).active).toBe(1);
  });

  it('a demoted admin loses admin procedures on the next call', async () => {
    expect((await as(admin.token).session.stats()).active).toBe(2);
    await db.kysely.updateTable('users').set({ role: 'member' }).where('id', '=', admin.id).execute();
    expect((await trpcError(as(admin.token).session.stats())).code).toBe('FORBIDDEN');
    // …and can no longer revoke other people's sessions.
    const memberSession = (await as(member.token).session.list())[0]?.id ?? '';
    expect((await trpcError(as(admin.token).session.revoke({ id: memberSession }))).code).toBe('NOT_FOUND');
  });

  it('every session procedure needs a session', async () => {
    const anon = as(null);
    for (const call of [
      anon.session.list(),
      anon.session.revokeOthers(),
      anon.session.stats(),
      anon.session.revoke({ id: 'x' }),
    ]) {
      expect((await trpcError(call)).code).toBe('UNAUTHORIZED');
    }
  });
});

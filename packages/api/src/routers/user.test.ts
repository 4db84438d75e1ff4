import { withTransaction, type Db } from '@gatehouse/db';
import { createMigratedTestDb, testDialects } from '@gatehouse/db/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import type { DomainError } from '../errors.js';
import type { Services } from '../services.js';
import { callerFor, createTestServices, createTestUser, gatedHasher, trpcError } from '../testing.js';
import type { User } from '../users/mapping.js';

describe.each(testDialects)('user router on %s', (dialect) => {
  let db: Db;
  let cleanup: () => Promise<void>;
  let services: Services;
  let clock: ManualClock;
  let admin: User;
  let adminToken: string;

  const request = { ip: '198.51.100.4', userAgent: 'user-tests' };
  const caller = (token: string | null) => callerFor(services, token, request);

  async function signedIn(role: 'admin' | 'member') {
    const created = await createTestUser(services, { role });
    return { user: created.user, token: created.token as string };
  }

  /** Opens one more session for an existing user; returns its token. */
  async function openSession(userId: string): Promise<string> {
    const created = await withTransaction(db, (trx) =>
      services.sessions.create(trx, { userId, rememberMe: false, ip: null, userAgent: null }),
    );
    return created.token;
  }

  async function auditRows() {
    const rows = await db.kysely
      .selectFrom('audit_events')
      .select(['type', 'actor_id', 'target_id', 'ip', 'user_agent', 'data'])
      .orderBy('seq')
      .execute();
    return rows.map((r) => ({ ...r, data: JSON.parse(r.data) as Record<string, unknown> }));
  }

  beforeEach(async () => {
    ({ db, cleanup } = await createMigratedTestDb(dialect));
    clock = new ManualClock('2026-05-01T08:00:00.000Z');
    services = await createTestServices(db, { clock });
    const root = await createTestUser(services, { role: 'admin', email: 'root@example.com' });
    admin = root.user;
    adminToken = root.token as string;
  });
  afterEach(async () => {
    await services.close();
    await cleanup();
  });

  it('lets an admin create, find, list, update, reset and delete users', async () => {
    const api = caller(adminToken);
    const created = await api.user.create({
      email: '  New@Example.COM ',
      name: 'New',
      password: 'a long passphrase',
      username: 'newbie',
    });
    expect(created).toMatchObject({ email: 'new@example.com', username: 'newbie', role: 'member', isActive: true });
    expect(await api.user.byId({ id: created.id })).toEqual(created);

    const page = await api.user.list();
    expect(page.total).toBe(2);
    expect(page.items.map((u) => u.id).sort()).toEqual([created.id, admin.id].sort());
    expect((await api.user.list({ search: 'newbie' })).items).toEqual([created]);

    const promoted = await api.user.update({ id: created.id, role: 'admin', name: 'Promoted' });
    expect(promoted).toMatchObject({ role: 'admin', name: 'Promoted' });

    const memberToken = await openSession(created.id);
    expect(await api.user.setPassword({ id: created.id, newPassword: 'another long passphrase' })).toEqual({
      ok: true,
      revokedSessions: 1,
    });
    expect(await services.sessions.validate(memberToken)).toBeNull();

    expect(await api.user.delete({ id: created.id })).toEqual({ ok: true });
    expect((await trpcError(api.user.byId({ id: created.id }))).code).toBe('NOT_FOUND');

    const events = await auditRows();
    expect(events.map((e) => e.type)).toEqual([
      'user.created',
      'user.updated',
      'user.role_changed',
      'user.password_set',
      'user.deleted',
    ]);
    for (const event of events) {
      expect(event).toMatchObject({
        actor_id: admin.id,
        target_id: created.id,
        ip: '198.51.100.4',
        user_agent: 'user-tests',
      });
      expect(JSON.stringify(event.data)).not.toMatch(/passphrase|test\$/);
    }
  });

  it('answers CONFLICT naming the field when an email or username is taken', async () => {
    const api = caller(adminToken);
    await api.user.create({ email: 'taken@example.com', username: 'taken', name: 'T', password: 'a long passphrase' });
    const byEmail = await trpcError(
      api.user.create({ email: 'TAKEN@example.com', name: 'T2', password: 'a long passphrase' }),
    );
    expect(byEmail.code).toBe('CONFLICT');
    expect(byEmail.reason).toBe('email_taken');
    expect((byEmail.cause as DomainError).details).toEqual({ field: 'email' });
    const byUsername = await trpcError(api.user.update({ id: admin.id, username: 'TAKEN' }));
    expect(byUsername.code).toBe('CONFLICT');
    expect(byUsername.reason).toBe('username_taken');
    expect((byUsername.cause as DomainError).details).toEqual({ field: 'username' });
  });

  it('checks the password policy (common passwords, the account’s own email) and length', async () => {
    const api = caller(adminToken);
    const common = await trpcError(api.user.create({ email: 'c@example.com', name: 'C', password: 'password1' }));
    expect(common.code).toBe('BAD_REQUEST');
    expect(common.reason).toBe('weak_password');
    const own = await trpcError(api.user.setPassword({ id: admin.id, newPassword: 'root@example.com' }));
    expect(own.code).toBe('BAD_REQUEST');
    expect((own.cause as DomainError).details).toEqual({ field: 'newPassword' });
    expect((await trpcError(api.user.create({ email: 'c@example.com', name: 'C', password: 'short' }))).code).toBe(
      'BAD_REQUEST',
    );
    expect((await api.user.list()).total).toBe(1);
  });

  it('validates input with zod (BAD_REQUEST)', async () => {
    const api = caller(adminToken);
    for (const call of [
      () => api.user.byId({ id: 'not-a-uuid' }),
      () => api.user.list({ limit: 0 }),
      () => api.user.list({ limit: 101 }),
      () => api.user.create({ email: 'nope', name: 'N', password: 'a long passphrase' }),
      () => api.user.update({ id: admin.id, role: 'owner' as 'admin' }),
      () => api.user.list({ cursor: 'forged' }),
      // Text neither database stores exactly (PostgreSQL refuses NUL outright): refused up front.
      () => api.user.create({ email: 'nul@example.com', name: 'a\u0000b', password: 'a long passphrase' }),
      () => api.user.update({ id: admin.id, name: 'lone \ud800 surrogate' }),
      () => api.user.list({ search: 'a\u0000' }),
    ]) {
      expect((await trpcError(call())).code).toBe('BAD_REQUEST');
    }
  });

  it('answers NOT_FOUND for an unknown user', async () => {
    const api = caller(adminToken);
    const id = '11111111-1111-4111-8111-111111111111';
    for (const call of [
      () => api.user.byId({ id }),
      () => api.user.update({ id, name: 'X' }),
      () => api.user.setPassword({ id, newPassword: 'a long passphrase' }),
      () => api.user.delete({ id }),
    ]) {
      const error = await trpcError(call());
      expect(error.code).toBe('NOT_FOUND');
      expect(error.reason).toBe('user_not_found');
    }
  });

  it('refuses to demote, deactivate or delete the last active admin, even oneself', async () => {
    const api = caller(adminToken);
    for (const call of [
      () => api.user.update({ id: admin.id, role: 'member' }),
      () => api.user.update({ id: admin.id, isActive: false }),
      () => api.user.delete({ id: admin.id }),
    ]) {
      const error = await trpcError(call());
      expect(error.code).toBe('CONFLICT');
      expect(error.reason).toBe('last_admin');
    }
    expect(await api.user.byId({ id: admin.id })).toMatchObject({ role: 'admin', isActive: true });
  });

  it('a demoted admin is refused on the very next request', async () => {
    const { user: other, token: otherToken } = await signedIn('admin');
    const otherApi = caller(otherToken);
    expect((await otherApi.user.list()).total).toBe(2);

    await caller(adminToken).user.update({ id: other.id, role: 'member' });
    // Same session, same token: the role is read again on every call.
    expect((await trpcError(otherApi.user.list())).reason).toBe('admin_required');
    expect((await trpcError(otherApi.user.update({ id: admin.id, role: 'member' }))).code).toBe('FORBIDDEN');
    expect(await caller(adminToken).user.byId({ id: admin.id })).toMatchObject({ role: 'admin' });
  });

  it('a deactivated user loses their sessions at once', async () => {
    const { user: member, token } = await signedIn('member');
    const second = await openSession(member.id);
    // Both validations are now in the session cache.
    expect(await services.sessions.validate(token)).not.toBeNull();
    expect(await services.sessions.validate(second)).not.toBeNull();
    await caller(adminToken).user.update({ id: member.id, isActive: false });
    expect(await services.sessions.validate(token)).toBeNull();
    expect(await services.sessions.validate(second)).toBeNull();
    expect((await trpcError(caller(token).user.list())).code).toBe('UNAUTHORIZED');
    expect((await auditRows()).at(-1)).toMatchObject({ type: 'user.deactivated', data: { revokedSessions: 2 } });
  });

  it('a deleted user’s sessions leave the session cache with the rows', async () => {
    const { user: member, token } = await signedIn('member');
    expect(await services.sessions.validate(token)).not.toBeNull();
    expect(await caller(adminToken).user.delete({ id: member.id })).toEqual({ ok: true });
    expect(await services.sessions.validate(token)).toBeNull();
    expect((await auditRows()).at(-1)).toMatchObject({
      type: 'user.deleted',
      actor_id: admin.id,
      target_id: member.id,
      data: { revokedSessions: 1 },
    });
  });

  it('a password reset ends every session of the user, cached or not', async () => {
    const { user: member, token } = await signedIn('member');
    expect(await services.sessions.validate(token)).not.toBeNull();
    const result = await caller(adminToken).user.setPassword({ id: member.id, newPassword: 'a fresh long passphrase' });
    expect(result).toEqual({ ok: true, revokedSessions: 1 });
    expect(await services.sessions.validate(token)).toBeNull();
    const stored = await db.kysely
      .selectFrom('users')
      .select('password_hash')
      .where('id', '=', member.id)
      .executeTakeFirstOrThrow();
    expect(await services.passwords.verify(stored.password_hash, 'a fresh long passphrase')).toBe(true);
  });

  it('pages through the list with the opaque cursor while users are added', async () => {
    const api = caller(adminToken);
    for (let i = 0; i < 4; i++) {
      clock.advance(1000);
      await api.user.create({ email: `p${i}@example.com`, name: `P${i}`, password: 'a long passphrase' });
    }
    const first = await api.user.list({ limit: 2 });
    expect(first.items.map((u) => u.email)).toEqual(['p3@example.com', 'p2@example.com']);
    clock.advance(1000);
    await api.user.create({ email: 'late@example.com', name: 'Late', password: 'a long passphrase' });
    const second = await api.user.list({ limit: 2, cursor: first.nextCursor });
    expect(second.items.map((u) => u.email)).toEqual(['p1@example.com', 'p0@example.com']);
    expect(second.total).toBe(6);
    const third = await api.user.list({ limit: 2, cursor: second.nextCursor });
    expect(third.items.map((u) => u.email)).toEqual(['root@example.com']);
    expect(third.nextCursor).toBeNull();
  });

  it('finds exactly one user by id, email or username under the sign-in rule, never by substring', async () => {
    const api = caller(adminToken);
    const dana = await api.user.create({
      email: 'dana@example.com',
      username: 'Dana',
      name: 'D',
      password: 'a long passphrase',
    });
    await api.user.create({ email: 'dana2@example.com', username: 'dana2', name: 'D2', password: 'a long passphrase' });
    for (const identifier of ['dana', ' DANA ', 'ｄａｎａ', 'Dana@Example.com', dana.id, dana.id.toUpperCase()]) {
      expect(await api.user.byIdentifier({ identifier }), identifier).toEqual(dana);
    }
    for (const identifier of ['dan', 'ana', 'example.com', 'dana@example']) {
      const miss = await trpcError(api.user.byIdentifier({ identifier }));
      expect([miss.code, miss.reason], identifier).toEqual(['NOT_FOUND', 'user_not_found']);
    }
  });

  it('refuses a role-sensitive write whose admin was demoted while it was hashing, and writes nothing', async () => {
    // A second container on the same database whose hashing the test holds and releases.
    const hasher = gatedHasher();
    const gated = await createTestServices(db, { clock, passwords: hasher });
    try {
      const { user: other, token: otherToken } = await signedIn('admin');
      const asAdmin = callerFor(gated, adminToken, request);
      const writes = [
        () =>
          asAdmin.user.create({
            email: 'late@example.com',
            name: 'Late',
            password: 'a long passphrase',
            role: 'admin',
          }),
        () => asAdmin.user.setPassword({ id: other.id, newPassword: 'a long passphrase' }),
      ];
      for (const write of writes) {
        const before = await auditRows();
        hasher.hold();
        const pending = trpcError(write());
        await hasher.hashing();
        // Past adminProcedure's check and hashing now: the other admin demotes the caller.
        await caller(otherToken).user.update({ id: admin.id, role: 'member' });
        hasher.release();
        const refused = await pending;
        expect([refused.code, refused.reason]).toEqual(['FORBIDDEN', 'admin_required']);
        // Only the demotion was written.
        expect((await auditRows()).slice(before.length).map((e) => e.type)).toEqual(['user.role_changed']);
        await caller(otherToken).user.update({ id: admin.id, role: 'admin' });
      }
      expect((await caller(otherToken).user.list({ search: 'late@' })).total).toBe(0);
      // The other admin's password is still their own.
      const anonymous = callerFor(services, null, request);
      const wrong = await trpcError(anonymous.auth.signIn({ identifier: other.email, password: 'a long passphrase' }));
      expect(wrong.reason).toBe('invalid_credentials');
      expect(
        (await anonymous.auth.signIn({ identifier: other.email, password: 'correct horse battery staple' })).status,
      ).toBe('signed-in');
    } finally {
      await gated.close();
    }
  });
});

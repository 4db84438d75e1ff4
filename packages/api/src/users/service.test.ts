import { withTransaction, type Db, type Role } from '@gatehouse/db';
import { createMigratedTestDb, testDialects, type TestDatabase } from '@gatehouse/db/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import { DomainError } from '../errors.js';
import type { ErrorReason } from '../error-reasons.js';
import type { Services } from '../services.js';
import { createTestServices } from '../testing.js';
import type { Actor } from '../actor.js';
import {
  createUser,
  deleteUser,
  findUserByIdentifier,
  getUserById,
  listUsers,
  setPassword,
  updateUser,
  type CreateUserInput,
} from './service.js';
import type { User } from './mapping.js';

/**
 * Gatehouse itself as the actor (as for the CLI operator, no admin check applies; the router
 * tests cover administrators, and the demotion race).
 */
const actor: Actor = { userId: null, ip: '203.0.113.7', userAgent: 'vitest', via: 'system' };

/** An admin's reset of `id`'s password. */
const setUserPassword = (deps: Services, who: Actor, input: { id: string; newPassword: string }) =>
  setPassword(deps, who, { kind: 'reset', userId: input.id, newPassword: input.newPassword });

const create = async (deps: Services, who: Actor, input: CreateUserInput) => (await createUser(deps, who, input)).user;

async function expectDomainError(
  promise: Promise<unknown>,
  code: DomainError['code'],
  reason?: ErrorReason,
): Promise<void> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DomainError);
  expect((error as DomainError).code).toBe(code);
  if (reason) expect((error as DomainError).reason).toBe(reason);
}

describe.each(testDialects)('user management on %s', (dialect) => {
  let db: Db;
  let test: TestDatabase;
  let cleanup: () => Promise<void>;
  let clock: ManualClock;
  let deps: Services;
  const opened: Services[] = [];

  async function depsFor(handle: Db): Promise<Services> {
    const services = await createTestServices(handle, { clock });
    opened.push(services);
    return services;
  }

  beforeEach(async () => {
    ({ db, test, cleanup } = await createMigratedTestDb(dialect));
    clock = new ManualClock('2026-03-01T10:00:00.000Z');
    deps = await depsFor(db);
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
    await cleanup();
  });

  const make = (email: string, extra: { username?: string; name?: string; role?: Role } = {}) =>
    create(deps, actor, {
      email,
      name: extra.name ?? email.split('@')[0] ?? email,
      password: 'correct horse battery',
      ...extra,
    });

  /** Opens a session and validates it once, so the session cache holds it. Returns the token. */
  async function openSession(userId: string): Promise<string> {
    const { token } = await withTransaction(db, (trx) =>
      deps.sessions.create(trx, { userId, rememberMe: false, ip: null, userAgent: null }),
    );
    expect(await deps.sessions.validate(token)).not.toBeNull();
    return token;
  }

  async function sessionCount(userId: string): Promise<number> {
    const rows = await db.kysely.selectFrom('sessions').select('id').where('user_id', '=', userId).execute();
    return rows.length;
  }

  async function auditRows() {
    const rows = await db.kysely
      .selectFrom('audit_events')
      .select(['type', 'actor_id', 'target_id', 'ip', 'user_agent', 'data'])
      .orderBy('seq')
      .execute();
    return rows.map((r) => ({ ...r, data: JSON.parse(r.data) as Record<string, unknown> }));
  }

  async function allPages(
    pageSize: number,
    filter: { search?: string } = {},
    between?: (page: number) => Promise<void>,
  ): Promise<User[]> {
    const seen: User[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 100; page++) {
      const result = await listUsers(deps, { limit: pageSize, cursor, ...filter });
      seen.push(...result.items);
      if (result.nextCursor === null) return seen;
      cursor = result.nextCursor;
      if (between) await between(page);
    }
    throw new Error('pagination did not end');
  }

  describe('list', () => {
    it('pages newest first on (createdAt, id), with no repeats or gaps while users are added', async () => {
      const original: string[] = [];
      for (let i = 0; i < 7; i++) {
        // Some share a timestamp, so the id decides their order.
        if (i % 3 === 0) clock.advance(1000);
        original.push((await make(`user${i}@example.com`)).id);
      }
      let added = 0;
      const seen = await allPages(2, {}, async () => {
        clock.advance(1000);
        await make(`late${added++}@example.com`);
      });
      const ids = seen.map((u) => u.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect([...ids].sort()).toEqual([...original].sort());
      for (let i = 1; i < seen.length; i++) {
        const [a, b] = [seen[i - 1] as User, seen[i] as User];
        const ordered = a.createdAt > b.createdAt || (a.createdAt.getTime() === b.createdAt.getTime() && a.id > b.id);
        expect(ordered).toBe(true);
      }
      expect((await listUsers(deps, { limit: 1 })).total).toBe(7 + added);
    });

    it('returns the total of the filtered set and a null cursor on the last page', async () => {
      await make('a@example.com', { role: 'admin' });
      const b = await make('b@example.com');
      await make('c@example.com');
      await updateUser(deps, actor, { id: b.id, isActive: false });

      expect(await listUsers(deps, { role: 'admin' })).toMatchObject({ total: 1, nextCursor: null });
      const members = await listUsers(deps, { role: 'member', limit: 1 });
      expect(members.total).toBe(2);
      expect(members.items).toHaveLength(1);
      expect(members.nextCursor).not.toBeNull();
      const inactive = await listUsers(deps, { status: 'inactive' });
      expect(inactive.items.map((u) => u.email)).toEqual(['b@example.com']);
      expect((await listUsers(deps, { status: 'active' })).total).toBe(2);
      expect((await listUsers(deps, { status: 'active', role: 'member' })).items.map((u) => u.email)).toEqual([
        'c@example.com',
      ]);
    });

    it('searches email, username and name case-insensitively', async () => {
      await make('ada@example.com', { name: 'Ada Lovelace', username: 'countess' });
      await make('grace@navy.mil', { name: 'Grace Hopper' });
      const emails = async (search: string) => (await listUsers(deps, { search })).items.map((u) => u.email).sort();
      expect(await emails('LOVELACE')).toEqual(['ada@example.com']);
      expect(await emails('Countess')).toEqual(['ada@example.com']);
      expect(await emails('NAVY.MIL')).toEqual(['grace@navy.mil']);
      expect(await emails('a')).toEqual(['ada@example.com', 'grace@navy.mil']);
      expect((await listUsers(deps, { search: 'nobody' })).total).toBe(0);
    });

    it('matches %, _, \\ and quotes literally', async () => {
      await make('percent@example.com', { name: '100% sure' });
      await make('plain@example.com', { name: '1000 sure' });
      await make('under@example.com', { username: 'snake_case', name: 'Under' });
      await make('noscore@example.com', { username: 'snakeXcase', name: 'No score' });
      await make('slash@example.com', { name: 'back\\slash' });
      await make('quote@example.com', { name: 'O\'Brien "Bob"' });
      const emails = async (search: string) => (await listUsers(deps, { search })).items.map((u) => u.email).sort();
      expect(await emails('%')).toEqual(['percent@example.com']);
      expect(await emails('0% s')).toEqual(['percent@example.com']);
      expect(await emails('_')).toEqual(['under@example.com']);
      expect(await emails('snake_')).toEqual(['under@example.com']);
      expect(await emails('\\')).toEqual(['slash@example.com']);
      expect(await emails("o'brien")).toEqual(['quote@example.com']);
      expect(await emails('"bob"')).toEqual(['quote@example.com']);
      expect(await emails("'; drop table users; --")).toEqual([]);
      expect((await listUsers(deps, {})).total).toBe(6);
    });

    it('pages through search results', async () => {
      for (let i = 0; i < 5; i++) await make(`match${i}@example.com`);
      await make('other@example.com');
      const seen = await allPages(2, { search: 'match' });
      expect(seen.map((u) => u.email).sort()).toEqual([0, 1, 2, 3, 4].map((i) => `match${i}@example.com`));
    });

    it('refuses a cursor it did not issue', async () => {
      for (const cursor of ['nonsense!', 'bm9wZQ', Buffer.from('["yesterday","x"]').toString('base64url')]) {
        await expectDomainError(listUsers(deps, { cursor }), 'BAD_REQUEST', 'invalid_input');
      }
    });
  });

  describe('byId and create', () => {
    it('creates a user with the chosen role and finds it by id', async () => {
      const user = await make('new@example.com', { username: 'newbie', name: 'New Person', role: 'admin' });
      expect(user).toMatchObject({
        email: 'new@example.com',
        username: 'newbie',
        name: 'New Person',
        role: 'admin',
        isActive: true,
        lastSignInAt: null,
        mfaEnabled: false,
      });
      expect(user).not.toHaveProperty('passwordHash');
      expect(await getUserById(deps, user.id)).toEqual(user);
      const stored = await db.kysely
        .selectFrom('users')
        .select('password_hash')
        .where('id', '=', user.id)
        .executeTakeFirstOrThrow();
      expect(await deps.passwords.verify(stored.password_hash, 'correct horse battery')).toBe(true);

      const [event] = await auditRows();
      expect(event).toEqual({
        type: 'user.created',
        actor_id: actor.userId,
        target_id: user.id,
        ip: actor.ip,
        user_agent: actor.userAgent,
        data: { email: 'new@example.com', username: 'newbie', name: 'New Person', role: 'admin' },
      });
    });

    it('defaults to member', async () => {
      expect((await make('m@example.com')).role).toBe('member');
    });

    it('answers NOT_FOUND for an unknown id', async () => {
      await expectDomainError(getUserById(deps, '11111111-1111-4111-8111-111111111111'), 'NOT_FOUND', 'user_not_found');
    });

    it('refuses a taken email or username (any case) and writes no event', async () => {
      await make('taken@example.com', { username: 'Taken' });
      await expect(make('taken@example.com')).rejects.toMatchObject({ name: 'UniqueViolationError', field: 'email' });
      await expect(make('other@example.com', { username: 'taken' })).rejects.toMatchObject({
        name: 'UniqueViolationError',
        field: 'username',
      });
      expect((await auditRows()).map((e) => e.type)).toEqual(['user.created']);
      expect((await listUsers(deps)).total).toBe(1);
    });

    it('applies the password policy', async () => {
      await expectDomainError(
        create(deps, actor, { email: 'p@example.com', name: 'P', password: 'password123' }),
        'BAD_REQUEST',
        'weak_password',
      );
      expect((await listUsers(deps)).total).toBe(0);
    });
  });

  describe('findUserByIdentifier', () => {
    it('finds by id, email or username under the one rule, and follows a changed email or username', async () => {
      const user = await make('Find.Me@example.com', { username: 'Finder' });
      for (const identifier of [user.id, 'find.me@EXAMPLE.com', ' finder ', 'ＦＩＮＤＥＲ']) {
        expect(await findUserByIdentifier(deps, identifier)).toEqual(user);
      }
      await expectDomainError(findUserByIdentifier(deps, 'find'), 'NOT_FOUND', 'user_not_found');
      const renamed = await updateUser(deps, actor, { id: user.id, email: 'moved@example.com', username: 'Moved' });
      expect(await findUserByIdentifier(deps, 'MOVED')).toEqual(renamed);
      expect(await findUserByIdentifier(deps, 'moved@example.com')).toEqual(renamed);
      await expectDomainError(findUserByIdentifier(deps, 'finder'), 'NOT_FOUND', 'user_not_found');
    });
  });

  describe('update', () => {
    it('records profile changes with before/after values in user.updated', async () => {
      const user = await make('before@example.com', { username: 'before', name: 'Before' });
      const token = await openSession(user.id);
      clock.advance(60_000);
      const updated = await updateUser(deps, actor, {
        id: user.id,
        name: 'After',
        email: 'after@example.com',
        username: null,
      });
      expect(updated).toMatchObject({
        name: 'After',
        email: 'after@example.com',
        username: null,
        role: 'member',
        isActive: true,
      });
      expect(updated.updatedAt).toEqual(clock.now());
      expect(await getUserById(deps, user.id)).toEqual(updated);
      const events = await auditRows();
      expect(events.at(-1)).toMatchObject({
        type: 'user.updated',
        actor_id: actor.userId,
        target_id: user.id,
        data: {
          changes: {
            name: { before: 'Before', after: 'After' },
            email: { before: 'before@example.com', after: 'after@example.com' },
            username: { before: 'before', after: null },
          },
        },
      });
      // The cached validation was evicted: the session now carries the new profile.
      expect((await deps.sessions.validate(token))?.user).toMatchObject({
        name: 'After',
        email: 'after@example.com',
        username: null,
      });
    });

    it('writes nothing when nothing changes', async () => {
      const user = await make('same@example.com', { name: 'Same' });
      clock.advance(60_000);
      const result = await updateUser(deps, actor, { id: user.id, name: 'Same', role: 'member', isActive: true });
      expect(result).toEqual(user);
      expect((await auditRows()).map((e) => e.type)).toEqual(['user.created']);
    });

    it('records a role change as user.role_changed', async () => {
      await make('admin@example.com', { role: 'admin' });
      const user = await make('member@example.com');
      await updateUser(deps, actor, { id: user.id, role: 'admin', name: 'Renamed' });
      const events = (await auditRows()).slice(2);
      expect(events.map((e) => [e.type, e.data])).toEqual([
        ['user.updated', { changes: { name: { before: 'member', after: 'Renamed' } } }],
        ['user.role_changed', { changes: { role: { before: 'member', after: 'admin' } } }],
      ]);
      await updateUser(deps, actor, { id: user.id, role: 'member' });
      expect((await auditRows()).at(-1)).toMatchObject({
        type: 'user.role_changed',
        data: { changes: { role: { before: 'admin', after: 'member' } } },
      });
    });

    it('deactivation revokes every session of the user; reactivation is its own event', async () => {
      const user = await make('d@example.com');
      const other = await make('o@example.com');
      const s1 = await openSession(user.id);
      const s2 = await openSession(user.id);
      const s3 = await openSession(other.id);

      const deactivated = await updateUser(deps, actor, { id: user.id, isActive: false });
      expect(deactivated.isActive).toBe(false);
      expect(await sessionCount(user.id)).toBe(0);
      expect(await sessionCount(other.id)).toBe(1);
      expect(await deps.sessions.validate(s1)).toBeNull();
      expect(await deps.sessions.validate(s2)).toBeNull();
      expect(await deps.sessions.validate(s3)).not.toBeNull();
      expect((await auditRows()).at(-1)).toMatchObject({
        type: 'user.deactivated',
        target_id: user.id,
        data: { changes: { isActive: { before: true, after: false } }, revokedSessions: 2 },
      });

      const reactivated = await updateUser(deps, actor, { id: user.id, isActive: true });
      expect(reactivated.isActive).toBe(true);
      expect((await auditRows()).at(-1)).toMatchObject({
        type: 'user.reactivated',
        data: { changes: { isActive: { before: false, after: true } } },
      });
    });

    it('refuses a taken email or username and changes nothing', async () => {
      await make('one@example.com', { username: 'one' });
      const two = await make('two@example.com', { username: 'two' });
      await expect(
        updateUser(deps, actor, { id: two.id, email: 'one@example.com', name: 'Changed' }),
      ).rejects.toMatchObject({ field: 'email' });
      await expect(updateUser(deps, actor, { id: two.id, username: 'ONE' })).rejects.toMatchObject({
        field: 'username',
      });
      expect(await getUserById(deps, two.id)).toEqual(two);
      expect((await auditRows()).map((e) => e.type)).toEqual(['user.created', 'user.created']);
    });

    it('answers NOT_FOUND for an unknown id', async () => {
      await expectDomainError(
        updateUser(deps, actor, { id: '11111111-1111-4111-8111-111111111111', name: 'X' }),
        'NOT_FOUND',
        'user_not_found',
      );
    });
  });

  describe('setPassword', () => {
    it('replaces the hash, revokes every session and records user.password_set without the password', async () => {
      const user = await make('reset@example.com');
      const r1 = await openSession(user.id);
      const r2 = await openSession(user.id);
      const result = await setUserPassword(deps, actor, { id: user.id, newPassword: 'a brand new secret' });
      expect(result).toEqual({ ok: true, revokedSessions: 2 });
      expect(await sessionCount(user.id)).toBe(0);
      expect(await deps.sessions.validate(r1)).toBeNull();
      expect(await deps.sessions.validate(r2)).toBeNull();
      const stored = await db.kysely
        .selectFrom('users')
        .select('password_hash')
        .where('id', '=', user.id)
        .executeTakeFirstOrThrow();
      expect(await deps.passwords.verify(stored.password_hash, 'a brand new secret')).toBe(true);
      const event = (await auditRows()).at(-1);
      expect(event).toMatchObject({ type: 'user.password_set', target_id: user.id, data: { revokedSessions: 2 } });
      const text = JSON.stringify(event);
      expect(text).not.toContain('a brand new secret');
      expect(text).not.toContain(stored.password_hash);
    });

    it('applies the password policy with the account in view', async () => {
      const user = await make('mine@example.com');
      await expectDomainError(
        setUserPassword(deps, actor, { id: user.id, newPassword: 'mine@example.com' }),
        'BAD_REQUEST',
        'weak_password',
      );
      expect((await auditRows()).map((e) => e.type)).toEqual(['user.created']);
    });

    it('answers NOT_FOUND for an unknown id', async () => {
      await expectDomainError(
        setUserPassword(deps, actor, {
          id: '11111111-1111-4111-8111-111111111111',
          newPassword: 'whatever it is',
        }),
        'NOT_FOUND',
        'user_not_found',
      );
    });
  });

  describe('delete', () => {
    it('removes the user and their sessions; the audit log keeps the ids', async () => {
      const user = await make('gone@example.com', { username: 'gone' });
      const g1 = await openSession(user.id);
      clock.advance(1000);
      await updateUser(deps, actor, { id: user.id, name: 'Going' });
      expect(await deleteUser(deps, actor, { id: user.id })).toEqual({ ok: true });
      await expectDomainError(getUserById(deps, user.id), 'NOT_FOUND', 'user_not_found');
      expect(await sessionCount(user.id)).toBe(0);
      expect(await deps.sessions.validate(g1)).toBeNull();
      const events = await auditRows();
      expect(events.map((e) => [e.type, e.target_id])).toEqual([
        ['user.created', user.id],
        ['user.updated', user.id],
        ['user.deleted', user.id],
      ]);
      expect(events.at(-1)?.data).toEqual({
        email: 'gone@example.com',
        username: 'gone',
        role: 'member',
        revokedSessions: 1,
      });
    });

    it('answers NOT_FOUND for an unknown id', async () => {
      await expectDomainError(
        deleteUser(deps, actor, { id: '11111111-1111-4111-8111-111111111111' }),
        'NOT_FOUND',
        'user_not_found',
      );
    });
  });

  describe('the last active admin', () => {
    it('can be neither demoted, deactivated nor deleted', async () => {
      const admin = await make('root@example.com', { role: 'admin' });
      await make('member@example.com');
      await expectDomainError(updateUser(deps, actor, { id: admin.id, role: 'member' }), 'CONFLICT', 'last_admin');
      await expectDomainError(updateUser(deps, actor, { id: admin.id, isActive: false }), 'CONFLICT', 'last_admin');
      await expectDomainError(deleteUser(deps, actor, { id: admin.id }), 'CONFLICT', 'last_admin');
      expect(await getUserById(deps, admin.id)).toEqual(admin);
      expect((await auditRows()).map((e) => e.type)).toEqual(['user.created', 'user.created']);
    });

    it('inactive admins do not count', async () => {
      const admin = await make('root@example.com', { role: 'admin' });
      const dormant = await make('dormant@example.com', { role: 'admin' });
      await updateUser(deps, actor, { id: dormant.id, isActive: false });
      await expectDomainError(updateUser(deps, actor, { id: admin.id, role: 'member' }), 'CONFLICT', 'last_admin');
      // An inactive admin is not the last active admin: it may go.
      await updateUser(deps, actor, { id: dormant.id, role: 'member' });
      await deleteUser(deps, actor, { id: dormant.id });
    });

    it('may go while another active admin remains', async () => {
      const first = await make('first@example.com', { role: 'admin' });
      const second = await make('second@example.com', { role: 'admin' });
      await updateUser(deps, actor, { id: first.id, role: 'member' });
      await expectDomainError(updateUser(deps, actor, { id: second.id, isActive: false }), 'CONFLICT', 'last_admin');
      await updateUser(deps, actor, { id: first.id, role: 'admin' });
      await deleteUser(deps, actor, { id: second.id });
      await expectDomainError(deleteUser(deps, actor, { id: first.id }), 'CONFLICT', 'last_admin');
    });

    it('survives concurrent demotions, deactivations and deletions through separate handles', async () => {
      if (dialect === 'sqlite') {
        // One process, one SQLite handle: BEGIN IMMEDIATE serializes the transactions anyway.
        const a = await make('a@example.com', { role: 'admin' });
        const b = await make('b@example.com', { role: 'admin' });
        const results = await Promise.allSettled([
          updateUser(deps, actor, { id: a.id, role: 'member' }),
          updateUser(deps, actor, { id: b.id, role: 'member' }),
        ]);
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        expect((await listUsers(deps, { role: 'admin', status: 'active' })).total).toBe(1);
        return;
      }
      const handles = [test.open(), test.open()];
      const closers: (() => Promise<unknown>)[] = [];
      try {
        const [one, two] = (await Promise.all(handles.map((h) => createTestServices(h, { clock })))) as [
          Services,
          Services,
        ];
        closers.push(() => Promise.all([one.close(), two.close()]));
        const operations = [
          (d: Services, id: string) => updateUser(d, actor, { id, role: 'member' }),
          (d: Services, id: string) => updateUser(d, actor, { id, isActive: false }),
          (d: Services, id: string) => deleteUser(d, actor, { id }),
        ];
        for (let round = 0; round < 9; round++) {
          const a = await make(`a${round}@example.com`, { role: 'admin' });
          const b = await make(`b${round}@example.com`, { role: 'admin' });
          const opA = operations[round % 3] as (d: Services, id: string) => Promise<unknown>;
          const opB = operations[Math.floor(round / 3)] as (d: Services, id: string) => Promise<unknown>;
          const results = await Promise.allSettled([opA(one, a.id), opB(two, b.id)]);
          const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
          expect(failures).toHaveLength(1);
          expect(failures[0]?.reason).toMatchObject({ code: 'CONFLICT' });
          expect((await listUsers(deps, { role: 'admin', status: 'active' })).total).toBe(1);
          // Setup for the next pair: no admin left over from this round.
          await db.kysely.updateTable('users').set({ role: 'member' }).where('role', '=', 'admin').execute();
        }
      } finally {
        for (const close of closers) await close();
        await Promise.all(handles.map((h) => h.close()));
      }
    });

    it('leaves exactly one when every admin is demoted at once', async () => {
      const admins = [];
      for (let i = 0; i < 5; i++) admins.push(await make(`admin${i}@example.com`, { role: 'admin' }));
      // PostgreSQL: five transactions on five pooled connections at once. SQLite: serialized.
      const results = await Promise.allSettled(
        admins.map((a) => updateUser(deps, actor, { id: a.id, role: 'member' })),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(4);
      const remaining = await listUsers(deps, { role: 'admin', status: 'active' });
      expect(remaining.total).toBe(1);
      expect((await auditRows()).filter((e) => e.type === 'user.role_changed')).toHaveLength(4);
    });
  });
});

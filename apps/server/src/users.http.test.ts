/**
 * The `user.*` contract (architecture §6, §7) over real HTTP with the typed client, on SQLite and on
 * PostgreSQL: admin-only access, errors with their data, the last-admin rule, revocations.
 */
import { createGatehouseClient, isGatehouseError, type GatehouseClient } from '@gatehouse/client';
import { createTestDatabase, testDialects, type TestDatabase } from '@gatehouse/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type RunningServer } from './testing.js';

async function failure(promise: Promise<unknown>) {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!isGatehouseError(error)) throw new Error(`expected a Gatehouse error, got ${String(error)}`);
  return error;
}

describe.each(testDialects)('user management over HTTP on %s', (dialect) => {
  let database: TestDatabase | null = null;
  let server: RunningServer;
  let admin: GatehouseClient;
  let adminId: string;
  const client = (token: string | null) => createGatehouseClient({ url: server.url, ...(token ? { token } : {}) });

  beforeAll(async () => {
    database = dialect === 'postgres' ? await createTestDatabase('postgres') : null;
    server = await startTestServer(database ? { DATABASE_URL: database.url } : {});
    const first = await client(null).auth.createFirstUser.mutate({
      email: 'root@example.com',
      name: 'Root',
      password: 'a long root passphrase',
    });
    if (first.status !== 'signed-in') throw new Error('expected a signed-in first user');
    admin = client(first.token);
    adminId = first.user.id;
  });
  afterAll(async () => {
    await server.stop();
    await database?.drop();
  });

  async function signIn(identifier: string, password: string): Promise<string> {
    const result = await client(null).auth.signIn.mutate({ identifier, password });
    if (result.status !== 'signed-in') throw new Error('expected signed-in');
    return result.token;
  }

  it('lets the admin manage users, with typed results and dates', async () => {
    const created = await admin.user.create.mutate({
      email: 'Ada@Example.com',
      username: 'ada',
      name: 'Ada',
      password: 'analytical engine 1843',
    });
    expect(created).toMatchObject({
      email: 'ada@example.com',
      username: 'ada',
      role: 'member',
      isActive: true,
      lastSignInAt: null,
    });
    expect(created.createdAt).toBeInstanceOf(Date);
    expect(await admin.user.byId.query({ id: created.id })).toEqual(created);

    const found = await admin.user.list.query({ search: 'ADA', limit: 10 });
    expect(found.items.map((u) => u.id)).toEqual([created.id]);
    expect(found.total).toBe(1);
    expect(found.nextCursor).toBeNull();

    const renamed = await admin.user.update.mutate({ id: created.id, name: 'Ada Lovelace' });
    expect(renamed.name).toBe('Ada Lovelace');

    const events = await admin.audit.list.query({ targetId: created.id });
    expect(events.items.map((e) => e.type)).toEqual(['user.updated', 'user.created']);
    expect(events.items[0]?.data).toEqual({ changes: { name: { before: 'Ada', after: 'Ada Lovelace' } } });
    expect(events.items.every((e) => e.actorId === adminId)).toBe(true);
  });

  it('pages with the opaque cursor', async () => {
    for (let i = 0; i < 5; i++) {
      await admin.user.create.mutate({
        email: `page${i}@example.com`,
        name: `Page ${i}`,
        password: 'a long page passphrase',
      });
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<typeof admin.user.list.query>> = await admin.user.list.query({
        search: 'page',
        limit: 2,
        cursor,
      });
      expect(page.total).toBe(5);
      seen.push(...page.items.map((u) => u.email));
      cursor = page.nextCursor;
    } while (cursor !== null);
    expect(seen.sort()).toEqual([0, 1, 2, 3, 4].map((i) => `page${i}@example.com`));
  });

  it('answers UNAUTHORIZED to anonymous callers and FORBIDDEN to members', async () => {
    await admin.user.create.mutate({
      email: 'member@example.com',
      name: 'Member',
      password: 'a long member passphrase',
    });
    const member = client(await signIn('member@example.com', 'a long member passphrase'));
    const anonymous = client(null);
    const anonymousError = await failure(anonymous.user.list.query());
    expect(anonymousError.data.code).toBe('UNAUTHORIZED');
    expect(anonymousError.data.httpStatus).toBe(401);
    const memberError = await failure(
      member.user.create.mutate({ email: 'x@example.com', name: 'X', password: 'a long x passphrase' }),
    );
    expect(memberError.data.code).toBe('FORBIDDEN');
    expect(memberError.data.httpStatus).toBe(403);
  });

  it('a demoted admin is refused on the next request', async () => {
    const second = await admin.user.create.mutate({
      email: 'second@example.com',
      name: 'Second',
      password: 'a long second passphrase',
      role: 'admin',
    });
    const secondAdmin = client(await signIn('second@example.com', 'a long second passphrase'));
    expect((await secondAdmin.user.list.query()).total).toBeGreaterThan(1);
    await admin.user.update.mutate({ id: second.id, role: 'member' });
    expect((await failure(secondAdmin.user.list.query())).data.code).toBe('FORBIDDEN');
  });

  it('reports conflicts with the field and validation issues with zodError', async () => {
    const conflict = await failure(
      admin.user.create.mutate({ email: 'ROOT@example.com', name: 'Again', password: 'a long again passphrase' }),
    );
    expect(conflict.data).toMatchObject({ code: 'CONFLICT', httpStatus: 409, field: 'email' });
    const invalid = await failure(admin.user.create.mutate({ email: 'not an email', name: '', password: 'short' }));
    expect(invalid.data.code).toBe('BAD_REQUEST');
    expect(Object.keys(invalid.data.zodError?.fieldErrors ?? {}).sort()).toEqual(['email', 'name', 'password']);
    const common = await failure(
      admin.user.create.mutate({ email: 'weak@example.com', name: 'Weak', password: 'password1' }),
    );
    expect(common.data).toMatchObject({ code: 'BAD_REQUEST', field: 'password' });
  });

  it('keeps the last active admin', async () => {
    for (const call of [
      () => admin.user.update.mutate({ id: adminId, role: 'member' }),
      () => admin.user.update.mutate({ id: adminId, isActive: false }),
      () => admin.user.delete.mutate({ id: adminId }),
    ]) {
      const error = await failure(call());
      expect(error.data.code).toBe('CONFLICT');
      expect(error.message).toMatch(/last active admin/);
    }
  });

  it('deactivation, password reset and deletion end the user’s sessions on the next request', async () => {
    const user = await admin.user.create.mutate({
      email: 'short-lived@example.com',
      name: 'Short',
      password: 'a long first passphrase',
    });
    let session = client(await signIn('short-lived@example.com', 'a long first passphrase'));
    expect((await session.auth.me.query()).user.id).toBe(user.id);

    await admin.user.update.mutate({ id: user.id, isActive: false });
    expect((await failure(session.auth.me.query())).data.code).toBe('UNAUTHORIZED');
    await admin.user.update.mutate({ id: user.id, isActive: true });

    session = client(await signIn('short-lived@example.com', 'a long first passphrase'));
    expect(await admin.user.setPassword.mutate({ id: user.id, newPassword: 'a long second passphrase' })).toEqual({
      ok: true,
      revokedSessions: 1,
    });
    expect((await failure(session.auth.me.query())).data.code).toBe('UNAUTHORIZED');

    session = client(await signIn('short-lived@example.com', 'a long second passphrase'));
    expect(await admin.user.delete.mutate({ id: user.id })).toEqual({ ok: true });
    expect((await failure(session.auth.me.query())).data.code).toBe('UNAUTHORIZED');
    expect((await failure(admin.user.byId.query({ id: user.id }))).data.code).toBe('NOT_FOUND');

    const types = (await admin.audit.list.query({ targetId: user.id })).items.map((e) => e.type).reverse();
    expect(types).toEqual(
      expect.arrayContaining([
        'user.created',
        'user.deactivated',
        'user.reactivated',
        'user.password_set',
        'user.deleted',
      ]),
    );
  });
});

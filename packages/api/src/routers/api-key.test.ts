import type { Db } from '@gatehouse/db';
import { createMigratedTestDb, testDialects, type TestDatabase } from '@gatehouse/db/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import type { Services } from '../services.js';
import { callerFor, createTestServices, createTestUser, trpcError } from '../testing.js';

const PASSWORD = 'violet tractor umbrella';
const MINUTE = 60_000;

describe.each(testDialects)('API keys and service accounts on %s', (dialect) => {
  let db: Db;
  let testDb: TestDatabase;
  let cleanup: () => Promise<void>;
  let clock: ManualClock;
  let services: Services;
  let admin: { id: string; token: string };
  let member: { id: string; token: string };
  const req = { ip: '203.0.113.7', userAgent: 'api-key-tests' };
  const as = (token: string | null) => callerFor(services, token, req);

  async function auditRows(type: string) {
    const rows = await db.kysely
      .selectFrom('audit_events')
      .select(['type', 'actor_id', 'target_id', 'data'])
      .where('type', '=', type)
      .orderBy('seq')
      .execute();
    return rows.map((r) => ({ ...r, data: JSON.parse(r.data) as Record<string, unknown> }));
  }

  beforeEach(async () => {
    ({ db, test: testDb, cleanup } = await createMigratedTestDb(dialect));
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

  it('creates a key shown once as gh_<id>_<secret>, stores only its hash, and audits it', async () => {
    const { key, apiKey } = await as(member.token).apiKey.create({ name: 'deploy script', scopes: ['sessions:read'] });
    expect(key).toMatch(/^gh_[a-z2-7]{16}_[a-z2-7]{52}$/);
    expect(key.startsWith(`${apiKey.prefix}_`)).toBe(true);
    expect(apiKey).toMatchObject({
      userId: member.id,
      name: 'deploy script',
      scopes: ['sessions:read'],
      lastUsedAt: null,
    });
    const row = await db.kysely
      .selectFrom('api_keys')
      .selectAll()
      .where('id', '=', apiKey.id)
      .executeTakeFirstOrThrow();
    expect(row.secret_hash).toHaveLength(32);
    expect(JSON.stringify(row)).not.toContain(key.slice(-52));
    const [event] = await auditRows('api_key.created');
    expect(event).toMatchObject({
      actor_id: member.id,
      target_id: member.id,
      data: { keyId: apiKey.id, scopes: 'sessions:read' },
    });
    expect(JSON.stringify(event)).not.toContain(key.slice(-52));
    // The list shows the prefix, never the key.
    const listed = await as(member.token).apiKey.list();
    expect(listed.map((k) => k.id)).toEqual([apiKey.id]);
    expect(JSON.stringify(listed)).not.toContain(key.slice(-52));
  });

  it('a key acts as its owner on the scoped procedures and nowhere else', async () => {
    const { key } = await as(member.token).apiKey.create({ name: 'reader', scopes: ['sessions:read'] });
    const sessions = await as(key).session.list();
    expect(sessions.length).toBe(1);
    expect(sessions.every((s) => !s.current)).toBe(true);
    // No sessions:write: refused with the scope named.
    const refused = await trpcError(as(key).session.revoke({ id: sessions[0]!.id }));
    expect([refused.code, refused.reason]).toEqual(['FORBIDDEN', 'scope_required']);
    // Session-only procedures: a key cannot sign out, change a password, or make keys.
    for (const call of [
      () => as(key).auth.signOut(),
      () => as(key).auth.me(),
      () => as(key).apiKey.create({ name: 'successor', scopes: ['sessions:read'] }),
      () => as(key).apiKey.list(),
    ]) {
      expect((await trpcError(call())).reason).toBe('scope_required');
    }
    // A key is never accepted from a cookie.
    const cookie = await trpcError(callerFor(services, key, { tokenSource: 'cookie' }).session.list());
    expect(cookie.code).toBe('UNAUTHORIZED');
  });

  it('never grants more than the owner may: members get no admin scopes, demoted owners lose admin procedures', async () => {
    const denied = await trpcError(as(member.token).apiKey.create({ name: 'x', scopes: ['users:read'] }));
    expect([denied.code, denied.reason, denied.message]).toEqual([
      'BAD_REQUEST',
      'scope_not_allowed',
      "The key's owner may not use: users:read",
    ]);
    const other = await createTestUser(services, { role: 'admin' });
    const { key } = await as(other.token).apiKey.create({ name: 'admin reader', scopes: ['users:read'] });
    expect((await as(key).user.list({})).items.length).toBe(3);
    await as(admin.token).user.update({ id: other.user.id, role: 'member' });
    const demoted = await trpcError(as(key).user.list({}));
    expect([demoted.code, demoted.reason]).toEqual(['FORBIDDEN', 'admin_required']);
  });

  it('revoked and expired keys stop at once; a deactivated owner’s keys stop too', async () => {
    const a = await as(member.token).apiKey.create({ name: 'a', scopes: ['sessions:read'] });
    const b = await as(member.token).apiKey.create({
      name: 'b',
      scopes: ['sessions:read'],
      expiresAt: new Date(clock.now().getTime() + 10 * MINUTE),
    });
    await as(a.key).session.list(); // cached now
    await as(b.key).session.list();
    await as(member.token).apiKey.revoke({ id: a.apiKey.id });
    expect((await trpcError(as(a.key).session.list())).reason).toBe('unauthenticated');
    expect((await auditRows('api_key.revoked'))[0]).toMatchObject({
      actor_id: member.id,
      data: { keyId: a.apiKey.id },
    });
    clock.advance(10 * MINUTE);
    expect((await trpcError(as(b.key).session.list())).reason).toBe('unauthenticated');
    expect(await as(member.token).apiKey.list()).toEqual([]);

    const c = await as(member.token).apiKey.create({ name: 'c', scopes: ['sessions:read'] });
    await as(c.key).session.list();
    await as(admin.token).user.update({ id: member.id, isActive: false });
    expect((await trpcError(as(c.key).session.list())).reason).toBe('unauthenticated');
  });

  it('step-up: creating a key needs a recent sign-in; a scoped key itself is not asked to reauthenticate', async () => {
    const { key } = await as(admin.token).apiKey.create({ name: 'admin automation', scopes: ['users:write'] });
    const victim = await createTestUser(services, { role: 'member', email: 'leaver@example.com' });
    clock.advance(11 * MINUTE);
    // The browser session is now stale: sensitive actions ask for a fresh authentication…
    const stale = await trpcError(as(admin.token).apiKey.create({ name: 'another', scopes: ['users:read'] }));
    expect([stale.code, stale.reason]).toEqual(['FORBIDDEN', 'reauthentication_required']);
    const staleDelete = await trpcError(as(admin.token).user.delete({ id: victim.user.id }));
    expect(staleDelete.reason).toBe('reauthentication_required');
    // …while the key, made under step-up and limited to its scope, does its job.
    await as(key).user.delete({ id: victim.user.id });
    expect(
      await db.kysely.selectFrom('users').select('id').where('id', '=', victim.user.id).executeTakeFirst(),
    ).toBeUndefined();
  });

  it('a wrong secret with a real id, or a malformed key, is simply unauthenticated', async () => {
    const { key } = await as(member.token).apiKey.create({ name: 'a', scopes: ['sessions:read'] });
    const wrong = `${key.slice(0, -1)}${key.endsWith('a') ? 'b' : 'a'}`;
    expect((await trpcError(as(wrong).session.list())).reason).toBe('unauthenticated');
    expect((await trpcError(as('gh_nope').session.list())).reason).toBe('unauthenticated');
  });

  it('rotation: the new key works at once, the old one for the grace period only', async () => {
    const old = await as(member.token).apiKey.create({ name: 'ci', scopes: ['sessions:read', 'auth:check'] });
    await as(old.key).session.list();
    const rotated = await as(member.token).apiKey.rotate({ id: old.apiKey.id, graceSeconds: 600 });
    expect(rotated.apiKey).toMatchObject({
      name: 'ci',
      scopes: ['auth:check', 'sessions:read'],
      rotatedFrom: old.apiKey.id,
    });
    await as(rotated.key).session.list();
    clock.advance(9 * MINUTE);
    await as(old.key).session.list();
    clock.advance(MINUTE);
    expect((await trpcError(as(old.key).session.list())).reason).toBe('unauthenticated');
    await as(rotated.key).session.list();
    expect((await auditRows('api_key.rotated'))[0]).toMatchObject({
      data: { keyId: rotated.apiKey.id, previousKeyId: old.apiKey.id },
    });
    // Grace 0 ends the old key now.
    const again = await as(member.token).apiKey.rotate({ id: rotated.apiKey.id, graceSeconds: 0 });
    expect((await trpcError(as(rotated.key).session.list())).reason).toBe('unauthenticated');
    await as(again.key).session.list();
  });

  it('records last use at most once a minute', async () => {
    const { key, apiKey } = await as(member.token).apiKey.create({ name: 'a', scopes: ['sessions:read'] });
    const lastUsed = async () =>
      (
        await db.kysely
          .selectFrom('api_keys')
          .select('last_used_at')
          .where('id', '=', apiKey.id)
          .executeTakeFirstOrThrow()
      ).last_used_at;
    await as(key).session.list();
    const first = await lastUsed();
    expect(first).toEqual(clock.now());
    clock.advance(30_000);
    await as(key).session.list();
    expect(await lastUsed()).toEqual(first);
    clock.advance(30_000);
    await as(key).session.list();
    expect(await lastUsed()).toEqual(clock.now());
  });

  it('only owners and admins manage a key; others see NOT_FOUND', async () => {
    const { apiKey } = await as(member.token).apiKey.create({ name: 'a', scopes: ['sessions:read'] });
    const stranger = await createTestUser(services, { role: 'member' });
    expect((await trpcError(as(stranger.token).apiKey.revoke({ id: apiKey.id }))).reason).toBe('api_key_not_found');
    expect((await trpcError(as(stranger.token).apiKey.list({ ownerId: member.id }))).reason).toBe('admin_required');
    expect((await as(admin.token).apiKey.list({ ownerId: member.id })).map((k) => k.id)).toEqual([apiKey.id]);
    await as(admin.token).apiKey.revoke({ id: apiKey.id });
    // An admin cannot mint a key for another person (impersonation), only for a service account.
    const refused = await trpcError(
      as(admin.token).apiKey.create({ name: 'x', scopes: ['sessions:read'], ownerId: member.id }),
    );
    expect([refused.code, refused.reason]).toEqual(['BAD_REQUEST', 'invalid_input']);
  });

  it('a key revoked on one instance stops on another that had it cached, within a second', async () => {
    const other = await createTestServices(testDb.open(), { clock });
    try {
      const { key, apiKey } = await as(member.token).apiKey.create({ name: 'a', scopes: ['sessions:read'] });
      expect(await other.apiKeys.validate(key)).not.toBeNull();
      expect(other.apiKeys.cachedCount).toBe(1);
      await as(member.token).apiKey.revoke({ id: apiKey.id });
      const started = Date.now();
      while ((await other.apiKeys.validate(key)) !== null) {
        expect(Date.now() - started).toBeLessThan(1500);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(other.apiKeys.cachedCount).toBe(0);
    } finally {
      await other.close();
      await other.db.close();
    }
  });

  it('service accounts: created by admins, cannot sign in or get a password, own keys, listed like users', async () => {
    const bot = await as(admin.token).serviceAccount.create({ name: 'Billing worker', role: 'admin' });
    expect(bot).toMatchObject({ kind: 'service', role: 'admin', name: 'Billing worker' });
    expect(bot.email).toBe(`service-${bot.id}@service.invalid`);
    expect((await as(admin.token).user.list({})).items.map((u) => u.id)).toContain(bot.id);
    expect((await auditRows('user.created')).at(-1)).toMatchObject({ target_id: bot.id, data: { kind: 'service' } });

    const signIn = await trpcError(as(null).auth.signIn({ identifier: bot.email, password: 'anything at all' }));
    expect(signIn.reason).toBe('invalid_credentials');
    expect((await auditRows('auth.sign_in_failed')).at(-1)).toMatchObject({ data: { reason: 'service_account' } });
    const setPw = await trpcError(
      as(admin.token).user.setPassword({ id: bot.id, newPassword: 'a brand new passphrase' }),
    );
    expect([setPw.code, setPw.reason]).toEqual(['PRECONDITION_FAILED', 'service_account']);

    const { key } = await as(admin.token).apiKey.create({ name: 'bot', scopes: ['users:read'], ownerId: bot.id });
    const me = await as(key).user.byId({ id: bot.id });
    expect(me.kind).toBe('service');
    expect((await auditRows('api_key.created')).at(-1)).toMatchObject({ actor_id: admin.id, target_id: bot.id });
    // Members cannot create service accounts.
    expect((await trpcError(as(member.token).serviceAccount.create({ name: 'x', role: 'member' }))).reason).toBe(
      'admin_required',
    );
    // Deleting the account deletes its keys.
    await as(admin.token).user.delete({ id: bot.id });
    expect((await trpcError(as(key).user.list({}))).reason).toBe('unauthenticated');
    expect(await db.kysely.selectFrom('api_keys').selectAll().where('user_id', '=', bot.id).execute()).toEqual([]);
  });
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMigratedTestDb, testDialects } from '@gatehouse/db/testing';
import type { Db } from '@gatehouse/db';
import type { Services } from './services.js';
import { callerFor, createTestServices, createTestUser, gatedHasher, trpcError } from './testing.js';

describe.each(testDialects)('test helpers on %s', (dialect) => {
  let db: Db;
  let cleanup: () => Promise<void>;
  let services: Services;

  beforeEach(async () => {
    ({ db, cleanup } = await createMigratedTestDb(dialect));
    services = await createTestServices(db);
  });
  afterEach(async () => {
    await services.close();
    await cleanup();
  });

  it('createTestUser opens a session whose token validates', async () => {
    const { user, token } = await createTestUser(services, { role: 'admin' });
    expect(token).toMatch(/^[a-z2-7]{32}\.[a-z2-7]{32}$/);
    const auth = await services.sessions.validate(token ?? '');
    expect(auth?.user.id).toBe(user.id);
    expect(auth?.user.role).toBe('admin');
  });

  it('an inactive user gets no session', async () => {
    const { token } = await createTestUser(services, { isActive: false });
    expect(token).toBeNull();
  });

  it('callerFor calls procedures as the bearer of a token', async () => {
    const caller = callerFor(services, null);
    await expect(caller.system.version()).resolves.toEqual({ version: expect.any(String) });
  });

  it('trpcError hands back the code and the reason the API would send', async () => {
    const error = await trpcError(callerFor(services, null).auth.me());
    expect([error.code, error.reason]).toEqual(['UNAUTHORIZED', 'unauthenticated']);
    await expect(trpcError(callerFor(services, null).system.version())).rejects.toThrow(/succeeded/);
  });
});

describe('gatedHasher', () => {
  it('holds every hash until released, then hashes as the real hasher does', async () => {
    const hasher = gatedHasher();
    hasher.hold();
    let done = false;
    const pending = hasher.hash('a long passphrase').then((hash) => {
      done = true;
      return hash;
    });
    await hasher.hashing();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(done).toBe(false);
    hasher.release();
    expect(await hasher.verify(await pending, 'a long passphrase')).toBe(true);
    // Not held: straight through.
    expect(await hasher.verify(await hasher.hash('another one'), 'another one')).toBe(true);
  });
});

/**
 * Throttling through `auth.signIn` (issue 13, items 1 and 7): the lockout an attacker can cause,
 * the device cookie that exempts the owner's browser from it, and the counters shared by two
 * instances on PostgreSQL without Redis.
 */
import type { Db } from '@gatehouse/db';
import { createMigratedTestDb, testDialects, type TestDatabase } from '@gatehouse/db/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import { createContext, recordingResponse, type RequestInfo } from '../context.js';
import { createCaller } from '../root.js';
import type { Services } from '../services.js';
import { createTestServices, createTestUser, trpcError } from '../testing.js';
import { DEVICE_COOKIE_TTL_MS, DeviceCookies, ephemeralDeviceCookieKey } from './device.js';

const PASSWORD = 'violet tractor umbrella';
const OWNER_IP = '192.0.2.10';

describe.each(testDialects)('sign-in throttling on %s', (dialect) => {
  let db: Db;
  let test: TestDatabase;
  let cleanup: () => Promise<void>;
  let clock: ManualClock;
  let services: Services;
  let ownerId: string;

  function signIn(req: Partial<RequestInfo>, password = PASSWORD, identifier = 'admin') {
    const res = recordingResponse();
    const caller = createCaller(createContext(services, { userAgent: 'Browser/1.0', ...req }, res));
    return { res, result: caller.auth.signIn({ identifier, password }) };
  }

  /** Wrong passwords from `addresses`, enough to lock the account for every other address. */
  async function lockAccount(addresses = ['198.51.100.1', '198.51.100.2', '198.51.100.3', '198.51.100.4']) {
    for (const ip of addresses) {
      for (let i = 0; i < 6; i++) await signIn({ ip }, `guess ${i}`).result.catch(() => {});
    }
    expect((await trpcError(signIn({ ip: '203.0.113.99' }).result)).code).toBe('TOO_MANY_REQUESTS');
  }

  beforeEach(async () => {
    ({ db, test, cleanup } = await createMigratedTestDb(dialect));
    clock = new ManualClock('2026-04-01T09:00:00.000Z');
    services = await createTestServices(db, { clock });
    ownerId = (await createTestUser(services, { email: 'admin@example.com', username: 'admin', password: PASSWORD }))
      .user.id;
  });
  afterEach(async () => {
    await services.close();
    await cleanup();
  });

  it('one address cannot lock the owner out: 21 guesses in one burst, then the owner signs in elsewhere', async () => {
    const burst = await Promise.allSettled(
      Array.from({ length: 21 }, (_, i) => signIn({ ip: '198.51.100.66' }, `guess ${i}`).result),
    );
    expect(burst.every((r) => r.status === 'rejected')).toBe(true);
    for (let i = 0; i < 30; i++) await signIn({ ip: '198.51.100.66' }, `more ${i}`).result.catch(() => {});
    const { result } = signIn({ ip: OWNER_IP });
    expect((await result).status).toBe('signed-in');
  });

  it('issues a device cookie on sign-in, which lets the owner in while the account is locked', async () => {
    const first = signIn({ ip: OWNER_IP });
    expect((await first.result).status).toBe('signed-in');
    const cookie = first.res.deviceCookie;
    expect(cookie?.expiresAt).toEqual(new Date(clock.now().getTime() + DEVICE_COOKIE_TTL_MS));

    await lockAccount();
    // From a new address, even the attacker's own one, the device cookie gets the owner in.
    const again = signIn({ ip: '198.51.100.1', deviceCookie: cookie?.value ?? null });
    expect((await again.result).status).toBe('signed-in');
    expect(again.res.deviceCookie?.value).toBeTruthy();
    // The account stays locked for everyone else.
    const error = await trpcError(signIn({ ip: '203.0.113.98' }).result);
    expect(error.code).toBe('TOO_MANY_REQUESTS');
  });

  it('the device cookie also keeps the owner’s password change open while the account is locked', async () => {
    const first = signIn({ ip: OWNER_IP });
    const { token } = await first.result.then((r) => (r.status === 'signed-in' ? r : { token: '' }));
    const deviceCookie = first.res.deviceCookie?.value ?? null;
    await lockAccount();
    const change = (req: Partial<RequestInfo>) =>
      createCaller(createContext(services, { ip: OWNER_IP, token, tokenSource: 'bearer', ...req })).auth.changePassword(
        {
          currentPassword: PASSWORD,
          newPassword: 'quite another passphrase',
        },
      );
    expect((await trpcError(change({}))).code).toBe('TOO_MANY_REQUESTS');
    expect(await change({ deviceCookie })).toMatchObject({ ok: true });
  });

  it('a forged, expired or other user’s device cookie gives no exemption', async () => {
    const other = await createTestUser(services, { email: 'bob@example.com', username: 'bob', password: PASSWORD });
    const bobs = signIn({ ip: OWNER_IP }, PASSWORD, 'bob');
    expect((await bobs.result).status).toBe('signed-in');
    const owners = signIn({ ip: OWNER_IP });
    expect((await owners.result).status).toBe('signed-in');
    expect(other.user.id).not.toBe(ownerId);

    clock.advance(1000);
    await lockAccount();
    const forged = new DeviceCookies(ephemeralDeviceCookieKey(), clock).issue(ownerId).value;
    for (const deviceCookie of [forged, bobs.res.deviceCookie?.value ?? null, 'v1.garbage']) {
      const error = await trpcError(signIn({ ip: OWNER_IP, deviceCookie }).result);
      expect(error.code).toBe('TOO_MANY_REQUESTS');
    }
    // The owner's genuine cookie, once expired, is refused as well.
    clock.advance(DEVICE_COOKIE_TTL_MS);
    await lockAccount(['198.51.100.11', '198.51.100.12', '198.51.100.13', '198.51.100.14']);
    const expired = await trpcError(
      signIn({ ip: OWNER_IP, deviceCookie: owners.res.deviceCookie?.value ?? null }).result,
    );
    expect(expired.code).toBe('TOO_MANY_REQUESTS');
  });

  it('a device cookie has a limit of its own', async () => {
    const first = signIn({ ip: OWNER_IP });
    await first.result;
    const deviceCookie = first.res.deviceCookie?.value ?? null;
    for (let i = 0; i < 5; i++) {
      expect((await trpcError(signIn({ ip: OWNER_IP, deviceCookie }, `typo ${i}`).result)).code).toBe('UNAUTHORIZED');
    }
    expect((await trpcError(signIn({ ip: OWNER_IP, deviceCookie }).result)).code).toBe('TOO_MANY_REQUESTS');
    const events = await db.kysely
      .selectFrom('audit_events')
      .select('data')
      .where('type', '=', 'auth.throttled')
      .execute();
    expect(events.map((e) => JSON.parse(e.data) as unknown)).toEqual([{ scope: 'device', retryAfterSeconds: 900 }]);
    // The same browser without its cookie is an unknown device, with the ordinary limits.
    expect((await signIn({ ip: '203.0.113.5' }).result).status).toBe('signed-in');
  });

  it.runIf(dialect === 'postgres')('two instances on one PostgreSQL database share the limit', async () => {
    const secondDb = test.open();
    const second = await createTestServices(secondDb, { clock });
    try {
      const instances = [services, second];
      const attempt = (i: number) =>
        createCaller(createContext(instances[i % 2]!, { ip: '198.51.100.7' })).auth.signIn({
          identifier: 'admin',
          password: `guess ${i}`,
        });
      for (let i = 0; i < 5; i++) expect((await trpcError(attempt(i))).code).toBe('UNAUTHORIZED');
      expect((await trpcError(attempt(5))).code).toBe('TOO_MANY_REQUESTS');
      expect((await trpcError(attempt(6))).code).toBe('TOO_MANY_REQUESTS');
    } finally {
      await second.close();
      await secondDb.close();
    }
  });
});

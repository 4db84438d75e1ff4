import { withTransaction, type Db } from '@gatehouse/db';
import { createMigratedTestDb, testDialects } from '@gatehouse/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../clock.js';
import { createContext, recordingResponse } from '../../context.js';
import { createCaller } from '../../root.js';
import type { Services } from '../../services.js';
import { createTestServices, trpcError } from '../../testing.js';
import { newUserRow } from '../../users/mapping.js';
import { insertUser } from '../../users/repository.js';
import { pythonHashes, type PythonScheme } from './python.testing.js';

const SCHEMES: readonly PythonScheme[] = [
  'bcrypt',
  'passlib-bcrypt-sha256-v2',
  'passlib-bcrypt-sha256-v1',
  'passlib-argon2id',
  'argon2-cffi-argon2i',
  'argon2-cffi-argon2d',
  'passlib-scrypt',
  'werkzeug-scrypt',
  'passlib-pbkdf2-sha256',
  'passlib-pbkdf2-sha512',
  'django-pbkdf2-sha256',
  'django-argon2',
  'django-bcrypt-sha256',
  'werkzeug-pbkdf2-sha256',
];

describe.each(testDialects)('signing in with an imported hash on %s', async (dialect) => {
  let db: Db;
  let cleanup: () => Promise<void>;
  let services: Services;
  const hashes = await pythonHashes(SCHEMES.map((scheme) => [scheme, `${scheme} secret`] as const));

  beforeAll(async () => {
    ({ db, cleanup } = await createMigratedTestDb(dialect));
    services = await createTestServices(db, { clock: new ManualClock('2026-04-01T09:00:00.000Z') });
  });
  afterAll(async () => {
    await services.close();
    await cleanup();
  });

  const signIn = (email: string, password: string, n: number) =>
    createCaller(
      createContext(
        services,
        { ip: `198.51.100.${n}`, userAgent: 'Old/1.0', origin: 'http://localhost:3000' },
        recordingResponse(),
      ),
    ).auth.signIn({ identifier: email, password });
  const storedHash = async (email: string) =>
    (await db.kysely.selectFrom('users').select('password_hash').where('email', '=', email).executeTakeFirstOrThrow())
      .password_hash;

  it.each(SCHEMES.map((scheme, i) => [scheme, i] as const))(
    '%s: the wrong password is refused, the right one signs in and the hash becomes Argon2id',
    async (scheme, i) => {
      const email = `${scheme}@example.com`;
      const imported = hashes[i] ?? '';
      await withTransaction(db, (trx) =>
        insertUser(
          trx,
          newUserRow({ email, username: null, name: scheme, role: 'member', passwordHash: imported, now: new Date() }),
        ),
      );
      expect((await trpcError(signIn(email, `${scheme} secreT`, i))).reason).toBe('invalid_credentials');
      expect(await storedHash(email)).toBe(imported);

      expect((await signIn(email, `${scheme} secret`, i)).status).toBe('signed-in');
      const upgraded = await storedHash(email);
      expect(upgraded).toMatch(/^\$argon2id\$v=19\$m=256,t=1,p=1\$/);
      const [event] = await db.kysely
        .selectFrom('audit_events')
        .select('data')
        .where('type', '=', 'auth.sign_in')
        .orderBy('seq', 'desc')
        .limit(1)
        .execute();
      expect(JSON.parse(event?.data ?? '{}')).toMatchObject({ passwordHashUpgraded: true });
      // The next sign-in verifies the Argon2id hash, and the old password still works.
      expect((await signIn(email, `${scheme} secret`, i)).status).toBe('signed-in');
      expect(await storedHash(email)).toBe(upgraded);
    },
  );
});

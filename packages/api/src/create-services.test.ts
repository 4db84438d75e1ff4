import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { withTransaction, type Db } from '@gatehouse/db';
import { createMigratedTestDb } from '@gatehouse/db/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { signerFromPrivateKey } from './audit/checkpoint.js';
import { ManualClock } from './clock.js';
import { defaultApiConfig } from './config.js';
import { createServices } from './create-services.js';
import type { Services } from './services.js';
import { connectTestRedis, createTestUser, TEST_REDIS_URL } from './testing.js';

const signer = () => signerFromPrivateKey('gatehouse/test', generateKeyPairSync('ed25519').privateKey);
/** issue 15: an MFA key in memory, so no test writes MFA_KEY_FILE into the working directory. */
const testMfaKey = new Uint8Array(32).fill(7);

describe('createServices', () => {
  let db: Db;
  let cleanup: () => Promise<void>;
  const opened: Services[] = [];

  beforeEach(async () => {
    ({ db, cleanup } = await createMigratedTestDb('sqlite'));
  });
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
    await cleanup();
  });

  it('hashes with the OWASP Argon2id parameters and keeps the config object it was given', async () => {
    const config = { ...defaultApiConfig };
    const services = await createServices({ db, config, auditSigner: signer(), background: false, mfaKey: testMfaKey });
    opened.push(services);
    expect(services.config).toBe(config);
    expect(await services.passwords.hash('some long password')).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  });

  it('with REDIS_URL, shares throttling and cache invalidation between instances through Redis', async (ctx) => {
    const probe = await connectTestRedis();
    if (!probe) return ctx.skip();
    await probe.quit();
    const clock = new ManualClock();
    const config = { ...defaultApiConfig, redisUrl: TEST_REDIS_URL };
    const a = await createServices({ db, config, clock, auditSigner: signer(), background: false, mfaKey: testMfaKey });
    const b = await createServices({ db, config, clock, auditSigner: signer(), background: false, mfaKey: testMfaKey });
    opened.push(a, b);

    const account = `shared-${randomUUID()}`;
    for (let i = 0; i < a.throttle.options.accountLimit; i++) {
      expect(await (i % 2 === 0 ? a : b).throttle.attempt(account, null)).toBeNull();
    }
    expect(await b.throttle.attempt(account, null)).toMatchObject({ scope: 'account' });

    const { user, token } = await createTestUser(a);
    expect(await b.sessions.validate(token ?? '')).not.toBeNull();
    expect(b.sessions.cachedCount).toBe(1);
    await withTransaction(db, (trx) => a.sessions.revokeAllForUser(trx, user.id));
    await a.sessions.invalidate({ userId: user.id });
    const start = Date.now();
    while (b.sessions.cachedCount > 0 && Date.now() - start < 1000) await new Promise((r) => setTimeout(r, 5));
    expect(b.sessions.cachedCount).toBe(0);
    expect(await b.sessions.validate(token ?? '')).toBeNull();
  });
});

import { hashSync as bcryptHashSync } from '@node-rs/bcrypt';
import { describe, expect, it } from 'vitest';
import { createLimiter, createPasswordHasher, isBcryptHash, OWASP_ARGON2ID } from './passwords.js';
import { TEST_ARGON2 } from '../testing.js';

describe('password hashing', () => {
  const hasher = createPasswordHasher(TEST_ARGON2);

  it('uses Argon2id with the OWASP parameters in production', async () => {
    expect(OWASP_ARGON2ID).toEqual({ memoryCost: 19456, timeCost: 2, parallelism: 1 });
    const hash = await createPasswordHasher().hash('correct horse battery staple');
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  });

  it('verifies the right password and rejects a wrong one', async () => {
    const hash = await hasher.hash('correct horse battery staple');
    expect(await hasher.verify(hash, 'correct horse battery staple')).toBe(true);
    expect(await hasher.verify(hash, 'correct horse battery stapler')).toBe(false);
  });

  it('compares Unicode passwords in NFKC form: composed or decomposed accents, full-width letters', async () => {
    const hash = await hasher.hash('caf\u00e9 se\u00f1or 2024');
    expect(await hasher.verify(hash, 'cafe\u0301 sen\u0303or 2024')).toBe(true);
    expect(await hasher.verify(hash, 'caf\u00e9 se\u00f1or \uff12\uff10\uff12\uff14')).toBe(true);
    expect(await hasher.verify(hash, 'cafe se\u00f1or 2024')).toBe(false);
  });

  it('checks an imported bcrypt hash against the password as typed', async () => {
    const typed = 'cafe\u0301 import';
    expect(await hasher.verify(bcryptHashSync(typed, 4), typed)).toBe(true);
  });

  it('salts every hash', async () => {
    expect(await hasher.hash('same password')).not.toBe(await hasher.hash('same password'));
  });

  it('hashes off the event loop (timers keep firing while Argon2 runs)', async () => {
    const production = createPasswordHasher();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    await Promise.all([production.hash('a long password 1'), production.hash('a long password 2')]);
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0);
  });

  it.each(['2a', '2b', '2y'])('verifies imported bcrypt $%s$ hashes and asks for a rehash', async (variant) => {
    const hash = bcryptHashSync('imported password', 4).replace(/^\$2b\$/, `$${variant}$`);
    expect(isBcryptHash(hash)).toBe(true);
    expect(await hasher.verify(hash, 'imported password')).toBe(true);
    expect(await hasher.verify(hash, 'wrong password')).toBe(false);
    expect(hasher.needsRehash(hash)).toBe(true);
  });

  it('asks for a rehash when the Argon2 parameters changed, not otherwise', async () => {
    const cheap = await hasher.hash('pw pw pw pw');
    expect(hasher.needsRehash(cheap)).toBe(false);
    expect(createPasswordHasher().needsRehash(cheap)).toBe(true);
  });

  it('never matches a malformed or unknown stored hash', async () => {
    expect(await hasher.verify('', 'x')).toBe(false);
    expect(await hasher.verify('$argon2id$garbage', 'x')).toBe(false);
    expect(await hasher.verify('plaintext', 'plaintext')).toBe(false);
    expect(hasher.needsRehash('plaintext')).toBe(true);
  });

  it('runs at most maxConcurrent hashes at once, in arrival order, and frees the slot on failure', async () => {
    const limited = createLimiter(2);
    let running = 0;
    let peak = 0;
    const finished: number[] = [];
    const task = (n: number) => async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, 5));
      running--;
      if (n === 1) throw new Error('task 1 failed');
      finished.push(n);
      return n;
    };
    const results = await Promise.allSettled([1, 2, 3, 4, 5].map((n) => limited(task(n))));
    expect(peak).toBe(2);
    expect(finished).toEqual([2, 3, 4, 5]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);

    const oneAtATime = createPasswordHasher(TEST_ARGON2, { maxConcurrent: 1 });
    const hashes = await Promise.all(['a', 'b', 'c'].map((p) => oneAtATime.hash(`password ${p}`)));
    expect(await Promise.all(hashes.map((h, i) => oneAtATime.verify(h, `password ${'abc'[i]}`)))).toEqual([
      true,
      true,
      true,
    ]);
  });
});

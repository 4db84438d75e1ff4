import { describe, expect, it } from 'vitest';
import { createPasswordHasher } from '../passwords.js';
import { TEST_ARGON2 } from '../../testing.js';
import { LEGACY_HASH_LIMITS, parsePasswordHash, type HashRejection, type PasswordHashScheme } from './index.js';
import { pythonHashes, type PythonScheme } from './python.testing.js';

const PASSWORD = 'p\u00e4ssw\u00f6rd m\u00fcde \u{1f511} 2019';
const WRONG = 'p\u00e4ssw\u00f6rd m\u00fcde \u{1f511} 2018';

/** Which library writes each format, and the scheme Gatehouse records it as. */
const MADE_BY: ReadonlyArray<readonly [PythonScheme, PasswordHashScheme]> = [
  ['bcrypt', 'bcrypt'],
  ['bcrypt-2a', 'bcrypt'],
  ['passlib-bcrypt-sha256-v2', 'passlib-bcrypt-sha256'],
  ['passlib-bcrypt-sha256-v1', 'passlib-bcrypt-sha256'],
  ['passlib-argon2id', 'argon2id'],
  ['argon2-cffi-argon2id', 'argon2id'],
  ['argon2-cffi-argon2i', 'argon2i'],
  ['argon2-cffi-argon2d', 'argon2d'],
  ['passlib-scrypt', 'passlib-scrypt'],
  ['werkzeug-scrypt', 'werkzeug-scrypt'],
  ['passlib-pbkdf2-sha256', 'passlib-pbkdf2-sha256'],
  ['passlib-pbkdf2-sha512', 'passlib-pbkdf2-sha512'],
  ['django-pbkdf2-sha256', 'django-pbkdf2-sha256'],
  ['django-argon2', 'argon2id'],
  ['django-bcrypt-sha256', 'django-bcrypt-sha256'],
  ['django-bcrypt', 'bcrypt'],
  ['werkzeug-pbkdf2-sha256', 'werkzeug-pbkdf2'],
  ['werkzeug-pbkdf2-sha512', 'werkzeug-pbkdf2'],
];

describe('imported password hashes made by the real libraries (Python, at test time)', async () => {
  const hasher = createPasswordHasher(TEST_ARGON2);
  const hashes = await pythonHashes(MADE_BY.map(([made]) => [made, PASSWORD] as const));
  const cases = MADE_BY.map(([made, scheme], i) => ({ made, scheme, hash: hashes[i] ?? '' }));

  it.each(cases)(
    '$made: accepts the right password, refuses a wrong one, asks for Argon2id',
    async ({ scheme, hash }) => {
      const parsed = parsePasswordHash(hash);
      expect(parsed.ok && parsed.hash.scheme).toBe(scheme);
      expect(await hasher.verify(hash, PASSWORD)).toBe(true);
      expect(await hasher.verify(hash, WRONG)).toBe(false);
      expect(await hasher.verify(hash, '')).toBe(false);
      expect(hasher.needsRehash(hash)).toBe(true);
    },
  );

  it('compares an imported hash against the password as typed, not its NFKC form', async () => {
    const typed = 'cafe\u0301 \uff21';
    const [django] = await pythonHashes([['django-pbkdf2-sha256', typed]]);
    expect(await hasher.verify(django ?? '', typed)).toBe(true);
    expect(await hasher.verify(django ?? '', typed.normalize('NFKC'))).toBe(false);
    // An imported Argon2id hash is tried as typed too; Gatehouse's own keep comparing in NFKC.
    const [argon] = await pythonHashes([['argon2-cffi-argon2id', typed]]);
    expect(await hasher.verify(argon ?? '', typed)).toBe(true);
    expect(await hasher.verify(await hasher.hash(typed), typed.normalize('NFKC'))).toBe(true);
  });

  it('verifies off the event loop: timers keep firing while scrypt and PBKDF2 run', async () => {
    const heavy = await pythonHashes([
      ['passlib-scrypt', PASSWORD],
      ['django-pbkdf2-sha256', PASSWORD],
    ]);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const results = await Promise.all(heavy.map((hash) => hasher.verify(hash, PASSWORD)));
    clearInterval(timer);
    expect(results).toEqual([true, true]);
    expect(ticks).toBeGreaterThan(5);
  });
});

describe('hashes a hostile or broken import could carry', () => {
  const hasher = createPasswordHasher(TEST_ARGON2);
  /** Unpadded base64 (passlib's and argon2's), of 16 and 32 bytes. */
  const salt16 = Buffer.alloc(16, 's').toString('base64').replace(/=+$/, '');
  const key32 = Buffer.alloc(32, 'k').toString('base64').replace(/=+$/, '');

  const absurd: ReadonlyArray<readonly [string, string]> = [
    ['bcrypt cost 31', `$2b$31$${'a'.repeat(53)}`],
    ['bcrypt cost 14', `$2b$14$${'a'.repeat(53)}`],
    ['passlib bcrypt-sha256 cost 20', `$bcrypt-sha256$v=2,t=2b,r=20$${'a'.repeat(22)}$${'a'.repeat(31)}`],
    ['argon2id with 4 GiB', `$argon2id$v=19$m=4194304,t=1,p=1$${salt16}$${key32}`],
    ['argon2i with 1000 passes', `$argon2i$v=19$m=65536,t=1000,p=1$${salt16}$${key32}`],
    ['argon2d with 255 lanes', `$argon2d$v=19$m=65536,t=1,p=255$${salt16}$${key32}`],
    ['passlib scrypt N = 2^30', `$scrypt$ln=30,r=8,p=1$${salt16}$${key32}`],
    ['passlib scrypt p = 64', `$scrypt$ln=14,r=8,p=64$${salt16}$${key32}`],
    ['werkzeug scrypt N = 2^24', `scrypt:16777216:8:1$salt$${'ab'.repeat(64)}`],
    ['passlib pbkdf2-sha256 100M rounds', `$pbkdf2-sha256$100000000$${salt16}$${key32}`],
    [
      'Django pbkdf2_sha256 1 billion iterations',
      `pbkdf2_sha256$1000000000$salt$${Buffer.alloc(32).toString('base64')}`,
    ],
    ['werkzeug pbkdf2:sha512 10M iterations', `pbkdf2:sha512:10000000$salt$${'ab'.repeat(64)}`],
  ];

  it.each(absurd)('%s: refused as hash_too_costly, and sign-in does not even try it', async (_, hash) => {
    const parsed = parsePasswordHash(hash);
    expect(parsed).toMatchObject({ ok: false, reason: 'hash_too_costly' });
    const started = performance.now();
    expect(await hasher.verify(hash, 'anything')).toBe(false);
    expect(performance.now() - started).toBeLessThan(50);
  });

  it('admits the bounds themselves, documented in one place', () => {
    expect(LEGACY_HASH_LIMITS.bcrypt.maxCost).toBe(13);
    expect(parsePasswordHash(`$2b$13$${'a'.repeat(53)}`).ok).toBe(true);
    expect(parsePasswordHash(`$scrypt$ln=17,r=8,p=1$${salt16}$${key32}`).ok).toBe(true);
    expect(parsePasswordHash(`$pbkdf2-sha256$2000000$${salt16}$${key32}`).ok).toBe(true);
  });

  const broken: ReadonlyArray<readonly [string, string, HashRejection]> = [
    ['empty', '', 'hash_unknown_format'],
    ['a plain password', 'hunter2', 'hash_unknown_format'],
    ['unsalted MD5', '5f4dcc3b5aa765d61d8327deb882cf99', 'hash_unknown_format'],
    ['LDAP {SSHA}', '{SSHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=', 'hash_unknown_format'],
    ['Django sha1', 'sha1$salt$0123456789abcdef0123456789abcdef01234567', 'hash_unknown_format'],
    ['Django bcrypt_sha256 cut short', 'bcrypt_sha256$$2b$12$abc', 'hash_malformed'],
    ['bcrypt cut short', '$2b$12$abcdefghijklmnopqrstuv', 'hash_malformed'],
    ['bcrypt with a bad character', `$2b$12$${'a'.repeat(52)}!`, 'hash_malformed'],
    ['bcrypt-sha256 v3', `$bcrypt-sha256$v=3,t=2b,r=12$${'a'.repeat(22)}$${'a'.repeat(31)}`, 'hash_malformed'],
    ['argon2 without parameters', `$argon2id$v=19$${salt16}$${key32}`, 'hash_malformed'],
    ['argon2 with an unknown version', `$argon2id$v=20$m=65536,t=3,p=4$${salt16}$${key32}`, 'hash_malformed'],
    ['argon2 with a repeated parameter', `$argon2id$v=19$m=65536,m=8,p=4$${salt16}$${key32}`, 'hash_malformed'],
    ['scrypt with N not a power of two', `scrypt:1000:8:1$salt$${'ab'.repeat(64)}`, 'hash_malformed'],
    ['scrypt with a non-numeric r', `$scrypt$ln=14,r=x,p=1$${salt16}$${key32}`, 'hash_malformed'],
    ['passlib pbkdf2 with padding', `$pbkdf2-sha256$29000$${salt16}==$${key32}`, 'hash_malformed'],
    ['passlib pbkdf2 with a short key', `$pbkdf2-sha256$29000$${salt16}$${salt16}`, 'hash_malformed'],
    ['Django with a hex key', `pbkdf2_sha256$600000$salt$${'ab'.repeat(32)}`, 'hash_malformed'],
    [
      'Django with negative iterations',
      `pbkdf2_sha256$-1$salt$${Buffer.alloc(32).toString('base64')}`,
      'hash_malformed',
    ],
    ['werkzeug without iterations', `pbkdf2:sha256$salt$${'ab'.repeat(32)}`, 'hash_malformed'],
    ['werkzeug with md5', `pbkdf2:md5:1000$salt$${'ab'.repeat(16)}`, 'hash_malformed'],
    ['werkzeug with odd hex', `pbkdf2:sha256:1000$salt$${'ab'.repeat(31)}a`, 'hash_malformed'],
    ['a megabyte of bcrypt', `$2b$12$${'a'.repeat(1_000_000)}`, 'hash_malformed'],
  ];

  it.each(broken)('%s: refused with %s and a reason in words', async (_, hash, reason) => {
    const parsed = parsePasswordHash(hash);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) {
      expect(parsed.reason).toBe(reason);
      expect(parsed.message.length).toBeGreaterThan(10);
    }
    expect(await hasher.verify(hash, 'hunter2')).toBe(false);
  });
});

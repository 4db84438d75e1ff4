/**
 * Verifying a parsed hash (formats.ts). Every computation runs off the event loop — node:crypto's
 * async pbkdf2/scrypt on libuv's thread pool, @node-rs/argon2 and @node-rs/bcrypt on their own
 * threads — and every comparison of derived keys is constant-time (`timingSafeEqual`; the
 * lengths compared are the format's, not the password's). The password goes in as typed: these
 * hashes were made elsewhere, from the bytes the user typed there.
 */
import { createHash, createHmac, pbkdf2, scrypt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { verify as argon2Verify } from '@node-rs/argon2';
import type * as Bcrypt from '@node-rs/bcrypt';
import type { ParsedPasswordHash } from './formats.js';

// Loaded with the first bcrypt hash verified: most servers never see one, and the native addon
// is a few milliseconds of every start (issue 18).
let bcrypt: Promise<typeof Bcrypt> | null = null;
async function bcryptVerify(password: string, hash: string): Promise<boolean> {
  bcrypt ??= import('@node-rs/bcrypt');
  return (await bcrypt).verify(password, hash);
}

const pbkdf2Async = promisify(pbkdf2);

function scryptAsync(password: string, salt: Buffer, keylen: number, N: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // maxmem above the 128·N·r·p the computation needs (bounded by LEGACY_HASH_LIMITS).
    scrypt(password, salt, keylen, { N, r, p, maxmem: 128 * N * r * p + 2 ** 20 }, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

export async function verifyParsedHash(parsed: ParsedPasswordHash, password: string): Promise<boolean> {
  switch (parsed.kind) {
    case 'argon2':
      return argon2Verify(parsed.phc, password);
    case 'bcrypt':
      return bcryptVerify(password, parsed.hash);
    case 'bcrypt-sha256': {
      const digest =
        parsed.version === 1
          ? createHash('sha256').update(password, 'utf8').digest()
          : createHmac('sha256', Buffer.from(parsed.salt, 'ascii')).update(password, 'utf8').digest();
      return bcryptVerify(digest.toString('base64'), parsed.bcrypt);
    }
    case 'bcrypt-hex-sha256':
      return bcryptVerify(createHash('sha256').update(password, 'utf8').digest('hex'), parsed.bcrypt);
    case 'scrypt': {
      const key = await scryptAsync(password, parsed.salt, parsed.expected.length, parsed.N, parsed.r, parsed.p);
      return timingSafeEqual(key, parsed.expected);
    }
    case 'pbkdf2': {
      const key = await pbkdf2Async(password, parsed.salt, parsed.iterations, parsed.expected.length, parsed.digest);
      return timingSafeEqual(key, parsed.expected);
    }
  }
}

/**
 * Password hashing (architecture §5): Argon2id with the OWASP parameters (m = 19456 KiB, t = 2, p = 1)
 * through @node-rs/argon2, whose async hash/verify run on libuv's thread pool, off the event
 * loop. Imported hashes — bcrypt, passlib bcrypt-sha256, Argon2 i/d/id, scrypt and PBKDF2 from
 * passlib, Django and werkzeug (legacy-hashes/) — verify off the event loop too, within
 * LEGACY_HASH_LIMITS, and report `needsRehash`, so sign-in upgrades them to Argon2id.
 */
import {
  hash as argon2Hash,
  parseOptions,
  verify as argon2Verify,
  type Algorithm,
  type Version,
} from '@node-rs/argon2';
import { parsePasswordHash, verifyParsedHash } from './legacy-hashes/index.js';
import { availableParallelism } from 'node:os';
import type { PasswordHasher } from '../services.js';

export interface Argon2Parameters {
  /** KiB of memory. */
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

/** OWASP Password Storage Cheat Sheet, Argon2id option 2 (ASVS 5.0 11.4.2). */
export const OWASP_ARGON2ID: Readonly<Argon2Parameters> = Object.freeze({
  memoryCost: 19456,
  timeCost: 2,
  parallelism: 1,
});

// Ambient const enums cannot be read under isolatedModules; these are their documented values.
const ARGON2ID = 2 as Algorithm;
const VERSION_0x13 = 1 as Version;

const BCRYPT_PREFIX = /^\$2[aby]\$\d{2}\$/;

export function isBcryptHash(hash: string): boolean {
  return BCRYPT_PREFIX.test(hash);
}

/**
 * The form a password is hashed and compared in: Unicode NFKC (NIST SP 800-63B 5.1.1.2), so "é"
 * typed as one code point or as "e" plus a combining accent, or a full-width "Ａ", is the same
 * password on every keyboard and operating system. ASCII passwords are unchanged.
 */
export function normalizePassword(password: string): string {
  return password.normalize('NFKC');
}

export interface Argon2PasswordHasher extends PasswordHasher {
  readonly parameters: Readonly<Argon2Parameters>;
}

/**
 * Runs at most `limit` tasks at once; the rest wait in arrival order. Hashes queued here rather
 * than in libuv's pool leave pool threads (file and DNS work) free, and a sign-in storm can
 * no longer take every core from the event loop.
 */
export function createLimiter(limit: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: Array<() => void> = [];
  return async (task) => {
    if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    else running++;
    try {
      return await task();
    } finally {
      // Hand the slot straight to the next waiter, or give it back.
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
}

export interface PasswordHasherOptions {
  /**
   * Argon2 and bcrypt computations allowed at once (default: the number of cores). Measured in
   * docs/benchmarks.md: the same sign-in throughput as no limit, with a bounded auth.me p99.
   */
  maxConcurrent?: number;
}

export function createPasswordHasher(
  parameters: Argon2Parameters = OWASP_ARGON2ID,
  { maxConcurrent = availableParallelism() }: PasswordHasherOptions = {},
): Argon2PasswordHasher {
  const options = { ...parameters, algorithm: ARGON2ID, version: VERSION_0x13 };
  const limited = createLimiter(Math.max(1, maxConcurrent));
  return {
    parameters: Object.freeze({ ...parameters }),
    hash: (password) => limited(() => argon2Hash(normalizePassword(password), options)),
    async verify(hash, password) {
      try {
        // Only what the one gate accepts is verified: no stored hash asks more than its bounds.
        const parsed = parsePasswordHash(hash);
        if (!parsed.ok) return false;
        if (parsed.hash.kind === 'argon2' && parsed.hash.scheme === 'argon2id') {
          const phc = parsed.hash.phc;
          // Gatehouse hashes the NFKC form; an imported Argon2id hash was made from the password
          // as typed, which differs only for non-normalized input (then both are tried).
          const normalized = normalizePassword(password);
          if (await limited(() => argon2Verify(phc, normalized))) return true;
          if (normalized === password) return false;
        }
        // Imported hashes were made elsewhere from the password as typed: compare it as typed
        // (bcrypt only looks at the first 72 bytes; the 256-character limit is ours).
        return await limited(() => verifyParsedHash(parsed.hash, password));
      } catch {
        // A malformed stored hash never matches; it is not the caller's fault.
      }
      return false;
    },
    needsRehash(hash) {
      if (!hash.startsWith('$argon2id$')) return true;
      try {
        const current = parseOptions(hash);
        return (
          current.memoryCost !== parameters.memoryCost ||
          current.timeCost !== parameters.timeCost ||
          current.parallelism !== parameters.parallelism ||
          current.version !== VERSION_0x13
        );
      } catch {
        return true;
      }
    },
  };
}

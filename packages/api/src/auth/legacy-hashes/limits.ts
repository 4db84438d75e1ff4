/**
 * The most work an imported hash may ask of one sign-in (docs/security.md "Imported password
 * hashes"). Each bound keeps one verification under about half a second on one core of the
 * reference machine (docs/benchmarks.md) while admitting the defaults of every library we import
 * from: bcrypt 12 (Knex/Express, Go), passlib's argon2 (m = 100 MiB, t = 2) and scrypt (2^16, 8, 1),
 * argon2-cffi (m = 64 MiB, t = 3), Django's PBKDF2 (1,200,000 in Django 6) and werkzeug's scrypt
 * (2^15, 8, 1) and PBKDF2 (1,000,000). A hash above a bound is refused at import with
 * `hash_too_costly`, and never verified at sign-in.
 */
export const LEGACY_HASH_LIMITS = Object.freeze({
  bcrypt: Object.freeze({ minCost: 4, maxCost: 13 }),
  pbkdf2: Object.freeze({ maxIterations: { sha1: 2_000_000, sha256: 2_000_000, sha512: 1_000_000 } }),
  /** N·r·p (the work) and 128·N·r bytes (the memory one lane needs). */
  scrypt: Object.freeze({ maxWork: 2 ** 20, maxMemoryBytes: 128 * 2 ** 20, maxParallelism: 16 }),
  /** m in KiB; m·t is the work. */
  argon2: Object.freeze({ maxMemoryKiB: 262_144, maxWork: 262_144, maxTimeCost: 64, maxParallelism: 16 }),
});

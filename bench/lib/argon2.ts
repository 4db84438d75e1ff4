/**
 * Gatehouse's Argon2id parameters (OWASP: m = 19456 KiB, t = 2, p = 1) as @node-rs/argon2 takes
 * them, for the bench's own servers (the ceiling and the sign-in floor).
 */
import type { Algorithm, Version } from '@node-rs/argon2';

// Ambient const enums cannot be read under isolatedModules: Argon2id = 2, version 0x13 = 1.
export const ARGON2ID = {
  memoryCost: 19456,
  timeCost: 2,
  parallelism: 1,
  algorithm: 2 as Algorithm,
  version: 1 as Version,
};

/**
 * Recovery codes (issue 15): 10 single-use codes of 50 random bits each, shown once, stored as
 * SHA-256 (they are random, not chosen by a person: a fast hash is enough, and lets a code be
 * found by its hash). Typed codes are compared case-, space- and dash-insensitively.
 */
import { randomBytes } from 'node:crypto';
import { sha256 } from '@oslojs/crypto/sha2';

const RECOVERY_CODE_COUNT = 10;
const ALPHABET = 'abcdefghijkmnpqrstuvwxyz23456789'; // 32 symbols, no 0/o, 1/l

/** `xxxxx-xxxxx`: 10 symbols of 5 bits. */
function newRecoveryCode(): string {
  const bytes = randomBytes(10);
  let code = '';
  for (const byte of bytes) code += ALPHABET[byte & 31];
  return `${code.slice(0, 5)}-${code.slice(5)}`;
}

export function newRecoveryCodes(count = RECOVERY_CODE_COUNT): string[] {
  return Array.from({ length: count }, newRecoveryCode);
}

function normalizeRecoveryCode(code: string): string {
  return code.toLowerCase().replace(/[\s-]+/g, '');
}

export function hashRecoveryCode(code: string): Uint8Array {
  return sha256(new TextEncoder().encode(normalizeRecoveryCode(code)));
}

/** True when the typed text has the shape of a recovery code at all. */
export function looksLikeRecoveryCode(code: string): boolean {
  return /^[a-z0-9]{10}$/.test(normalizeRecoveryCode(code));
}

/**
 * Session tokens (architecture §4, the Lucia guide): `<id>.<secret>`, each part 160 random bits from
 * `crypto.getRandomValues`, base32 lower-case without padding (32 characters). The database keeps
 * the id and SHA-256(secret) only, so a leaked table cannot be replayed as tokens.
 */
import { sha256 } from '@oslojs/crypto/sha2';
import { constantTimeEqual } from '@oslojs/crypto/subtle';
import { encodeBase32LowerCaseNoPadding } from '@oslojs/encoding';

/** 20 bytes = 160 bits for each of the id and the secret (the guide asks for at least 120). */
const RANDOM_BYTES = 20;
const PART = /^[a-z2-7]{32}$/;

function randomPart(): string {
  const bytes = new Uint8Array(RANDOM_BYTES);
  crypto.getRandomValues(bytes);
  return encodeBase32LowerCaseNoPadding(bytes);
}

export interface NewToken {
  token: string;
  id: string;
  secretHash: Uint8Array;
}

export function generateSessionToken(): NewToken {
  const id = randomPart();
  const secret = randomPart();
  return { token: `${id}.${secret}`, id, secretHash: hashSecret(secret) };
}

function hashSecret(secret: string): Uint8Array {
  return sha256(new TextEncoder().encode(secret));
}

/** Splits a presented token; null when it cannot be one of ours (no database look-up then). */
export function parseSessionToken(token: string): { id: string; secret: string } | null {
  const dot = token.indexOf('.');
  if (dot < 0) return null;
  const id = token.slice(0, dot);
  const secret = token.slice(dot + 1);
  if (!PART.test(id) || !PART.test(secret)) return null;
  return { id, secret };
}

/** Compares the presented secret's hash with the stored one in constant time. */
export function secretMatches(secret: string, storedHash: Uint8Array): boolean {
  const presented = hashSecret(secret);
  return presented.length === storedHash.length && constantTimeEqual(presented, new Uint8Array(storedHash));
}

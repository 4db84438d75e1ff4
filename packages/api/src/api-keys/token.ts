/**
 * API keys (issue 16): `gh_<id>_<secret>`, so secret scanners (GitHub's, trufflehog's) can
 * recognise a leaked key by its shape. The id is 80 random bits (16 base32 characters), the secret
 * 256 random bits (52 characters), both from `crypto.getRandomValues`, base32 lower-case.
 *
 * The database keeps the id and SHA-256(secret) only. A fast, unsalted hash is the right choice
 * here — unlike passwords, which need Argon2id: the secret is 256 bits of uniform randomness, so
 * there is no dictionary to try and a brute force over 2^256 is out of reach however cheap each
 * guess is; salting and stretching defend against guessable inputs, which these are not. A fast
 * hash keeps validation as cheap as a session's (one SHA-256 and a constant-time compare), which
 * matters because a key is checked on every request. (NIST SP 800-63B §5.1.1.2 and the Lucia
 * guide make the same distinction for high-entropy tokens.)
 */
import { sha256 } from '@oslojs/crypto/sha2';
import { constantTimeEqual } from '@oslojs/crypto/subtle';
import { encodeBase32LowerCaseNoPadding } from '@oslojs/encoding';

const ID_BYTES = 10;
const SECRET_BYTES = 32;
const KEY = /^gh_([a-z2-7]{16})_([a-z2-7]{52})$/;

/** Whether a bearer token is shaped like an API key (rather than a session token). */
export function looksLikeApiKey(token: string): boolean {
  return token.startsWith('gh_');
}

function random(bytes: number): string {
  const buffer = new Uint8Array(bytes);
  crypto.getRandomValues(buffer);
  return encodeBase32LowerCaseNoPadding(buffer);
}

export interface NewApiKey {
  /** The whole key, shown once. */
  key: string;
  id: string;
  secretHash: Uint8Array;
}

export function generateApiKey(): NewApiKey {
  const id = random(ID_BYTES);
  const secret = random(SECRET_BYTES);
  return { key: `gh_${id}_${secret}`, id, secretHash: hashSecret(secret) };
}

/** What lists show of a key: enough to recognise it, nothing to use it. */
export function keyPrefix(id: string): string {
  return `gh_${id}`;
}

function hashSecret(secret: string): Uint8Array {
  return sha256(new TextEncoder().encode(secret));
}

/** Splits a presented key; null when it cannot be one of ours (no database look-up then). */
export function parseApiKey(key: string): { id: string; secret: string } | null {
  const match = KEY.exec(key);
  return match ? { id: match[1] as string, secret: match[2] as string } : null;
}

/** Compares the presented secret's hash with the stored one in constant time. */
export function apiKeySecretMatches(secret: string, storedHash: Uint8Array): boolean {
  const presented = hashSecret(secret);
  return presented.length === storedHash.length && constantTimeEqual(presented, new Uint8Array(storedHash));
}

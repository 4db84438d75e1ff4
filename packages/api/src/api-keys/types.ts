import type { AuthUser } from '../sessions/types.js';
import type { ApiKeyScope } from './scopes.js';

/** An API key as lists and requests see it (never the secret or its hash). */
export interface ApiKeyInfo {
  id: string;
  /** `gh_<id>`: what the key starts with, to recognise it. */
  prefix: string;
  userId: string;
  name: string;
  scopes: ApiKeyScope[];
  createdAt: Date;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  rotatedFrom: string | null;
}

/** A presented key, validated: the key and its (active) owner, read from the user cache. */
export interface ValidatedApiKey {
  key: ApiKeyInfo;
  user: AuthUser;
}

/** Validation as the request path uses it (services.apiKeys). */
export interface ApiKeyValidator {
  /** The key and its owner; null when malformed, unknown, wrong, expired, or the owner inactive. */
  validate(key: string): Promise<ValidatedApiKey | null>;
  /** Keys held in this instance's cache. */
  readonly cachedCount: number;
}

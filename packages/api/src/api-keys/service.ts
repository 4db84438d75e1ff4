/**
 * The API key use cases (issue 16), `(deps, actor, input)`: create (the key is returned once),
 * list, revoke and rotate. Each change and its audit event commit in one `transact`, which drops
 * the key from every instance's cache after the commit (the key id rides the sessions' bus).
 *
 * Who may: one's own keys, always; an administrator also manages every key and creates keys for
 * service accounts — never for another person (that would be impersonation). Scopes never go
 * beyond what the owner may do (scopes.ts), checked against the owner's role at creation and at
 * rotation; the admin check on every call keeps it so afterwards.
 */
import type { ApiKeyRow } from '@gatehouse/db';
import { recorded, type Actor } from '../actor.js';
import { DomainError, notFound } from '../errors.js';
import type { Services } from '../services.js';
import { transact } from '../unit-of-work.js';
import { isAdmin, requireAdmin, requireUser } from '../users/authorize.js';
import { getUserById } from '../users/service.js';
import { infoOfRow } from './manager.js';
import { decodeScopes, encodeScopes, scopesAllowedFor, type ApiKeyScope } from './scopes.js';
import * as store from './store.js';
import { generateApiKey } from './token.js';
import type { ApiKeyInfo } from './types.js';

export type ApiKeyDeps = Pick<Services, 'db' | 'clock' | 'audit' | 'invalidator'>;

const keyNotFound = () => notFound('API key', 'api_key_not_found');

/** The longest rotation grace period: 30 days. */
const MAX_ROTATION_GRACE_SECONDS = 30 * 24 * 3600;

async function assertScopesAllowed(deps: ApiKeyDeps, ownerId: string, scopes: readonly ApiKeyScope[]): Promise<void> {
  const owner = await getUserById(deps, ownerId);
  const allowed = new Set(scopesAllowedFor(owner.role));
  const refused = scopes.filter((scope) => !allowed.has(scope));
  if (refused.length > 0) {
    throw new DomainError('BAD_REQUEST', 'scope_not_allowed', `The key's owner may not use: ${refused.join(', ')}`, {
      field: 'scopes',
    });
  }
}

export interface CreateApiKeyInput {
  name: string;
  scopes: ApiKeyScope[];
  expiresAt?: Date | null | undefined;
  /** A service account's id (administrators only); default: the caller. */
  ownerId?: string | undefined;
}

export interface CreatedApiKey {
  /** The whole key `gh_<id>_<secret>`: shown this once, never stored. */
  key: string;
  apiKey: ApiKeyInfo;
}

/** Resolves who owns a new key and checks the caller may make it. */
async function ownerFor(deps: ApiKeyDeps, actor: Actor, ownerId: string | undefined): Promise<string> {
  const callerId = requireUser(actor);
  if (ownerId === undefined || ownerId === callerId) return callerId;
  await requireAdmin(deps, actor);
  const owner = await getUserById(deps, ownerId);
  if (owner.kind !== 'service') {
    throw new DomainError('BAD_REQUEST', 'invalid_input', 'Keys can be made for yourself or for a service account', {
      field: 'ownerId',
    });
  }
  return owner.id;
}

// Step-up: the router (routers/api-key.ts) requires a recent authentication before `create` and
// `rotate`; the CLI, acting on the database as the operator, is not subject to it.
export async function createApiKey(deps: ApiKeyDeps, actor: Actor, input: CreateApiKeyInput): Promise<CreatedApiKey> {
  const ownerId = await ownerFor(deps, actor, input.ownerId);
  await assertScopesAllowed(deps, ownerId, input.scopes);
  const now = deps.clock.now();
  const expiresAt = input.expiresAt ?? null;
  if (expiresAt !== null && expiresAt.getTime() <= now.getTime()) {
    throw new DomainError('BAD_REQUEST', 'invalid_input', 'The expiry must be in the future', { field: 'expiresAt' });
  }
  const { key, id, secretHash } = generateApiKey();
  const row: ApiKeyRow = {
    id,
    user_id: ownerId,
    name: input.name,
    secret_hash: secretHash,
    scopes: encodeScopes(input.scopes),
    created_at: now,
    expires_at: expiresAt,
    last_used_at: null,
    rotated_from: null,
  };
  await transact(deps, async ({ trx }) => {
    if (ownerId !== actor.userId) await requireAdmin(deps, actor, trx);
    await store.insertKey(trx, row);
    await deps.audit.append(
      trx,
      recorded(actor, ownerId, 'api_key.created', {
        keyId: id,
        name: row.name,
        scopes: row.scopes,
        expiresAt: expiresAt?.toISOString() ?? null,
      }),
    );
  });
  return { key, apiKey: infoOfRow(row) };
}

/** One's own live keys, or (administrators) anyone's. */
export async function listApiKeys(
  deps: ApiKeyDeps,
  actor: Actor,
  input: { ownerId?: string | undefined } = {},
): Promise<ApiKeyInfo[]> {
  const callerId = requireUser(actor);
  const ownerId = input.ownerId ?? callerId;
  if (ownerId !== callerId) await requireAdmin(deps, actor);
  const rows = await store.liveKeysOfUser(deps.db.kysely, ownerId, deps.clock.now());
  return rows.map(infoOfRow);
}

/** The key, if the caller may manage it (its owner or an administrator); NOT_FOUND otherwise. */
async function manageableKey(deps: ApiKeyDeps, actor: Actor, id: string): Promise<ApiKeyRow> {
  const callerId = requireUser(actor);
  const row = await store.selectKey(deps.db.kysely, id);
  if (!row) throw keyNotFound();
  if (row.user_id !== callerId && !(await isAdmin(deps, actor))) throw keyNotFound();
  return row;
}

export async function revokeApiKey(deps: ApiKeyDeps, actor: Actor, input: { id: string }): Promise<{ ok: true }> {
  const row = await manageableKey(deps, actor, input.id);
  await transact(deps, async (work) => {
    const deleted = await store.deleteKey(work.trx, row.id);
    if (!deleted) throw keyNotFound();
    await deps.audit.append(
      work.trx,
      recorded(actor, row.user_id, 'api_key.revoked', { keyId: row.id, name: row.name }),
    );
    work.invalidate({ sessionIds: [row.id] });
  });
  return { ok: true };
}

export interface RotateApiKeyInput {
  id: string;
  /** How long the old key keeps working (0 = revoke it now; at most 30 days). */
  graceSeconds: number;
}

/**
 * A new key with the old one's name, scopes and expiry; the old key keeps working for
 * `graceSeconds` (never beyond its own expiry), so deployments can switch over without downtime.
 */
export async function rotateApiKey(deps: ApiKeyDeps, actor: Actor, input: RotateApiKeyInput): Promise<CreatedApiKey> {
  const old = await manageableKey(deps, actor, input.id);
  const now = deps.clock.now();
  if (old.expires_at !== null && old.expires_at.getTime() <= now.getTime()) throw keyNotFound();
  const scopes = decodeScopes(old.scopes);
  await assertScopesAllowed(deps, old.user_id, scopes);
  const graceEnds = new Date(
    now.getTime() + Math.max(0, Math.min(input.graceSeconds, MAX_ROTATION_GRACE_SECONDS)) * 1000,
  );
  const oldExpiry = old.expires_at !== null && old.expires_at < graceEnds ? old.expires_at : graceEnds;
  const { key, id, secretHash } = generateApiKey();
  const row: ApiKeyRow = {
    id,
    user_id: old.user_id,
    name: old.name,
    secret_hash: secretHash,
    scopes: old.scopes,
    created_at: now,
    expires_at: old.expires_at,
    last_used_at: null,
    rotated_from: old.id,
  };
  await transact(deps, async (work) => {
    if (!(await store.selectKey(work.trx, old.id))) throw keyNotFound();
    await store.insertKey(work.trx, row);
    await store.setKeyExpiry(work.trx, old.id, oldExpiry);
    await deps.audit.append(
      work.trx,
      recorded(actor, old.user_id, 'api_key.rotated', {
        keyId: id,
        previousKeyId: old.id,
        previousKeyExpiresAt: oldExpiry.toISOString(),
      }),
    );
    work.invalidate({ sessionIds: [old.id] });
  });
  return { key, apiKey: infoOfRow(row) };
}

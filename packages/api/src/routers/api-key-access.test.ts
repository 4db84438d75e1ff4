/**
 * API key access, table-driven over the router (issue 16): every procedure that needs a caller ×
 * every scope. A key reaches a procedure only when api-keys/scopes.ts names it with that scope;
 * everything else — session-only procedures, and any procedure added later without an entry — is
 * FORBIDDEN (`scope_required`). A new procedure is checked the moment it exists.
 */
import type { Db } from '@gatehouse/db';
import { createMigratedTestDb, testDialects } from '@gatehouse/db/testing';
import { TRPCError } from '@trpc/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY_SCOPES, PROCEDURE_SCOPES, scopesAllowedFor, type ApiKeyScope } from '../api-keys/scopes.js';
import { ManualClock } from '../clock.js';
import { appRouter } from '../root.js';
import type { Services } from '../services.js';
import { callerFor, createTestServices, createTestUser, trpcError } from '../testing.js';
import { errorReason } from '../trpc.js';

/** Procedures that never look at the caller (access.test.ts's "P" list). */
const PUBLIC_PROCEDURES = new Set([
  'system.version',
  'auth.setupStatus',
  'auth.createFirstUser',
  'auth.signUp',
  'auth.signIn',
  // #14: links are followed signed out; requests answer alike for any address
  'auth.requestPasswordReset',
  'auth.resetPassword',
  'auth.acceptInvitation',
  'auth.requestEmailVerification',
  'auth.verifyEmail',
  'auth.confirmEmailChange',
  // #15: the sign-in second step and passwordless sign-in
  'auth.verifyMfa',
  'auth.passkeyOptions',
  'auth.signInWithPasskey',
]);

const procedures = Object.entries(appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>)
  .map(([path, p]) => ({ path, type: p._def.type }))
  .filter((p) => !PUBLIC_PROCEDURES.has(p.path));

const cases = procedures.flatMap((p) => API_KEY_SCOPES.map((scope) => ({ ...p, scope })));

type Caller = ReturnType<typeof callerFor>;

/** The error code and reason of calling `path` with no input, or 'OK'. */
async function outcome(caller: Caller, path: string): Promise<string> {
  let target: unknown = caller;
  for (const key of path.split('.')) target = (target as Record<string, unknown>)[key];
  try {
    const result: unknown = await (target as (input?: unknown) => Promise<unknown>)(undefined);
    if (result && typeof result === 'object' && Symbol.asyncIterator in result) {
      await (result as AsyncIterable<unknown>)[Symbol.asyncIterator]().return?.();
    }
    return 'OK';
  } catch (error) {
    if (error instanceof TRPCError) return `${error.code}/${errorReason(error)}`;
    throw error;
  }
}

describe('the scope table', () => {
  it('names only procedures that exist', () => {
    const present = new Set(procedures.map((p) => p.path));
    for (const path of Object.keys(PROCEDURE_SCOPES)) expect(present, path).toContain(path);
  });
  it('gives members no admin scope', () => {
    expect(scopesAllowedFor('member')).toEqual(['sessions:read', 'sessions:write', 'auth:check']);
    expect(scopesAllowedFor('admin')).toEqual([...API_KEY_SCOPES]);
  });
});

describe.each(testDialects)('every procedure × every scope on %s', (dialect) => {
  let db: Db;
  let cleanup: () => Promise<void>;
  let services: Services;
  const adminKeys = new Map<ApiKeyScope, string>();
  const memberKeys = new Map<ApiKeyScope, string>();

  beforeAll(async () => {
    ({ db, cleanup } = await createMigratedTestDb(dialect));
    services = await createTestServices(db, { clock: new ManualClock('2026-05-01T08:00:00.000Z') });
    const admin = await createTestUser(services, { role: 'admin' });
    const member = await createTestUser(services, { role: 'member' });
    for (const scope of API_KEY_SCOPES) {
      const created = await callerFor(services, admin.token).apiKey.create({ name: scope, scopes: [scope] });
      adminKeys.set(scope, created.key);
      if (scopesAllowedFor('member').includes(scope)) {
        memberKeys.set(
          scope,
          (await callerFor(services, member.token).apiKey.create({ name: scope, scopes: [scope] })).key,
        );
      }
    }
  });
  afterAll(async () => {
    await services.close();
    await cleanup();
  });

  it.each(cases)('$path ($type) with an admin key scoped $scope', async ({ path, scope }) => {
    const needed = PROCEDURE_SCOPES[path];
    const result = await outcome(callerFor(services, adminKeys.get(scope) as string), path);
    if (needed === scope) {
      // Past the access check: no input, so a validation error or not-found is fine.
      expect(result).not.toMatch(/^(UNAUTHORIZED|FORBIDDEN)/);
    } else {
      expect(result).toBe('FORBIDDEN/scope_required');
    }
  });

  it.each(cases.filter((c) => scopesAllowedFor('member').includes(c.scope)))(
    '$path ($type) with a member key scoped $scope',
    async ({ path, scope }) => {
      const needed = PROCEDURE_SCOPES[path];
      const result = await outcome(callerFor(services, memberKeys.get(scope) as string), path);
      if (needed !== scope) expect(result).toBe('FORBIDDEN/scope_required');
      // The scope lets the key past; the owner's role still decides the admin procedures.
      else expect(result).not.toMatch(/^(UNAUTHORIZED|FORBIDDEN\/scope_required)/);
    },
  );

  it('an unknown key is UNAUTHORIZED everywhere, before any scope is looked at', async () => {
    const fake = `gh_${'a'.repeat(16)}_${'b'.repeat(52)}`;
    for (const { path } of procedures) {
      expect(await outcome(callerFor(services, fake), path), path).toBe('UNAUTHORIZED/unauthenticated');
    }
    expect((await trpcError(callerFor(services, fake).session.list())).code).toBe('UNAUTHORIZED');
  });
});

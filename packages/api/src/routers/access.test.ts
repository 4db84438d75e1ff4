/**
 * Access control, table-driven over the router itself: every procedure not explicitly listed
 * below as public or for any signed-in user is an admin procedure, and must refuse anonymous
 * callers (UNAUTHORIZED) and members (FORBIDDEN). A new procedure is therefore checked the moment
 * it is added to the router; making it non-admin takes an explicit entry here (architecture §7 Access).
 */
import type { Db } from '@gatehouse/db';
import { createMigratedTestDb, testDialects } from '@gatehouse/db/testing';
import { TRPCError } from '@trpc/server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appRouter } from '../root.js';
import { ManualClock } from '../clock.js';
import type { Services } from '../services.js';
import { callerFor, createTestServices, createTestUser } from '../testing.js';

/** Design §7 access "P". */
const PUBLIC_PROCEDURES: ReadonlySet<string> = new Set([
  'system.version',
  'auth.setupStatus',
  'auth.createFirstUser',
  'auth.signUp',
  'auth.signIn',
  // ---- email flows: links are followed signed out; requests answer alike for any address ----
  'auth.requestPasswordReset',
  'auth.resetPassword',
  'auth.acceptInvitation',
  'auth.requestEmailVerification',
  'auth.verifyEmail',
  'auth.confirmEmailChange',
  // issue 15: the sign-in second step and passwordless sign-in
  'auth.verifyMfa',
  'auth.passkeyOptions',
  'auth.signInWithPasskey',
]);

/** Design §7 access "A": every signed-in user, whatever the role. */
const SIGNED_IN_PROCEDURES: ReadonlySet<string> = new Set([
  'auth.signOut',
  'auth.me',
  'auth.changePassword',
  'auth.updateProfile',
  'session.list',
  'session.revoke',
  'session.revokeOthers',
  // issue 15: one's own second factors and step-up
  'auth.reauthenticate',
  'mfa.status',
  'mfa.totpBegin',
  'mfa.totpConfirm',
  'mfa.totpDisable',
  'mfa.recoveryCodesRegenerate',
  'mfa.passkeyRegistrationOptions',
  'mfa.passkeyRegister',
  'mfa.passkeyRename',
  'mfa.passkeyDelete',
  'mfa.passkeyReauthenticationOptions',
  // #16 bridges: one's own API keys (admins also manage others')
  'apiKey.create',
  'apiKey.list',
  'apiKey.revoke',
  'apiKey.rotate',
  'auth.token',
  // #19 receipts: one's own security history and its receipts
  'audit.myHistory',
  'audit.myReceipt',
]);

/** Admin procedures the contract names; each must exist once its router has landed. */
const CONTRACT_ADMIN_PROCEDURES = [
  'user.list',
  'user.byId',
  'user.create',
  'user.update',
  'user.setPassword',
  'user.delete',
  'session.listForUser',
  'session.revokeAllForUser',
  'session.stats',
  'audit.list',
  'audit.verify',
  'audit.checkpoint',
  'audit.inclusionProof',
  'audit.consistencyProof',
  'audit.events',
];

interface ProcedureLike {
  _def: { type: 'query' | 'mutation' | 'subscription' };
}

const allProcedures = Object.entries(appRouter._def.procedures as unknown as Record<string, ProcedureLike>).map(
  ([path, procedure]) => ({
    path,
    type: procedure._def.type,
  }),
);
const adminProcedures = allProcedures.filter(
  (p) => !PUBLIC_PROCEDURES.has(p.path) && !SIGNED_IN_PROCEDURES.has(p.path),
);
const signedInProcedures = allProcedures.filter((p) => SIGNED_IN_PROCEDURES.has(p.path));

type Caller = ReturnType<typeof callerFor>;

/** Calls `path` (e.g. 'user.list') on a caller with no input; resolves to the error code or 'OK'. */
async function outcome(caller: Caller, path: string): Promise<string> {
  let target: unknown = caller;
  for (const key of path.split('.')) target = (target as Record<string, unknown>)[key];
  try {
    const result: unknown = await (target as (input?: unknown) => Promise<unknown>)(undefined);
    // A subscription that got through hands back its stream: stop it.
    if (result && typeof result === 'object' && Symbol.asyncIterator in result) {
      await (result as AsyncIterable<unknown>)[Symbol.asyncIterator]().return?.();
    }
    return 'OK';
  } catch (error) {
    if (error instanceof TRPCError) return error.code;
    throw error;
  }
}

describe('the access lists', () => {
  it('cover the router: every procedure is public, for any signed-in user, or admin', () => {
    expect(allProcedures.length).toBeGreaterThan(0);
    for (const path of [...PUBLIC_PROCEDURES, ...SIGNED_IN_PROCEDURES]) {
      expect(CONTRACT_ADMIN_PROCEDURES, `${path} is listed as non-admin`).not.toContain(path);
    }
    // Whatever of the contract's admin procedures exists is treated as admin here.
    const present = new Set(allProcedures.map((p) => p.path));
    for (const path of CONTRACT_ADMIN_PROCEDURES.filter((p) => present.has(p))) {
      expect(adminProcedures.map((p) => p.path)).toContain(path);
    }
    expect(adminProcedures.map((p) => p.path)).toEqual(
      expect.arrayContaining([
        'user.list',
        'user.byId',
        'user.create',
        'user.update',
        'user.setPassword',
        'user.delete',
      ]),
    );
  });
});

describe.each(testDialects)('admin procedures on %s', (dialect) => {
  let db: Db;
  let cleanup: () => Promise<void>;
  let services: Services;
  let adminToken: string;
  let memberToken: string;
  const caller = (token: string | null) => callerFor(services, token);

  beforeEach(async () => {
    ({ db, cleanup } = await createMigratedTestDb(dialect));
    services = await createTestServices(db, { clock: new ManualClock('2026-05-01T08:00:00.000Z') });
    adminToken = (await createTestUser(services, { role: 'admin' })).token as string;
    memberToken = (await createTestUser(services, { role: 'member' })).token as string;
  });
  afterEach(async () => {
    await services.close();
    await cleanup();
  });

  it.each(adminProcedures)('$path ($type) answers UNAUTHORIZED to an anonymous caller', async ({ path }) => {
    expect(await outcome(caller(null), path)).toBe('UNAUTHORIZED');
  });

  it.each(adminProcedures)('$path ($type) answers UNAUTHORIZED to an unknown token', async ({ path }) => {
    expect(await outcome(caller('aaaaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbb'), path)).toBe('UNAUTHORIZED');
  });

  it.each(adminProcedures)('$path ($type) answers FORBIDDEN to a member', async ({ path }) => {
    expect(await outcome(caller(memberToken), path)).toBe('FORBIDDEN');
  });

  it.each(adminProcedures)('$path ($type) answers FORBIDDEN to an admin demoted since signing in', async ({ path }) => {
    const demoted = await createTestUser(services, { role: 'admin' });
    await caller(adminToken).user.update({ id: demoted.user.id, role: 'member' });
    const token = demoted.token as string;
    expect(await outcome(caller(token), path)).toBe('FORBIDDEN');
  });

  it.each(adminProcedures)('$path ($type) lets an admin past the access check', async ({ path, type }) => {
    if (type === 'subscription') {
      // The stream itself belongs to its router's tests; here: no refusal before it starts.
      const code = await outcome(caller(adminToken), path);
      expect(['UNAUTHORIZED', 'FORBIDDEN']).not.toContain(code);
      return;
    }
    // No input: the answer may be BAD_REQUEST or NOT_FOUND, but not a refusal of the caller.
    expect(['UNAUTHORIZED', 'FORBIDDEN']).not.toContain(await outcome(caller(adminToken), path));
  });

  it('every procedure for any signed-in user answers UNAUTHORIZED to an anonymous caller', async () => {
    for (const { path } of signedInProcedures) {
      expect(await outcome(caller(null), path), path).toBe('UNAUTHORIZED');
    }
  });
});

/**
 * Type-level tests of the client against the real AppRouter (vitest typecheck): every
 * procedure's input and output, nothing inferring as `any`, wrong inputs failing to compile.
 */
import type { ErrorReason as ServerErrorReason } from '@gatehouse/api';
import type { QueryClient } from '@tanstack/react-query';
import { describe, expectTypeOf, test } from 'vitest';
import {
  createGatehouseClient,
  isGatehouseError,
  type AuditEvent,
  type ErrorReason,
  type GatehouseError,
  type GatehouseErrorCode,
  type GatehouseClient,
  type RouterInputs,
  type RouterOutputs,
  type Session,
  type SignInResult,
  type User,
} from '../src/index.js';
import { createGatehouseQueryClient } from '../src/react.js';

declare const gh: GatehouseClient;

/** True when T is `any` (the only type that `0 extends 1 & T` holds for). */
type IsAny<T> = 0 extends 1 & T ? true : false;
/** Walks a type: true when `any` hides anywhere inside (objects, arrays, unions, Promises). */
type HasAny<T, Depth extends unknown[] = []> =
  IsAny<T> extends true
    ? true
    : Depth['length'] extends 6
      ? false
      : T extends Date | string | number | boolean | null | undefined
        ? false
        : T extends readonly (infer E)[]
          ? HasAny<E, [...Depth, 0]>
          : T extends object
            ? true extends { [K in keyof T]-?: HasAny<T[K], [...Depth, 0]> }[keyof T]
              ? true
              : false
            : false;

type Outputs = RouterOutputs;
type Inputs = RouterInputs;

describe('shared types', () => {
  test('User has exactly the contract fields (architecture §7), and no hash', () => {
    expectTypeOf<User>().toEqualTypeOf<{
      id: string;
      email: string;
      username: string | null;
      name: string;
      role: 'admin' | 'member';
      isActive: boolean;
      /** #16: a person or a service account. */
      kind: 'person' | 'service';
      createdAt: Date;
      updatedAt: Date;
      lastSignInAt: Date | null;
      mfaEnabled: boolean;
      // #17 user import
      externalId: string | null;
      // ---- email flows ----
      emailVerifiedAt: Date | null;
    }>();
    expectTypeOf<User>().not.toHaveProperty('passwordHash');
    expectTypeOf<User>().not.toHaveProperty('password_hash');
    expectTypeOf<User>().not.toHaveProperty('mfaSecret');
  });

  test('Session and AuditEvent', () => {
    expectTypeOf<Session>().toEqualTypeOf<{
      id: string;
      createdAt: Date;
      expiresAt: Date;
      lastSeenAt: Date;
      rememberMe: boolean;
      ip: string | null;
      userAgent: string | null;
      current: boolean;
    }>();
    expectTypeOf<AuditEvent['seq']>().toEqualTypeOf<number>();
    expectTypeOf<AuditEvent['at']>().toEqualTypeOf<Date>();
    expectTypeOf<AuditEvent['data']>().toEqualTypeOf<Record<string, unknown>>();
    expectTypeOf<HasAny<AuditEvent>>().toEqualTypeOf<false>();
  });

  test('SignInResult is the contract union (architecture §7)', () => {
    expectTypeOf<Extract<SignInResult, { status: 'signed-in' }>['user']>().toEqualTypeOf<User>();
    expectTypeOf<Extract<SignInResult, { status: 'mfa-required' }>['challengeToken']>().toEqualTypeOf<string>();
  });
});

describe('auth', () => {
  test('setupStatus, createFirstUser, signUp, signIn', async () => {
    expectTypeOf(await gh.auth.setupStatus.query()).toEqualTypeOf<{ needsSetup: boolean }>();
    const first = await gh.auth.createFirstUser.mutate({ email: 'a@b.c', name: 'A', password: 'pw-long-enough' });
    expectTypeOf(first).toEqualTypeOf<SignInResult>();
    expectTypeOf(
      await gh.auth.signUp.mutate({ email: 'a@b.c', name: 'A', password: 'pw', username: 'a' }),
    ).toEqualTypeOf<SignInResult>();
    const result = await gh.auth.signIn.mutate({ identifier: 'a@b.c', password: 'pw', rememberMe: true });
    expectTypeOf(result).toEqualTypeOf<SignInResult>();
    if (result.status === 'signed-in') {
      expectTypeOf(result.token).toEqualTypeOf<string>();
      expectTypeOf(result.user).toEqualTypeOf<User>();
      expectTypeOf(result.expiresAt).toEqualTypeOf<Date>();
    }
    // @ts-expect-error identifier is required
    await gh.auth.signIn.mutate({ password: 'pw' });
    // @ts-expect-error rememberMe is a boolean
    await gh.auth.signIn.mutate({ identifier: 'a', password: 'pw', rememberMe: 'yes' });
    // @ts-expect-error name is required
    await gh.auth.signUp.mutate({ email: 'a@b.c', password: 'pw' });
  });

  test('me has the user without any hash, and the session', async () => {
    const me = await gh.auth.me.query();
    expectTypeOf(me).toEqualTypeOf<{ user: User; session: Session; mfaEnrolmentRequired: boolean }>();
    expectTypeOf(me.user).not.toHaveProperty('passwordHash');
    expectTypeOf(me.user).not.toHaveProperty('password_hash');
    expectTypeOf(me.user).not.toHaveProperty('hash');
    expectTypeOf<HasAny<Outputs['auth']['me']>>().toEqualTypeOf<false>();
  });

  test('signOut, changePassword, updateProfile', async () => {
    expectTypeOf(await gh.auth.signOut.mutate()).toEqualTypeOf<{ ok: true }>();
    expectTypeOf(await gh.auth.changePassword.mutate({ currentPassword: 'a', newPassword: 'b' })).toEqualTypeOf<{
      ok: true;
      revokedSessions: number;
    }>();
    // @ts-expect-error currentPassword is required
    await gh.auth.changePassword.mutate({ newPassword: 'b' });
    expectTypeOf(await gh.auth.updateProfile.mutate({ name: 'B', username: null })).toEqualTypeOf<User>();
    // @ts-expect-error role cannot be changed through one's profile
    await gh.auth.updateProfile.mutate({ role: 'admin' });
  });
});

describe('session', () => {
  test('own sessions', async () => {
    expectTypeOf(await gh.session.list.query()).toEqualTypeOf<Session[]>();
    expectTypeOf(await gh.session.revoke.mutate({ id: 's' })).toEqualTypeOf<{ ok: true }>();
    // @ts-expect-error id is required
    await gh.session.revoke.mutate({});
    expectTypeOf(await gh.session.revokeOthers.mutate()).toEqualTypeOf<{ revoked: number }>();
  });

  test('admin views', async () => {
    expectTypeOf(await gh.session.listForUser.query({ userId: 'u' })).toEqualTypeOf<Session[]>();
    expectTypeOf(await gh.session.revokeAllForUser.mutate({ userId: 'u' })).toEqualTypeOf<{ revoked: number }>();
    // @ts-expect-error the field is userId
    await gh.session.listForUser.query({ id: 'u' });
    expectTypeOf(await gh.session.stats.query()).toEqualTypeOf<{ active: number; cached: number }>();
  });
});

describe('system', () => {
  test('version', () => {
    expectTypeOf(gh.system.version.query).returns.resolves.toEqualTypeOf<{ version: string }>();
    // @ts-expect-error takes no input
    void gh.system.version.query({ x: 1 });
  });
});

describe('user', () => {
  test('list', async () => {
    const page = await gh.user.list.query({ limit: 10, search: 'ada', role: 'admin', status: 'active' });
    expectTypeOf(page.items).toEqualTypeOf<User[]>();
    expectTypeOf(page.nextCursor).toEqualTypeOf<string | null>();
    expectTypeOf(page.total).toEqualTypeOf<number>();
    await gh.user.list.query();
    // @ts-expect-error role must be admin or member
    await gh.user.list.query({ role: 'root' });
    // @ts-expect-error limit is a number
    await gh.user.list.query({ limit: '10' });
    expectTypeOf<HasAny<Outputs['user']['list']>>().toEqualTypeOf<false>();
  });

  test('byId, create, update', async () => {
    expectTypeOf(await gh.user.byId.query({ id: 'u' })).toEqualTypeOf<User>();
    // @ts-expect-error id is required
    await gh.user.byId.query({});
    expectTypeOf(
      await gh.user.create.mutate({ email: 'a@b.c', name: 'A', password: 'pw-long-enough' }),
    ).toEqualTypeOf<User>();
    await gh.user.create.mutate({
      email: 'a@b.c',
      name: 'A',
      password: 'pw-long-enough',
      username: 'a',
      role: 'admin',
    });
    // @ts-expect-error password is required
    await gh.user.create.mutate({ email: 'a@b.c', name: 'A' });
    expectTypeOf(await gh.user.update.mutate({ id: 'u', isActive: false, username: null })).toEqualTypeOf<User>();
    // @ts-expect-error isActive is a boolean
    await gh.user.update.mutate({ id: 'u', isActive: 'no' });
    expectTypeOf<Inputs['user']['update']>().toHaveProperty('role');
  });

  test('setPassword, delete', async () => {
    expectTypeOf(await gh.user.setPassword.mutate({ id: 'u', newPassword: 'x'.repeat(12) })).toEqualTypeOf<{
      ok: true;
      revokedSessions: number;
    }>();
    // @ts-expect-error the field is newPassword
    await gh.user.setPassword.mutate({ id: 'u', password: 'x' });
    expectTypeOf(await gh.user.delete.mutate({ id: 'u' })).toEqualTypeOf<{ ok: true }>();
  });
});

describe('audit', () => {
  test('list', async () => {
    const page = await gh.audit.list.query({ limit: 10, type: 'auth.sign_in', since: new Date() });
    expectTypeOf(page.items).toEqualTypeOf<AuditEvent[]>();
    expectTypeOf(page.nextCursor).toEqualTypeOf<string | null>();
    // @ts-expect-error since is a Date (superjson carries it), not a string
    await gh.audit.list.query({ since: '2024-01-01' });
  });

  test('verify, checkpoint', async () => {
    expectTypeOf(await gh.audit.verify.query()).toEqualTypeOf<{
      ok: boolean;
      checked: number;
      treeSize: number;
      rootHash: string;
      firstInvalidSeq: number | null;
      reason: string | null;
      // #19 audit witnesses
      witnesses?: {
        policy: string;
        witnessedSize: number | null;
        latestCosignedBy: string[];
        unwitnessed: number[];
        problems: string[];
      };
    }>();
    expectTypeOf(await gh.audit.checkpoint.query()).toEqualTypeOf<{
      origin: string;
      treeSize: number;
      rootHash: string;
      signedAt: Date;
      note: string;
      publicKey: string;
    }>();
  });

  test('proofs', async () => {
    const inclusion = await gh.audit.inclusionProof.query({ seq: 3 });
    expectTypeOf(inclusion.proof).toEqualTypeOf<string[]>();
    expectTypeOf(inclusion.leafIndex).toEqualTypeOf<number>();
    // @ts-expect-error seq is required
    await gh.audit.inclusionProof.query({ treeSize: 3 });
    const consistency = await gh.audit.consistencyProof.query({ fromSize: 1, toSize: 4 });
    expectTypeOf(consistency.fromRoot).toEqualTypeOf<string>();
    // @ts-expect-error fromSize is a number
    await gh.audit.consistencyProof.query({ fromSize: '1' });
  });

  test('events subscription yields AuditEvent', () => {
    const sub = gh.audit.events.subscribe(
      { afterSeq: 0 },
      {
        onData: (event) => {
          expectTypeOf(event).toEqualTypeOf<AuditEvent>();
        },
      },
    );
    sub.unsubscribe();
    // @ts-expect-error afterSeq is a number
    gh.audit.events.subscribe({ afterSeq: 'x' }, {});
  });
});

describe('client', () => {
  test('options', () => {
    createGatehouseClient({ url: 'http://localhost:3000', token: 't' });
    createGatehouseClient({ url: '', getToken: () => Promise.resolve('t'), headers: () => ({ 'x-a': 'b' }) });
    // @ts-expect-error url is required
    createGatehouseClient({ token: 't' });
    // @ts-expect-error no such procedure
    void gh.user.nope;
  });

  test('isGatehouseError narrows the error data', () => {
    const err: unknown = new Error('x');
    if (isGatehouseError(err, 'TOO_MANY_REQUESTS')) {
      expectTypeOf(err.data.code).toEqualTypeOf<'TOO_MANY_REQUESTS'>();
      expectTypeOf(err.data.retryAfterSeconds).toEqualTypeOf<number | null>();
      expectTypeOf(err.data.httpStatus).toEqualTypeOf<number>();
    }
    if (isGatehouseError(err)) {
      expectTypeOf(err.data.zodError).toEqualTypeOf<{
        formErrors: string[];
        fieldErrors: Record<string, string[]>;
        issues: { code: string; path: string[]; message: string }[];
      } | null>();
      expectTypeOf(err.data.field).toEqualTypeOf<string | null>();
      expectTypeOf(err.message).toEqualTypeOf<string>();
    }
    // @ts-expect-error not a tRPC error code
    isGatehouseError(err, 'NOPE');
  });

  test('ErrorReason is the server’s list of literals, not a string', () => {
    expectTypeOf<ErrorReason>().toEqualTypeOf<ServerErrorReason>();
    expectTypeOf<'last_admin'>().toExtend<ErrorReason>();
    expectTypeOf<'cross_origin' | 'signup_closed' | 'invalid_credentials'>().toExtend<ErrorReason>();
    expectTypeOf<string>().not.toExtend<ErrorReason>();
    expectTypeOf<IsAny<ErrorReason>>().toEqualTypeOf<false>();
  });

  test('isGatehouseError narrows on the reason, with or without a code', () => {
    const err: unknown = new Error('x');
    if (isGatehouseError(err)) expectTypeOf(err.data.reason).toEqualTypeOf<ErrorReason>();
    if (isGatehouseError(err, 'CONFLICT', 'last_admin')) {
      expectTypeOf(err.data.code).toEqualTypeOf<'CONFLICT'>();
      expectTypeOf(err.data.reason).toEqualTypeOf<'last_admin'>();
      expectTypeOf(err).toEqualTypeOf<GatehouseError<'CONFLICT', 'last_admin'>>();
    }
    if (isGatehouseError(err, undefined, 'throttled')) {
      expectTypeOf(err.data.reason).toEqualTypeOf<'throttled'>();
      expectTypeOf(err.data.code).toEqualTypeOf<GatehouseErrorCode>();
      expectTypeOf(err.data.retryAfterSeconds).toEqualTypeOf<number | null>();
    }
    if (isGatehouseError(err, 'UNAUTHORIZED')) {
      // A code alone leaves every reason possible, and a table keyed by reason must name them all.
      expectTypeOf(err.data.reason).toEqualTypeOf<ErrorReason>();
      // @ts-expect-error a table that misses reasons is refused (what keeps the dashboard's words complete)
      const partial: Record<ErrorReason, string> = { invalid_credentials: 'x', unauthenticated: 'y' };
      void partial;
    }
    // @ts-expect-error not a reason (a message is not a reason either)
    isGatehouseError(err, 'CONFLICT', 'The last active admin cannot be demoted');
    // @ts-expect-error reasons are snake_case literals
    isGatehouseError(err, 'CONFLICT', 'lastAdmin');
  });

  test('createGatehouseQueryClient takes defaults to merge and an onError with the path', () => {
    expectTypeOf(createGatehouseQueryClient()).toEqualTypeOf<QueryClient>();
    createGatehouseQueryClient({
      defaultOptions: { queries: { staleTime: 0, refetchOnWindowFocus: true }, mutations: { retry: 1 } },
      onError: (error, path) => {
        expectTypeOf(error).toEqualTypeOf<unknown>();
        expectTypeOf(path).toEqualTypeOf<string>();
      },
    });
    // @ts-expect-error staleTime is a number (or a function), not a string
    createGatehouseQueryClient({ defaultOptions: { queries: { staleTime: '0' } } });
  });

  test('no output or input is inferred as the any type', () => {
    expectTypeOf<HasAny<Outputs>>().toEqualTypeOf<false>();
    expectTypeOf<IsAny<Inputs['user']['create']>>().toEqualTypeOf<false>();
    expectTypeOf<IsAny<Inputs['audit']['list']>>().toEqualTypeOf<false>();
  });
});

// ---- issue 15: second factors, passkeys and step-up ----
describe('mfa', () => {
  test('signIn may ask for a second factor; verifyMfa finishes it', async () => {
    const result = await gh.auth.signIn.mutate({ identifier: 'a', password: 'pw' });
    if (result.status === 'mfa-required') {
      expectTypeOf(result.challengeToken).toEqualTypeOf<string>();
      expectTypeOf(result.methods).toEqualTypeOf<('totp' | 'recovery' | 'passkey')[]>();
      expectTypeOf(result.expiresAt).toEqualTypeOf<Date>();
      expectTypeOf(result.passkeyOptions?.challenge).toEqualTypeOf<string | undefined>();
      const done = await gh.auth.verifyMfa.mutate({
        challengeToken: result.challengeToken,
        method: 'totp',
        code: '123456',
      });
      expectTypeOf(done.status).toEqualTypeOf<'signed-in'>();
      expectTypeOf(done.token).toEqualTypeOf<string>();
      expectTypeOf(done.user).toEqualTypeOf<User>();
    }
    // @ts-expect-error a TOTP answer needs its code
    await gh.auth.verifyMfa.mutate({ challengeToken: 't', method: 'totp' });
    // @ts-expect-error not a method
    await gh.auth.verifyMfa.mutate({ challengeToken: 't', method: 'sms', code: '1' });
    expectTypeOf<User['mfaEnabled']>().toEqualTypeOf<boolean>();
  });

  test('reauthenticate with a password, a code or a passkey', async () => {
    expectTypeOf(await gh.auth.reauthenticate.mutate({ method: 'password', password: 'pw' })).toEqualTypeOf<{
      ok: true;
      authenticatedAt: Date;
    }>();
    await gh.auth.reauthenticate.mutate({ method: 'totp', code: '123456' });
    // @ts-expect-error a password reauthentication needs the password
    await gh.auth.reauthenticate.mutate({ method: 'password' });
  });

  test('TOTP enrolment, recovery codes and status', async () => {
    expectTypeOf(await gh.mfa.totpBegin.mutate()).toEqualTypeOf<{ secret: string; uri: string; qrSvg: string }>();
    expectTypeOf(await gh.mfa.totpConfirm.mutate({ code: '123456' })).toEqualTypeOf<{
      recoveryCodes: string[] | null;
    }>();
    expectTypeOf(await gh.mfa.totpDisable.mutate()).toEqualTypeOf<{ ok: true; mfaEnabled: boolean }>();
    expectTypeOf(await gh.mfa.recoveryCodesRegenerate.mutate()).toEqualTypeOf<{ recoveryCodes: string[] }>();
    const status = await gh.mfa.status.query();
    expectTypeOf(status.totp).toEqualTypeOf<{ enabled: boolean; pending: boolean }>();
    expectTypeOf(status.recoveryCodesRemaining).toEqualTypeOf<number>();
    expectTypeOf(status.enrolmentRequired).toEqualTypeOf<boolean>();
    expectTypeOf(status.passkeys[0]?.name).toEqualTypeOf<string | undefined>();
    expectTypeOf(status.passkeys[0]?.lastUsedAt).toEqualTypeOf<Date | null | undefined>();
  });

  test('passkeys: registration, rename, delete, passwordless sign-in', async () => {
    const options = await gh.mfa.passkeyRegistrationOptions.mutate();
    expectTypeOf(options.challengeToken).toEqualTypeOf<string>();
    expectTypeOf(options.options.challenge).toEqualTypeOf<string>();
    expectTypeOf(await gh.mfa.passkeyRename.mutate({ id: 'c', name: 'Laptop' })).toEqualTypeOf<{ ok: true }>();
    expectTypeOf(await gh.mfa.passkeyDelete.mutate({ id: 'c' })).toEqualTypeOf<{ ok: true; mfaEnabled: boolean }>();
    const signIn = await gh.auth.passkeyOptions.mutate();
    expectTypeOf(signIn.challengeToken).toEqualTypeOf<string>();
    type SignInWithPasskey = RouterInputs['auth']['signInWithPasskey'];
    expectTypeOf<SignInWithPasskey['challengeToken']>().toEqualTypeOf<string>();
    expectTypeOf<RouterOutputs['auth']['signInWithPasskey']['status']>().toEqualTypeOf<'signed-in'>();
    // @ts-expect-error a rename needs the new name
    await gh.mfa.passkeyRename.mutate({ id: 'c' });
  });

  test('admins: a user’s factors and the reset', async () => {
    expectTypeOf((await gh.mfa.statusOf.query({ id: 'u' })).mfaEnabled).toEqualTypeOf<boolean>();
    const reset = await gh.mfa.reset.mutate({ id: 'u' });
    expectTypeOf(reset.revokedSessions).toEqualTypeOf<number>();
    expectTypeOf(reset.removed).toEqualTypeOf<{ totp: boolean; passkeys: number; recoveryCodes: number }>();
    expectTypeOf(reset.user).toEqualTypeOf<User>();
    expectTypeOf<HasAny<RouterOutputs['mfa']>>().toEqualTypeOf<false>();
  });
});

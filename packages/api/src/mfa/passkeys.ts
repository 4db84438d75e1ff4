/**
 * Passkeys (WebAuthn, issue 15) with @simplewebauthn/server: registration on a signed-in
 * session, use as a second factor (auth.verifyMfa, auth.reauthenticate) and passwordless sign-in
 * with discoverable credentials (auth.passkeyOptions, auth.signInWithPasskey). The relying party
 * is PUBLIC_ORIGIN: its host name is the RP ID and its origin the only expected origin. The
 * signature counter and the backup flags are stored and updated on every use.
 */
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type * as SimpleWebAuthn from '@simplewebauthn/server';
import { decodeBase64urlIgnorePadding } from '@oslojs/encoding';
import type { Actor } from '../actor.js';
import type { SignInResult } from '../auth/types.js';
import { DomainError, tooManyRequests, unauthenticated } from '../errors.js';
import type { Services } from '../services.js';
import { transact } from '../unit-of-work.js';
import { requireUser } from '../users/authorize.js';
import { toUser } from '../users/mapping.js';
import * as users from '../users/repository.js';
import { challengeInvalid, findChallenge, issueChallenge } from './challenges.js';
import * as repo from './repository.js';
import { toPasskeyInfo, type PasskeyInfo } from './types.js';
import { queueMfaChangedNotice, queueNewSignInNotice } from './notices.js';

/**
 * @simplewebauthn/server and its ASN.1 stack (about 15 MB resident) load with the first passkey
 * ceremony, not when the server starts: most requests never need them (issue 18).
 */
let webauthnModule: Promise<typeof SimpleWebAuthn> | undefined;
const webauthn = () => (webauthnModule ??= import('@simplewebauthn/server'));

export type PasskeyAssertion = AuthenticationResponseJSON;
export type PasskeyAttestation = RegistrationResponseJSON;
export type { PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON };

type PasskeyDeps = Pick<
  Services,
  'db' | 'config' | 'clock' | 'sessions' | 'audit' | 'throttle' | 'invalidator' | /* seams: notices */ 'mail'
>;

const passkeyInvalid = () => new DomainError('UNAUTHORIZED', 'passkey_invalid', 'The passkey could not be verified');

/** PUBLIC_ORIGIN as a relying party. */
function relyingParty(config: Pick<Services['config'], 'publicOrigin'>) {
  const url = new URL(config.publicOrigin);
  return { rpID: url.hostname, origin: url.origin, rpName: `Gatehouse (${url.hostname})` };
}

const userHandleOf = (userId: string) => new TextEncoder().encode(userId);

function parseTransports(text: string): string[] {
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) ? value.filter((t): t is string => typeof t === 'string') : [];
  } catch {
    return [];
  }
}

function audited(
  actor: Actor,
  targetId: string,
  type: 'mfa.passkey_registered' | 'mfa.passkey_renamed' | 'mfa.passkey_deleted' | 'auth.mfa_failed',
  data: Record<string, unknown>,
) {
  return { type, actorId: actor.userId, targetId, ip: actor.ip, userAgent: actor.userAgent, data };
}

// ---- assertions ---------------------------------------------------------------------------------

/** Request options for `userId`'s passkeys (second factor) or, with null, any discoverable one. */
export async function passkeyRequestOptions(
  deps: Pick<PasskeyDeps, 'db' | 'config'>,
  userId: string | null,
): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const { rpID } = relyingParty(deps.config);
  const allow = userId ? await repo.passkeysOf(deps.db.kysely, userId) : [];
  return (await webauthn()).generateAuthenticationOptions({
    rpID,
    userVerification: userId ? 'preferred' : 'required',
    timeout: 5 * 60_000,
    allowCredentials: allow.map((p) => ({ id: p.id, transports: parseTransports(p.transports) })),
  });
}

export interface VerifiedAssertion {
  passkeyId: string;
  userId: string;
  newCounter: number;
  backedUp: boolean;
}

/**
 * Verifies an assertion against the stored credential and `expectedChallenge`; null when it does
 * not verify (unknown credential, another user's, wrong challenge, origin or RP ID, bad
 * signature, a counter that went backwards). With `userId` null (passwordless) the user handle
 * must name the credential's owner and user verification is required.
 */
export async function checkPasskeyAssertion(
  deps: Pick<PasskeyDeps, 'db' | 'config'>,
  input: { userId: string | null; expectedChallenge: string; response: PasskeyAssertion },
): Promise<VerifiedAssertion | null> {
  const row = await repo.passkeyById(deps.db.kysely, input.response.id);
  if (!row) return null;
  if (input.userId !== null && row.user_id !== input.userId) return null;
  if (input.userId === null) {
    const handle = input.response.response.userHandle;
    if (!handle) return null;
    try {
      if (new TextDecoder().decode(decodeBase64urlIgnorePadding(handle)) !== row.user_id) return null;
    } catch {
      return null;
    }
  }
  const { rpID, origin } = relyingParty(deps.config);
  try {
    const result = await (
      await webauthn()
    ).verifyAuthenticationResponse({
      response: input.response,
      expectedChallenge: input.expectedChallenge,
      expectedOrigin: origin,
      expectedRPID: rpID,
      requireUserVerification: input.userId === null,
      credential: {
        id: row.id,
        publicKey: new Uint8Array(row.public_key),
        counter: row.counter,
        transports: parseTransports(row.transports),
      },
    });
    if (!result.verified) return null;
    return {
      passkeyId: row.id,
      userId: row.user_id,
      newCounter: result.authenticationInfo.newCounter,
      backedUp: result.authenticationInfo.credentialBackedUp,
    };
  } catch {
    return null;
  }
}

// ---- registration -------------------------------------------------------------------------------

/** Options to create a passkey for the caller, and the challenge token to send back with it. */
export async function passkeyRegistrationOptions(
  deps: PasskeyDeps,
  actor: Actor,
  input: { sessionId: string },
): Promise<{ challengeToken: string; options: PublicKeyCredentialCreationOptionsJSON }> {
  const userId = requireUser(actor);
  const row = await users.findById(deps.db.kysely, userId);
  if (!row || !row.is_active) throw unauthenticated();
  const existing = await repo.passkeysOf(deps.db.kysely, userId);
  const { rpID, rpName } = relyingParty(deps.config);
  const options = await (
    await webauthn()
  ).generateRegistrationOptions({
    rpName,
    rpID,
    userName: row.email,
    userDisplayName: row.name,
    userID: userHandleOf(userId),
    attestationType: 'none',
    timeout: 5 * 60_000,
    excludeCredentials: existing.map((p) => ({ id: p.id, transports: parseTransports(p.transports) })),
    authenticatorSelection: { residentKey: 'required', userVerification: 'preferred' },
  });
  const challenge = await transact(deps, ({ trx }) =>
    issueChallenge(trx, deps.clock.now(), {
      purpose: 'passkey_registration',
      userId,
      sessionId: input.sessionId,
      webauthnChallenge: options.challenge,
    }),
  );
  return { challengeToken: challenge.token, options };
}

/** Verifies the new credential and stores it; `mfaEnabled` becomes true. */
export async function registerPasskey(
  deps: PasskeyDeps,
  actor: Actor,
  input: { sessionId: string; challengeToken: string; name: string; response: PasskeyAttestation },
): Promise<PasskeyInfo> {
  const userId = requireUser(actor);
  const now = deps.clock.now();
  const challenge = await findChallenge(deps.db.kysely, input.challengeToken, 'passkey_registration', now);
  if (challenge.user_id !== userId || challenge.session_id !== input.sessionId || !challenge.webauthn_challenge) {
    throw challengeInvalid();
  }
  const { rpID, origin } = relyingParty(deps.config);
  let verification;
  try {
    verification = await (
      await webauthn()
    ).verifyRegistrationResponse({
      response: input.response,
      expectedChallenge: challenge.webauthn_challenge,
      expectedOrigin: origin,
      expectedRPID: rpID,
      requireUserVerification: false,
    });
  } catch {
    verification = null;
  }
  if (!verification?.verified) {
    await transact(deps, async ({ trx }) => {
      await repo.consumeChallenge(trx, challenge.id);
      await deps.audit.append(
        trx,
        audited(actor, userId, 'auth.mfa_failed', { method: 'passkey', operation: 'register_passkey' }),
      );
    });
    throw passkeyInvalid();
  }
  const info = verification.registrationInfo;
  const row: repo.PasskeyRow = {
    id: info.credential.id,
    user_id: userId,
    name: input.name,
    public_key: info.credential.publicKey,
    counter: info.credential.counter,
    transports: JSON.stringify(info.credential.transports ?? input.response.response.transports ?? []),
    device_type: info.credentialDeviceType,
    backed_up: info.credentialBackedUp,
    created_at: now,
    last_used_at: null,
  };
  await transact(deps, async (work) => {
    if (!(await repo.consumeChallenge(work.trx, challenge.id))) throw challengeInvalid();
    if (await repo.passkeyById(work.trx, row.id)) {
      throw new DomainError('CONFLICT', 'already_exists', 'This passkey is already registered');
    }
    await repo.insertPasskey(work.trx, row);
    await repo.refreshMfaEnabled(work.trx, userId, now);
    await deps.audit.append(
      work.trx,
      audited(actor, userId, 'mfa.passkey_registered', { passkeyId: row.id, name: row.name, backedUp: row.backed_up }),
    );
    const owner = await users.findById(work.trx, userId);
    if (owner) await queueMfaChangedNotice(deps, work, actor, owner, 'passkey_registered');
    work.invalidate({ userIds: [userId] });
  });
  return toPasskeyInfo(row);
}

export async function renameOwnPasskey(
  deps: PasskeyDeps,
  actor: Actor,
  input: { id: string; name: string },
): Promise<{ ok: true }> {
  const userId = requireUser(actor);
  await transact(deps, async ({ trx }) => {
    if (!(await repo.renamePasskey(trx, userId, input.id, input.name))) {
      throw new DomainError('NOT_FOUND', 'not_found', 'Passkey not found');
    }
    await deps.audit.append(
      trx,
      audited(actor, userId, 'mfa.passkey_renamed', { passkeyId: input.id, name: input.name }),
    );
  });
  return { ok: true };
}

/** Deletes one of the caller's passkeys (step-up first, in the router). */
export async function deleteOwnPasskey(
  deps: PasskeyDeps,
  actor: Actor,
  input: { id: string },
): Promise<{ ok: true; mfaEnabled: boolean }> {
  const userId = requireUser(actor);
  return transact(deps, async (work) => {
    if (!(await repo.deletePasskey(work.trx, userId, input.id))) {
      throw new DomainError('NOT_FOUND', 'not_found', 'Passkey not found');
    }
    const now = deps.clock.now();
    const enabled = await repo.refreshMfaEnabled(work.trx, userId, now);
    if (!enabled) await repo.replaceRecoveryCodes(work.trx, userId, [], now);
    await deps.audit.append(
      work.trx,
      audited(actor, userId, 'mfa.passkey_deleted', { passkeyId: input.id, mfaEnabled: enabled }),
    );
    const owner = await users.findById(work.trx, userId);
    if (owner) await queueMfaChangedNotice(deps, work, actor, owner, 'passkey_deleted');
    work.invalidate({ userIds: [userId] });
    return { ok: true as const, mfaEnabled: enabled };
  });
}

// ---- passwordless sign-in and reauthentication ----------------------------------------------------

/** auth.passkeyOptions: a challenge for a discoverable passkey (no user named, nothing revealed). */
export async function passkeySignInOptions(
  deps: PasskeyDeps,
): Promise<{ challengeToken: string; options: PublicKeyCredentialRequestOptionsJSON }> {
  const options = await passkeyRequestOptions(deps, null);
  const challenge = await transact(deps, ({ trx }) =>
    issueChallenge(trx, deps.clock.now(), {
      purpose: 'passkey_sign_in',
      userId: null,
      webauthnChallenge: options.challenge,
    }),
  );
  return { challengeToken: challenge.token, options };
}

/** Options for reauthenticating the caller's session with one of their passkeys. */
export async function passkeyReauthenticationOptions(
  deps: PasskeyDeps,
  actor: Actor,
  input: { sessionId: string },
): Promise<{ challengeToken: string; options: PublicKeyCredentialRequestOptionsJSON }> {
  const userId = requireUser(actor);
  if ((await repo.countPasskeys(deps.db.kysely, userId)) === 0) {
    throw new DomainError('BAD_REQUEST', 'mfa_method_unavailable', 'No passkey is set up for this account');
  }
  const options = await passkeyRequestOptions(deps, userId);
  const challenge = await transact(deps, ({ trx }) =>
    issueChallenge(trx, deps.clock.now(), {
      purpose: 'reauthentication',
      userId,
      sessionId: input.sessionId,
      webauthnChallenge: options.challenge,
    }),
  );
  return { challengeToken: challenge.token, options };
}

/**
 * auth.signInWithPasskey: a verified discoverable passkey (with user verification) is both
 * factors. One try per challenge; failures are audited and throttled per address.
 */
export async function signInWithPasskey(
  deps: PasskeyDeps,
  actor: Actor,
  input: { challengeToken: string; response: PasskeyAssertion; rememberMe?: boolean | undefined },
  /** The device cookie the request carried: decides the new-browser notice, as in auth.signIn. */
  options: { deviceCookie?: string | null | undefined } = {},
): Promise<Extract<SignInResult, { status: 'signed-in' }>> {
  const now = deps.clock.now();
  const challenge = await findChallenge(deps.db.kysely, input.challengeToken, 'passkey_sign_in', now);
  if (!challenge.webauthn_challenge) throw challengeInvalid();
  const account = `passkey:${input.response.id}`;
  const verdict = await deps.throttle.attempt(account, actor.ip);
  if (verdict) {
    await transact(deps, ({ trx }) =>
      deps.audit.append(trx, {
        type: 'auth.throttled',
        ip: actor.ip,
        userAgent: actor.userAgent,
        data: { scope: verdict.scope, retryAfterSeconds: verdict.retryAfterSeconds, operation: 'sign_in_with_passkey' },
      }),
    );
    throw tooManyRequests(verdict.retryAfterSeconds);
  }
  const verified = await checkPasskeyAssertion(deps, {
    userId: null,
    expectedChallenge: challenge.webauthn_challenge,
    response: input.response,
  });
  const user = verified ? await users.findById(deps.db.kysely, verified.userId) : undefined;
  if (!verified || !user || !user.is_active) {
    await transact(deps, async ({ trx }) => {
      await repo.consumeChallenge(trx, challenge.id);
      await deps.audit.append(trx, {
        type: 'auth.sign_in_failed',
        targetId: user?.id ?? null,
        ip: actor.ip,
        userAgent: actor.userAgent,
        data: { reason: !verified ? 'passkey_invalid' : 'inactive', method: 'passkey' },
      });
    });
    throw passkeyInvalid();
  }
  const rememberMe = input.rememberMe ?? false;
  const created = await transact(deps, async (work) => {
    if (!(await repo.consumeChallenge(work.trx, challenge.id))) throw challengeInvalid();
    await repo.recordPasskeyUse(work.trx, verified.passkeyId, verified.newCounter, verified.backedUp, now);
    await users.setLastSignIn(work.trx, user.id, now);
    const session = await deps.sessions.create(work.trx, {
      userId: user.id,
      rememberMe,
      ip: actor.ip,
      userAgent: actor.userAgent,
    });
    await deps.audit.append(work.trx, {
      type: 'auth.sign_in',
      actorId: user.id,
      targetId: user.id,
      ip: actor.ip,
      userAgent: actor.userAgent,
      data: {
        sessionId: session.session.id,
        rememberMe,
        passwordless: true,
        mfa: 'passkey',
        passkeyId: verified.passkeyId,
      },
    });
    await queueNewSignInNotice(deps, work, actor, user, options.deviceCookie, now);
    work.invalidate({ userIds: [user.id] });
    return session;
  });
  await deps.throttle.succeeded(account, actor.ip);
  return {
    status: 'signed-in',
    user: toUser({ ...user, last_sign_in_at: now }),
    token: created.token,
    expiresAt: created.session.expiresAt,
  };
}

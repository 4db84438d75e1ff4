/**
 * The security notices of the second factors, through the router on both dialects, with a real
 * SMTP server on loopback: a recovery code used, a factor added or removed, an administrator's
 * reset — and the new-browser sign-in notice for sign-ins finished by auth.verifyMfa. None of
 * them carries a code, a secret or a token.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import type { Db } from '@gatehouse/db';
import { createMigratedTestDb, testDialects } from '@gatehouse/db/testing';
import * as OTPAuth from 'otpauth';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import type { ApiConfig } from '../config.js';
import { createContext, recordingResponse, type RequestInfo } from '../context.js';
import { createCaller } from '../root.js';
import type { Services } from '../services.js';
import {
  callerFor,
  createTestServices,
  createTestUser,
  startTestSmtp,
  type ReceivedMail,
  type TestSmtp,
  type TestUser,
} from '../testing.js';

const PASSWORD = 'violet tractor umbrella';
const ORIGIN = 'http://localhost:3000';

// ---- a software authenticator (ES256, "none" attestation), as a browser's WebAuthn would answer ----

const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest();

/** Just enough CBOR for an attestation object and a COSE key. */
function cbor(value: unknown): Buffer {
  const head = (major: number, n: number) =>
    n < 24
      ? Buffer.from([(major << 5) | n])
      : n < 256
        ? Buffer.from([(major << 5) | 24, n])
        : Buffer.from([(major << 5) | 25, n >> 8, n & 255]);
  if (typeof value === 'number') return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === 'string') return Buffer.concat([head(3, Buffer.byteLength(value)), Buffer.from(value)]);
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), Buffer.from(value)]);
  if (value instanceof Map) {
    const parts = [...value.entries()].flatMap(([k, v]) => [cbor(k), cbor(v)]);
    return Buffer.concat([head(5, value.size), ...parts]);
  }
  throw new Error('cbor: unsupported value');
}

class SoftAuthenticator {
  readonly credentialId = randomBytes(16);
  private readonly privateKey: KeyObject;
  private readonly cose: Buffer;
  private counter = 0;
  constructor() {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.privateKey = privateKey;
    const jwk = publicKey.export({ format: 'jwk' });
    this.cose = cbor(
      new Map<number, unknown>([
        [1, 2],
        [3, -7],
        [-1, 1],
        [-2, Buffer.from(jwk.x ?? '', 'base64url')],
        [-3, Buffer.from(jwk.y ?? '', 'base64url')],
      ]),
    );
  }
  private authData(flags: number, attested: boolean): Buffer {
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(++this.counter);
    const rpIdHash = sha256(new URL(ORIGIN).hostname);
    if (!attested) return Buffer.concat([rpIdHash, Buffer.from([flags]), counter]);
    const length = Buffer.from([this.credentialId.length >> 8, this.credentialId.length & 255]);
    return Buffer.concat([
      rpIdHash,
      Buffer.from([flags]),
      counter,
      Buffer.alloc(16),
      length,
      this.credentialId,
      this.cose,
    ]);
  }
  register(challenge: string) {
    const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.create', challenge, origin: ORIGIN }));
    const attestationObject = cbor(
      new Map<string, unknown>([
        ['fmt', 'none'],
        ['attStmt', new Map()],
        ['authData', this.authData(0x45, true)],
      ]),
    );
    return {
      id: b64url(this.credentialId),
      rawId: b64url(this.credentialId),
      type: 'public-key' as const,
      response: { clientDataJSON: b64url(clientDataJSON), attestationObject: b64url(attestationObject) },
      clientExtensionResults: {},
    };
  }
  assert(challenge: string, userId: string) {
    const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.get', challenge, origin: ORIGIN }));
    const authenticatorData = this.authData(0x05, false);
    const signature = sign('sha256', Buffer.concat([authenticatorData, sha256(clientDataJSON)]), this.privateKey);
    return {
      id: b64url(this.credentialId),
      rawId: b64url(this.credentialId),
      type: 'public-key' as const,
      response: {
        clientDataJSON: b64url(clientDataJSON),
        authenticatorData: b64url(authenticatorData),
        signature: b64url(signature),
        userHandle: b64url(new TextEncoder().encode(userId)),
      },
      clientExtensionResults: {},
    };
  }
}
const MINUTE = 60_000;

describe.each(testDialects)('MFA security notices on %s', (dialect) => {
  let db: Db;
  let cleanup: () => Promise<void>;
  let clock: ManualClock;
  let services: Services;
  let smtp: TestSmtp;

  function browser(req: Partial<RequestInfo> = {}) {
    const res = recordingResponse();
    const caller = createCaller(createContext(services, { ip: '203.0.113.9', userAgent: 'Browser/2.0', ...req }, res));
    return { caller, res };
  }

  async function restart(config: Partial<ApiConfig>) {
    await services.close();
    services = await createTestServices(db, { clock, config: { mail: smtp.mailConfig(), ...config } });
  }

  async function mailTo(to: string, subject: string, saying = ''): Promise<ReceivedMail> {
    await services.mail.deliverDue();
    return smtp.next((m) => m.to === to && m.subject === subject && m.text.includes(saying), 2000);
  }

  async function subjectsTo(to: string): Promise<string[]> {
    await services.mail.deliverDue();
    return smtp.received.filter((m) => m.to === to).map((m) => m.subject);
  }

  /** A user with TOTP on (through the router), their app and recovery codes. */
  async function enrolled(email: string) {
    const user = await createTestUser(services, { password: PASSWORD, email, name: 'Mona' });
    const caller = callerFor(services, user.token);
    const enrolment = await caller.mfa.totpBegin();
    const parsed = OTPAuth.URI.parse(enrolment.uri);
    if (!(parsed instanceof OTPAuth.TOTP)) throw new Error('not a TOTP URI');
    const { recoveryCodes } = await caller.mfa.totpConfirm({
      code: parsed.generate({ timestamp: clock.now().getTime() }),
    });
    clock.advance(30_000);
    return { user, caller, totp: parsed, secret: enrolment.secret, recoveryCodes: recoveryCodes ?? [] };
  }

  async function challengeFor(user: TestUser, req: Partial<RequestInfo> = {}) {
    const { caller, res } = browser(req);
    const result = await caller.auth.signIn({ identifier: user.user.email, password: PASSWORD });
    if (result.status !== 'mfa-required') throw new Error(`expected mfa-required, got ${result.status}`);
    return { caller, res, challengeToken: result.challengeToken };
  }

  /** Says nothing secret: no code, no TOTP secret, no token, no link but the sign-in page. */
  function expectNothingSecret(mail: ReceivedMail, secrets: string[]) {
    for (const secret of secrets) {
      expect(mail.text).not.toContain(secret);
      expect(mail.html).not.toContain(secret);
    }
    expect(mail.links).toEqual(['http://localhost:3000/']);
  }

  beforeEach(async () => {
    ({ db, cleanup } = await createMigratedTestDb(dialect));
    clock = new ManualClock('2026-04-01T09:00:05.000Z');
    smtp = await startTestSmtp();
    services = await createTestServices(db, {
      clock,
      config: { mail: smtp.mailConfig(), publicOrigin: 'http://localhost:3000' },
    });
  });
  afterEach(async () => {
    await services.close();
    await smtp.stop();
    await cleanup();
  });

  it('notifies when an authenticator app is set up, new recovery codes are made and the app is removed', async () => {
    const { caller, secret, recoveryCodes } = await enrolled('factors@example.com');
    const added = await mailTo('factors@example.com', 'The second factors of your Gatehouse account changed');
    expect(added.text).toContain('An authenticator app was set up as a second factor of your account');
    expect(added.html).toContain('An authenticator app was set up');
    expectNothingSecret(added, [secret, ...recoveryCodes]);

    const { recoveryCodes: fresh } = await caller.mfa.recoveryCodesRegenerate();
    const regenerated = await mailTo(
      'factors@example.com',
      'The second factors of your Gatehouse account changed',
      'New recovery codes',
    );
    expect(regenerated.text).toContain('New recovery codes were generated');
    expectNothingSecret(regenerated, [secret, ...fresh]);

    await caller.mfa.totpDisable();
    const removed = await mailTo(
      'factors@example.com',
      'The second factors of your Gatehouse account changed',
      'removed',
    );
    expect(removed.text).toContain('The authenticator app was removed');
    expectNothingSecret(removed, [secret]);
  });

  it('notifies when a recovery code signs in (with how many are left), and of the new browser', async () => {
    const { user, recoveryCodes, secret } = await enrolled('recovery@example.com');
    const [code] = recoveryCodes;
    if (!code) throw new Error('no codes');
    const a = await challengeFor(user, { ip: '192.0.2.44', userAgent: 'Lost/1.0' });
    const done = await a.caller.auth.verifyMfa({ challengeToken: a.challengeToken, method: 'recovery', code });
    expect(done.status).toBe('signed-in');
    const used = await mailTo('recovery@example.com', 'A recovery code was used on your Gatehouse account');
    expect(used.text).toContain('9 unused codes are left');
    expect(used.text).toContain('192.0.2.44');
    expectNothingSecret(used, [code, code.toUpperCase(), secret, done.token]);
    // The account's first sign-in ever is no news (as with the password alone).
    expect(await subjectsTo('recovery@example.com')).not.toContain('New sign-in to your Gatehouse account');
  });

  it('mails the new-browser notice for a sign-in finished by verifyMfa, not for a browser with the device cookie', async () => {
    const { user, totp } = await enrolled('browser@example.com');
    const first = await challengeFor(user);
    await first.caller.auth.verifyMfa({
      challengeToken: first.challengeToken,
      method: 'totp',
      code: totp.generate({ timestamp: clock.now().getTime() }),
    });
    const deviceCookie = first.res.deviceCookie?.value;
    expect(deviceCookie).toBeTypeOf('string');
    clock.advance(MINUTE);

    // The same browser, carrying its device cookie: nothing.
    const again = await challengeFor(user, { deviceCookie: deviceCookie ?? null });
    await again.caller.auth.verifyMfa({
      challengeToken: again.challengeToken,
      method: 'totp',
      code: totp.generate({ timestamp: clock.now().getTime() }),
    });
    expect(await subjectsTo('browser@example.com')).not.toContain('New sign-in to your Gatehouse account');
    clock.advance(MINUTE);

    // Another browser: the notice, naming it.
    const other = await challengeFor(user, { ip: '192.0.2.99', userAgent: 'Stranger/7' });
    const code = totp.generate({ timestamp: clock.now().getTime() });
    await other.caller.auth.verifyMfa({ challengeToken: other.challengeToken, method: 'totp', code });
    const notice = await mailTo('browser@example.com', 'New sign-in to your Gatehouse account');
    expect(notice.text).toContain('192.0.2.99');
    expect(notice.text).toContain('Stranger/7');
    expectNothingSecret(notice, [code, other.challengeToken]);
  });

  it('notifies when a passkey is added or removed, and of a new browser signing in with it', async () => {
    const user = await createTestUser(services, { password: PASSWORD, email: 'passkey@example.com' });
    const caller = callerFor(services, user.token, { origin: ORIGIN });
    const authenticator = new SoftAuthenticator();
    const { challengeToken, options } = await caller.mfa.passkeyRegistrationOptions();
    const info = await caller.mfa.passkeyRegister({
      challengeToken,
      name: 'Laptop',
      response: authenticator.register(options.challenge),
    });
    const added = await mailTo('passkey@example.com', 'The second factors of your Gatehouse account changed', 'added');
    expect(added.text).toContain('A passkey was added to your account');
    expectNothingSecret(added, [info.id, b64url(authenticator.credentialId)]);

    const signInWith = async (req: Partial<RequestInfo>) => {
      const { caller: anonymous, res } = browser({ origin: ORIGIN, ...req });
      const start = await anonymous.auth.passkeyOptions();
      const done = await anonymous.auth.signInWithPasskey({
        challengeToken: start.challengeToken,
        response: authenticator.assert(start.options.challenge, user.user.id),
      });
      return { done, res };
    };
    // The first sign-in ever is no news; the same browser again (with its device cookie) neither.
    const first = await signInWith({});
    expect(first.done.status).toBe('signed-in');
    await signInWith({ deviceCookie: first.res.deviceCookie?.value ?? null });
    expect(await subjectsTo('passkey@example.com')).not.toContain('New sign-in to your Gatehouse account');
    // Another browser: the notice.
    const other = await signInWith({ ip: '192.0.2.61', userAgent: 'Elsewhere/5' });
    const notice = await mailTo('passkey@example.com', 'New sign-in to your Gatehouse account');
    expect(notice.text).toContain('Elsewhere/5');
    expectNothingSecret(notice, [other.done.token, b64url(authenticator.credentialId)]);

    await callerFor(services, other.done.token, { origin: ORIGIN }).mfa.passkeyDelete({ id: info.id });
    const removed = await mailTo(
      'passkey@example.com',
      'The second factors of your Gatehouse account changed',
      'removed',
    );
    expect(removed.text).toContain('A passkey was removed from your account');
  });

  it("notifies the user of an administrator's reset of their factors", async () => {
    const admin = await createTestUser(services, { role: 'admin', password: PASSWORD });
    const { user, secret, recoveryCodes } = await enrolled('reset@example.com');
    await callerFor(services, admin.token).mfa.reset({ id: user.user.id });
    const reset = await mailTo('reset@example.com', 'The second factors of your Gatehouse account were removed');
    expect(reset.text).toContain('an administrator removed every second factor of your account');
    expectNothingSecret(reset, [secret, ...recoveryCodes]);
  });

  it('sends none of them with SECURITY_NOTICES=false', async () => {
    await restart({ securityNotices: false, publicOrigin: 'http://localhost:3000' });
    const admin = await createTestUser(services, { role: 'admin', password: PASSWORD });
    const { user, recoveryCodes } = await enrolled('quiet@example.com');
    const [code] = recoveryCodes;
    if (!code) throw new Error('no codes');
    const a = await challengeFor(user);
    await a.caller.auth.verifyMfa({ challengeToken: a.challengeToken, method: 'recovery', code });
    await callerFor(services, admin.token).mfa.reset({ id: user.user.id });
    expect(await subjectsTo('quiet@example.com')).toEqual([]);
  });
});

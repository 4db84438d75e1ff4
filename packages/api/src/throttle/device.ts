/**
 * Device cookies (OWASP, "Slow Down Online Guessing Attacks with Device Cookies"): a browser that
 * signed in to an account receives a cookie binding it to that account. On later sign-ins a
 * valid device cookie for the very account being signed in to takes the attempt out of the
 * shared counters (account, account + IP, IP) and counts it on that device's own counter only,
 * so an attacker who locks the account for everyone else does not lock out its owner's browser.
 *
 * The cookie is `v1.<user id>.<device id>.<issued at>.<mac>`: the user id base64url-encoded, 128
 * random bits of device id, the issue time in ms, and HMAC-SHA-256 over the first four fields.
 * It cannot be forged without the key, moved to another account (the user id is inside the
 * MAC), or used after `ttlMs`. The key is derived (HKDF-SHA-256) from the audit signing key, so
 * every instance that shares AUDIT_KEY_FILE accepts the others' cookies and nothing new needs to
 * be provisioned; a new audit key simply retires every device cookie (the next sign-in with the
 * password issues a fresh one).
 */
import { createHmac, hkdfSync, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { Clock } from '../clock.js';

/** A device cookie that verified for one user: what the throttle counts such attempts on. */
export interface TrustedDevice {
  readonly id: string;
  readonly userId: string;
}

export interface IssuedDeviceCookie {
  value: string;
  expiresAt: Date;
}

export const DEVICE_COOKIE_TTL_MS = 180 * 24 * 3_600_000;
const VERSION = 'v1';
/** A cookie issued by an instance whose clock runs ahead of ours is still fine. */
const CLOCK_SKEW_MS = 5 * 60_000;
/** Longer values are not ours: refuse before computing anything. */
const MAX_LENGTH = 512;

export class DeviceCookies {
  readonly #key: Buffer;
  readonly #clock: Clock;
  readonly ttlMs: number;

  constructor(key: Uint8Array, clock: Clock, options: { ttlMs?: number } = {}) {
    if (key.length < 32) throw new Error('A device cookie key needs at least 32 bytes');
    this.#key = Buffer.from(key);
    this.#clock = clock;
    this.ttlMs = options.ttlMs ?? DEVICE_COOKIE_TTL_MS;
  }

  /** A fresh cookie for a browser that just signed in to `userId` with the right password. */
  issue(userId: string): IssuedDeviceCookie {
    const issuedAt = this.#clock.now().getTime();
    const payload = [VERSION, encodeUserId(userId), randomBytes(16).toString('base64url'), String(issuedAt)].join('.');
    return { value: `${payload}.${this.#mac(payload)}`, expiresAt: new Date(issuedAt + this.ttlMs) };
  }

  /**
   * The device, when `value` is a cookie this server issued for `userId` that has not expired;
   * otherwise null (absent, malformed, forged, another user's, expired): no exemption.
   */
  verify(value: string | null | undefined, userId: string | null | undefined): TrustedDevice | null {
    if (!value || !userId || value.length > MAX_LENGTH) return null;
    const parts = value.split('.');
    if (parts.length !== 5) return null;
    const [version, user, id, issued, mac] = parts as [string, string, string, string, string];
    const expected = Buffer.from(this.#mac(parts.slice(0, 4).join('.')));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    if (version !== VERSION || user !== encodeUserId(userId) || !/^\d{1,15}$/.test(issued)) return null;
    const age = this.#clock.now().getTime() - Number(issued);
    if (age >= this.ttlMs || age < -CLOCK_SKEW_MS) return null;
    return { id, userId };
  }

  #mac(payload: string): string {
    return createHmac('sha256', this.#key).update(payload).digest('base64url');
  }
}

const encodeUserId = (userId: string) => Buffer.from(userId, 'utf8').toString('base64url');

/** The device cookie key: HKDF-SHA-256 of the Ed25519 audit signing key, for this use only. */
export function deriveDeviceCookieKey(auditSigningKey: KeyObject): Buffer {
  const { d } = auditSigningKey.export({ format: 'jwk' });
  if (typeof d !== 'string') throw new Error('The audit signing key is not a private key');
  const ikm = Buffer.from(d, 'base64url');
  return Buffer.from(hkdfSync('sha256', ikm, 'gatehouse', 'gatehouse device cookie v1', 32));
}

/** A device cookie key that lives as long as this process (tests; a throttle built without one). */
export function ephemeralDeviceCookieKey(): Buffer {
  return randomBytes(32);
}

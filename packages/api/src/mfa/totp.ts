/**
 * TOTP (RFC 6238) as authenticator apps expect it: HMAC-SHA-1, 6 digits, 30-second steps, on
 * @oslojs/otp's HOTP. Time comes from Gatehouse's clock (never Date.now), and a match names the
 * step it matched, so the caller can store it and refuse that step and every earlier one again.
 */
import { createTOTPKeyURI, generateHOTP, verifyHOTP } from '@oslojs/otp';
import { encodeBase32UpperCaseNoPadding } from '@oslojs/encoding';
import { randomBytes } from 'node:crypto';

const TOTP_PERIOD_SECONDS = 30;
const TOTP_DIGITS = 6;
/** Steps of clock skew accepted either side of now. */
const TOTP_SKEW_STEPS = 1;

/** A new 160-bit secret (RFC 4226's recommended length). */
export function newTotpKey(): Uint8Array {
  return new Uint8Array(randomBytes(20));
}

export function totpStep(at: Date): number {
  return Math.floor(at.getTime() / 1000 / TOTP_PERIOD_SECONDS);
}

export function totpCode(key: Uint8Array, step: number, digits = TOTP_DIGITS): string {
  return generateHOTP(key, BigInt(step), digits);
}

/**
 * The step `code` belongs to, within ±TOTP_SKEW_STEPS of `now` and after `lastUsedStep`; null
 * when it matches none (wrong, too old or too new, or already used).
 */
export function matchTotp(key: Uint8Array, code: string, now: Date, lastUsedStep: number | null): number | null {
  const normalized = code.replace(/\s+/g, '');
  if (!/^\d{6}$/.test(normalized)) return null;
  const current = totpStep(now);
  for (let step = current - TOTP_SKEW_STEPS; step <= current + TOTP_SKEW_STEPS; step += 1) {
    if (lastUsedStep !== null && step <= lastUsedStep) continue;
    if (verifyHOTP(key, BigInt(step), TOTP_DIGITS, normalized)) return step;
  }
  return null;
}

/** The `otpauth://totp/…` URI an authenticator app scans. */
export function totpUri(issuer: string, account: string, key: Uint8Array): string {
  return createTOTPKeyURI(issuer, account, key, TOTP_PERIOD_SECONDS, TOTP_DIGITS);
}

/** The secret as typed by hand into an app: base32, upper case, no padding. */
export function totpSecretText(key: Uint8Array): string {
  return encodeBase32UpperCaseNoPadding(key);
}

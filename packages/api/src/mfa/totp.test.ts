import * as OTPAuth from 'otpauth';
import { describe, expect, it } from 'vitest';
import { matchTotp, newTotpKey, totpCode, totpSecretText, totpStep, totpUri } from './totp.js';

const RFC_KEY = new TextEncoder().encode('12345678901234567890');

describe('TOTP (RFC 6238, SHA-1, 30 s)', () => {
  it.each([
    [59, '94287082'],
    [1111111109, '07081804'],
    [1111111111, '14050471'],
    [1234567890, '89005924'],
    [2000000000, '69279037'],
    [20000000000, '65353130'],
  ])('matches the appendix B vector at T=%i', (seconds, expected) => {
    expect(totpCode(RFC_KEY, totpStep(new Date(seconds * 1000)), 8)).toBe(expected);
  });

  it('accepts codes made by the independent otpauth package, from the URI it is given', () => {
    const key = newTotpKey();
    const uri = totpUri('Gatehouse (example.test)', 'ada@example.test', key);
    const app = OTPAuth.URI.parse(uri);
    expect(app).toBeInstanceOf(OTPAuth.TOTP);
    expect((app as OTPAuth.TOTP).secret.base32).toBe(totpSecretText(key));
    const now = new Date('2026-04-01T09:00:10Z');
    const code = (app as OTPAuth.TOTP).generate({ timestamp: now.getTime() });
    expect(matchTotp(key, code, now, null)).toBe(totpStep(now));
  });

  it('allows one step of skew either side, and no more', () => {
    const key = newTotpKey();
    const now = new Date('2026-04-01T09:00:10Z');
    const step = totpStep(now);
    expect(matchTotp(key, totpCode(key, step - 1), now, null)).toBe(step - 1);
    expect(matchTotp(key, totpCode(key, step + 1), now, null)).toBe(step + 1);
    expect(matchTotp(key, totpCode(key, step - 2), now, null)).toBeNull();
    expect(matchTotp(key, totpCode(key, step + 2), now, null)).toBeNull();
  });

  it('refuses the last used step and every earlier one (replay)', () => {
    const key = newTotpKey();
    const now = new Date('2026-04-01T09:00:10Z');
    const step = totpStep(now);
    expect(matchTotp(key, totpCode(key, step), now, step)).toBeNull();
    expect(matchTotp(key, totpCode(key, step - 1), now, step - 1)).toBeNull();
    expect(matchTotp(key, totpCode(key, step + 1), now, step)).toBe(step + 1);
  });

  it('ignores spaces and refuses anything but six digits', () => {
    const key = newTotpKey();
    const now = new Date('2026-04-01T09:00:10Z');
    const code = totpCode(key, totpStep(now));
    expect(matchTotp(key, `${code.slice(0, 3)} ${code.slice(3)}`, now, null)).toBe(totpStep(now));
    expect(matchTotp(key, `${code}0`, now, null)).toBeNull();
    expect(matchTotp(key, 'abcdef', now, null)).toBeNull();
  });
});

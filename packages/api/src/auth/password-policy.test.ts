import { describe, expect, it } from 'vitest';
import { DomainError } from '../errors.js';
import { assertPasswordPolicy, isCommonPassword, passwordPolicyViolation } from './password-policy.js';

describe('password policy', () => {
  it('accepts a long, uncommon password', async () => {
    expect(await passwordPolicyViolation('violet tractor umbrella 42')).toBeNull();
  });

  it('needs 8 to 256 characters', async () => {
    expect(await passwordPolicyViolation('x7$kQ2!')).toMatch(/at least 8/);
    expect(await passwordPolicyViolation('a'.repeat(257))).toMatch(/at most 256/);
    expect(await passwordPolicyViolation(`${'q'.repeat(200)}z9!${'w'.repeat(53)}`)).toBeNull();
  });

  it('refuses common passwords whatever their case', async () => {
    expect(await isCommonPassword('password1')).toBe(true);
    expect(await isCommonPassword('PassWord1')).toBe(true);
    expect(await passwordPolicyViolation('12345678')).toMatch(/too common/);
    expect(await passwordPolicyViolation('iloveyou')).toMatch(/too common/);
  });

  it('judges the password in the form it is hashed in (Unicode NFKC)', async () => {
    // Full-width "１２３４５６７８" is "12345678" once normalized; 7 letters + combining accents stay 7.
    expect(await passwordPolicyViolation('\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18')).toMatch(/too common/);
    expect(await passwordPolicyViolation('e\u0301te\u0301 ra')).toMatch(/at least 8/);
  });

  it('refuses the email, its local part or the username', async () => {
    const account = { email: 'ada.lovelace@example.com', username: 'countess-ada' };
    expect(await passwordPolicyViolation('ADA.LOVELACE@example.com', account)).toMatch(/email or username/);
    expect(await passwordPolicyViolation('ada.lovelace', account)).toMatch(/email or username/);
    expect(await passwordPolicyViolation('Countess-Ada', account)).toMatch(/email or username/);
  });

  it('throws BAD_REQUEST naming the field', async () => {
    let error: unknown;
    try {
      await assertPasswordPolicy('qwerty123', {}, 'newPassword');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).code).toBe('BAD_REQUEST');
    expect((error as DomainError).details).toEqual({ field: 'newPassword' });
  });
});

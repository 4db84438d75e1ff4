/**
 * Password policy (architecture §5, ASVS 5.0 6.2): 8–256 characters, not a common password, not the
 * account's own email or username. No composition rules (ASVS 6.2.5).
 *
 * The common-password list is `passwords-common` of @zxcvbn-ts/language-common (MIT, maintained
 * by the zxcvbn-ts project; about 49 000 passwords most frequent in public breach corpora). The
 * comparison ignores case, so "Password1" is refused like "password1".
 */
import { dictionary } from '@zxcvbn-ts/language-common';
import { DomainError } from '../errors.js';
import { normalizePassword } from './passwords.js';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../schemas.js';

let common: ReadonlySet<string> | null = null;

function commonPasswords(): ReadonlySet<string> {
  common ??= new Set(dictionary['passwords-common'].map((p) => p.toLowerCase()));
  return common;
}

export function isCommonPassword(password: string): boolean {
  return commonPasswords().has(password.toLowerCase());
}

export interface PasswordContext {
  email?: string | null;
  username?: string | null;
}

/** The reason a password is refused, or null when it meets the policy. */
export function passwordPolicyViolation(typed: string, context: PasswordContext = {}): string | null {
  // Judged in the form it is hashed in, so the length is what is stored and "Ｐａｓｓｗｏｒｄ１" is common.
  const password = normalizePassword(typed);
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) return `Use at least ${PASSWORD_MIN_LENGTH} characters`;
  if (length > PASSWORD_MAX_LENGTH) return `Use at most ${PASSWORD_MAX_LENGTH} characters`;
  if (isCommonPassword(password)) return 'This password is too common: choose another';
  const lower = password.toLowerCase();
  const email = context.email?.toLowerCase();
  const own = [email, email?.split('@')[0], context.username?.toLowerCase()].filter((v): v is string => !!v);
  if (own.includes(lower)) return 'Do not use your email or username as the password';
  return null;
}

/** Throws BAD_REQUEST (with `error.data.field`) when the password breaks the policy. */
export function assertPasswordPolicy(password: string, context: PasswordContext = {}, field = 'password'): void {
  const violation = passwordPolicyViolation(password, context);
  if (violation) throw new DomainError('BAD_REQUEST', 'weak_password', violation, { field });
}

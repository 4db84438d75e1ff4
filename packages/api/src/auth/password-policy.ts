/**
 * Password policy (architecture §5, ASVS 5.0 6.2): 8–256 characters, not a common password, not the
 * account's own email or username. No composition rules (ASVS 6.2.5).
 *
 * The common-password list is `passwords-common` of @zxcvbn-ts/language-common (MIT, maintained
 * by the zxcvbn-ts project; about 49 000 passwords most frequent in public breach corpora). The
 * comparison ignores case, so "Password1" is refused like "password1".
 *
 * The list is imported with the first password judged, not with the server: the package
 * decompresses its dictionaries when it is evaluated (about 2 MB of heap a server that never
 * sets a password would hold for nothing; issue 18).
 */
import { DomainError } from '../errors.js';
import { normalizePassword } from './passwords.js';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../schemas.js';

let common: Promise<ReadonlySet<string>> | null = null;

function commonPasswords(): Promise<ReadonlySet<string>> {
  common ??= import('@zxcvbn-ts/language-common').then(
    ({ dictionary }) => new Set(dictionary['passwords-common'].map((p) => p.toLowerCase())),
    (error: unknown) => {
      common = null; // a failed import is tried again by the next password, not kept
      throw error;
    },
  );
  return common;
}

export async function isCommonPassword(password: string): Promise<boolean> {
  return (await commonPasswords()).has(password.toLowerCase());
}

export interface PasswordContext {
  email?: string | null;
  username?: string | null;
}

/** The reason a password is refused, or null when it meets the policy. */
export async function passwordPolicyViolation(typed: string, context: PasswordContext = {}): Promise<string | null> {
  // Judged in the form it is hashed in, so the length is what is stored and "Ｐａｓｓｗｏｒｄ１" is common.
  const password = normalizePassword(typed);
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) return `Use at least ${PASSWORD_MIN_LENGTH} characters`;
  if (length > PASSWORD_MAX_LENGTH) return `Use at most ${PASSWORD_MAX_LENGTH} characters`;
  if (await isCommonPassword(password)) return 'This password is too common: choose another';
  const lower = password.toLowerCase();
  const email = context.email?.toLowerCase();
  const own = [email, email?.split('@')[0], context.username?.toLowerCase()].filter((v): v is string => !!v);
  if (own.includes(lower)) return 'Do not use your email or username as the password';
  return null;
}

/** Throws BAD_REQUEST (with `error.data.field`) when the password breaks the policy. */
export async function assertPasswordPolicy(
  password: string,
  context: PasswordContext = {},
  field = 'password',
): Promise<void> {
  const violation = await passwordPolicyViolation(password, context);
  if (violation) throw new DomainError('BAD_REQUEST', 'weak_password', violation, { field });
}

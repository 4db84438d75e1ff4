/**
 * MFA_REQUIRED (issue 15): `none` (default), `admins` (recommended) or `all`. A user the policy
 * covers who has no second factor yet gets a session limited to enrolment: the procedures below
 * and nothing else (FORBIDDEN `mfa_enrolment_required`), until a factor is enrolled.
 */
import type { ApiConfig } from '../config.js';
import type { AuthUser } from '../sessions/types.js';
import { DomainError } from '../errors.js';

/** What a session limited to enrolment may still call. */
const ENROLMENT_PROCEDURES = new Set([
  'auth.me',
  'auth.signOut',
  'auth.reauthenticate',
  'mfa.status',
  'mfa.totpBegin',
  'mfa.totpConfirm',
  'mfa.passkeyRegistrationOptions',
  'mfa.passkeyRegister',
]);

/** True when MFA_REQUIRED covers this user and they have no second factor yet. */
export function mustEnrolMfa(
  config: Pick<ApiConfig, 'mfaRequired'>,
  user: Pick<AuthUser, 'role' | 'mfaEnabled' | 'kind'>,
) {
  // A service account never signs in (API keys only): there is no one to enrol a factor.
  if (user.mfaEnabled || user.kind === 'service') return false;
  const policy = config.mfaRequired ?? 'none';
  return policy === 'all' || (policy === 'admins' && user.role === 'admin');
}

/** protectedProcedure's gate: refuses everything but enrolment while `mustEnrolMfa`. */
export function assertEnrolmentGate(
  config: Pick<ApiConfig, 'mfaRequired'>,
  user: Pick<AuthUser, 'role' | 'mfaEnabled' | 'kind'>,
  path: string,
): void {
  if (mustEnrolMfa(config, user) && !ENROLMENT_PROCEDURES.has(path)) {
    throw new DomainError('FORBIDDEN', 'mfa_enrolment_required', 'Set up a second factor first');
  }
}

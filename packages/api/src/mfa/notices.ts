/**
 * The security notices the second factors cause (issue 15 ↔ issue 14): a recovery code used, a
 * factor added or removed, an administrator's reset — and the new-browser sign-in notice for
 * the sign-ins MFA finishes (auth.verifyMfa, auth.signInWithPasskey), by the rule auth.signIn
 * uses. Each is queued in the transaction of the change it reports (the outbox, mail/), only
 * when SECURITY_NOTICES is on and mail is configured, and says which change — never a code, a
 * secret or a credential id.
 */
import type { UserRow } from '@gatehouse/db';
import type { Actor } from '../actor.js';
import { queueNotice } from '../account-tokens/service.js';
import { noticeMail } from '../mail/templates.js';
import type { Services } from '../services.js';
import type { Work } from '../unit-of-work.js';

type NoticeDeps = Pick<Services, 'config' | 'mail' | 'clock'>;
type Recipient = Pick<UserRow, 'email' | 'name'>;

/** What changed, as the notice's sentence says it. */
export const MFA_CHANGES = {
  totp_enabled: 'An authenticator app was set up as a second factor of your account',
  totp_disabled: 'The authenticator app was removed from the second factors of your account',
  recovery_codes_generated: 'New recovery codes were generated for your account (the previous ones no longer work)',
  passkey_registered: 'A passkey was added to your account',
  passkey_deleted: 'A passkey was removed from your account',
} as const;

export type MfaChange = keyof typeof MFA_CHANGES;

/** notice_mfa_changed for `change`, from the actor's browser. */
export function queueMfaChangedNotice(
  deps: NoticeDeps,
  work: Work,
  actor: Actor,
  user: Recipient,
  change: MfaChange,
): Promise<void> {
  return queueNotice(deps, work, () =>
    noticeMail('notice_mfa_changed', user.email, user.name, deps.config.publicOrigin, {
      change: MFA_CHANGES[change],
      ip: actor.ip,
      userAgent: actor.userAgent,
      at: deps.clock.now(),
    }),
  );
}

/** notice_recovery_code_used, with how many codes are left. */
export function queueRecoveryCodeUsedNotice(
  deps: NoticeDeps,
  work: Work,
  actor: Actor,
  user: Recipient,
  remaining: number,
): Promise<void> {
  return queueNotice(deps, work, () =>
    noticeMail('notice_recovery_code_used', user.email, user.name, deps.config.publicOrigin, {
      remaining,
      ip: actor.ip,
      userAgent: actor.userAgent,
      at: deps.clock.now(),
    }),
  );
}

/** notice_mfa_reset: an administrator (or the operator's CLI) removed every factor. */
export function queueMfaResetNotice(deps: NoticeDeps, work: Work, user: Recipient): Promise<void> {
  return queueNotice(deps, work, () =>
    noticeMail('notice_mfa_reset', user.email, user.name, deps.config.publicOrigin, { at: deps.clock.now() }),
  );
}

/**
 * auth.signIn's rule for notice_new_sign_in, for every path that opens a sign-in session: the
 * browser carried no valid device cookie for this account, and it is not the account's first
 * sign-in ever (`user` is the row as read before the sign-in set last_sign_in_at).
 */
export function queueNewSignInNotice(
  deps: NoticeDeps & Pick<Services, 'throttle'>,
  work: Work,
  actor: Actor,
  user: Pick<UserRow, 'id' | 'email' | 'name' | 'last_sign_in_at'>,
  deviceCookie: string | null | undefined,
  at: Date,
): Promise<void> {
  const device = deps.throttle.devices.verify(deviceCookie, user.id);
  if (device || user.last_sign_in_at === null) return Promise.resolve();
  return queueNotice(deps, work, () =>
    noticeMail('notice_new_sign_in', user.email, user.name, deps.config.publicOrigin, {
      ip: actor.ip,
      userAgent: actor.userAgent,
      at,
    }),
  );
}

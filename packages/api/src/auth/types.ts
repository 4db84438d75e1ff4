import type { User } from '../users/mapping.js';
import type { PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';

/** A second factor the sign-in second step (`auth.verifyMfa`) accepts (issue 15). */
export type MfaMethod = 'totp' | 'recovery' | 'passkey';

/**
 * architecture §7 SignInResult. `mfa-required` (issue 15) comes only after the password was right:
 * finish with `auth.verifyMfa { challengeToken, method, … }` within five minutes.
 */
export type SignInResult =
  | { status: 'signed-in'; user: User; token: string; expiresAt: Date }
  | {
      status: 'mfa-required';
      challengeToken: string;
      expiresAt: Date;
      methods: MfaMethod[];
      /** When `methods` includes passkey: the WebAuthn request options for `startAuthentication`. */
      passkeyOptions?: PublicKeyCredentialRequestOptionsJSON;
    };

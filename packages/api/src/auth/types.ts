import type { User } from '../users/mapping.js';

/** design §7 SignInResult. `mfa-required` is part of the contract for clients; no MFA flow issues it yet. */
export type SignInResult =
  | { status: 'signed-in'; user: User; token: string; expiresAt: Date }
  | { status: 'mfa-required'; challengeToken: string; expiresAt: Date };

/** Who is asking, for the audit log and throttling. */
export interface RequestMeta {
  ip: string | null;
  userAgent: string | null;
  /** The device cookie the request carried (throttle/device.ts): sign-in and password change. */
  deviceCookie?: string | null | undefined;
}

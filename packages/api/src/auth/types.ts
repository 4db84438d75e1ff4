import type { User } from '../users/mapping.js';

/** architecture §7 SignInResult. `mfa-required` is part of the contract for clients; no MFA flow issues it yet. */
export type SignInResult =
  | { status: 'signed-in'; user: User; token: string; expiresAt: Date }
  | { status: 'mfa-required'; challengeToken: string; expiresAt: Date };

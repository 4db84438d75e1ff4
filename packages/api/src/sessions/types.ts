import type { Role } from '@gatehouse/db';

/** The signed-in user as the request sees it. Never carries the password hash. */
export interface AuthUser {
  id: string;
  email: string;
  username: string | null;
  name: string;
  role: Role;
  isActive: boolean;
  createdAt: Date;
  updatedAt: Date;
  lastSignInAt: Date | null;
  mfaEnabled: boolean;
}

export interface SessionInfo {
  id: string;
  userId: string;
  createdAt: Date;
  expiresAt: Date;
  lastSeenAt: Date;
  rememberMe: boolean;
  ip: string | null;
  userAgent: string | null;
}

export interface ValidatedSession {
  session: SessionInfo;
  user: AuthUser;
  /** True when this validation moved `expiresAt` forward: a cookie transport must re-set the cookie. */
  renewed: boolean;
}

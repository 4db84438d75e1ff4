/** What the domain services need to know of the server's configuration (architecture §2). */
export interface ApiConfig {
  /** The dashboard's origin: cookie security and the CSRF origin check. */
  publicOrigin: string;
  /** Extra origins allowed to make cookie-authenticated calls. */
  trustedOrigins: readonly string[];
  allowSignup: boolean;
  sessionTtlMs: number;
  sessionRememberTtlMs: number;
  sessionAbsoluteTtlMs: number;
  sessionMaxPerUser: number;
  sessionCleanupIntervalMs: number;
  /** Optional Redis for shared throttling and cross-instance cache invalidation. */
  redisUrl: string | null;
  auditKeyFile: string;
  // ---- email flows (mail/, account-tokens/, invitations/) ----
  /** How mail leaves (SMTP_URL / MAIL_TRANSPORT=log); null: not configured, flows that need mail refuse. */
  mail: MailConfig | null;
  /** REQUIRE_EMAIL_VERIFICATION: users whose address is not verified cannot sign in. */
  requireEmailVerification: boolean;
  /** SECURITY_NOTICES: mail a notice on password change, email change and sign-in from a new device. */
  securityNotices: boolean;
  // ---- issue 15 (MFA) ----
  /**
   * The AES-256 key that encrypts TOTP secrets (created 0600 at first start). Default: `mfa-secret.key`
   * beside AUDIT_KEY_FILE. Back it up with the database: without it no TOTP secret can be read.
   */
  mfaKeyFile?: string | null;
  /** MFA_REQUIRED: who must enrol a second factor before their session may do anything else. */
  mfaRequired?: MfaPolicy;
  // ---- #16 bridges ----
  /**
   * Origins (besides PUBLIC_ORIGIN and TRUSTED_ORIGINS) the forward-auth sign-in redirect may
   * return to afterwards: the apps behind the reverse proxy. Anything else is refused (no open redirect).
   */
  forwardAuthOrigins: readonly string[];
  /** Ed25519 JWT signing keys (JSON, created 0600 on first start; `gatehouse jwt rotate-key`). */
  jwtKeyFile: string;
  /** The tokens' `iss`; null = PUBLIC_ORIGIN's origin. */
  jwtIssuer: string | null;
  /** The `aud` values a token may be minted for; the first is the default. */
  jwtAudiences: readonly string[];
  /** Access token lifetime (default 5 min). */
  jwtTtlMs: number;
  // #19 audit witnesses
  /** AUDIT_WITNESSES: `url=<base URL>;key=<witness verifier key>` entries, comma-separated. */
  auditWitnesses?: string;
  /** AUDIT_WITNESS_POLICY: `<n>` or `<n>:<name>|<name>…` (default 1 when witnesses are set). */
  auditWitnessPolicy?: string;
  // #19 webhooks
  /** WEBHOOK_ALLOWED_HOSTS: hosts, host:port or CIDR ranges webhooks may reach although private/loopback. */
  webhookAllowedHosts?: readonly string[];
  /** WEBHOOK_ALLOW_HTTP: plain http to any public host (default: https only, except allowed hosts). */
  webhookAllowHttp?: boolean;
}

/** Mail delivery (mail/transport.ts). */
export type MailConfig =
  | {
      transport: 'smtp';
      /** smtp:// or smtps://, user and password in it unless `password` is given. */
      url: string;
      /** From SMTP_PASSWORD_FILE: overrides the URL's password. */
      password: string | null;
      from: string;
    }
  /** Development only: mails are written to the log (links included) instead of sent. */
  | { transport: 'log'; from: string };

/** issue 15: MFA_REQUIRED. */
export const MFA_POLICIES = ['none', 'admins', 'all'] as const;
export type MfaPolicy = (typeof MFA_POLICIES)[number];

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export const defaultApiConfig: ApiConfig = {
  publicOrigin: 'http://localhost:3000',
  trustedOrigins: [],
  allowSignup: false,
  sessionTtlMs: 24 * HOUR,
  sessionRememberTtlMs: 30 * DAY,
  sessionAbsoluteTtlMs: 90 * DAY,
  sessionMaxPerUser: 10,
  sessionCleanupIntervalMs: 5 * 60_000,
  redisUrl: null,
  auditKeyFile: './data/audit-signing.key',
  // ---- email flows ----
  mail: null,
  requireEmailVerification: false,
  securityNotices: true,
  // #16 bridges
  forwardAuthOrigins: [],
  jwtKeyFile: './data/jwt-signing.json',
  jwtIssuer: null,
  jwtAudiences: ['gatehouse'],
  jwtTtlMs: 5 * 60_000,
};

/** Origins whose browser requests may carry the session cookie on mutations. */
export function allowedOrigins(config: ApiConfig): Set<string> {
  return new Set([config.publicOrigin, ...config.trustedOrigins].map((o) => new URL(o).origin));
}

/** #16: origins a forward-auth sign-in may return to (the dashboard's, the trusted ones, FORWARD_AUTH_ORIGINS). */
export function returnOrigins(config: ApiConfig): Set<string> {
  return new Set(
    [config.publicOrigin, ...config.trustedOrigins, ...config.forwardAuthOrigins].map((o) => new URL(o).origin),
  );
}

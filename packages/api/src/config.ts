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
  // #19 audit witnesses
  /** AUDIT_WITNESSES: `url=<base URL>;key=<witness verifier key>` entries, comma-separated. */
  auditWitnesses?: string;
  /** AUDIT_WITNESS_POLICY: `<n>` or `<n>:<name>|<name>…` (default 1 when witnesses are set). */
  auditWitnessPolicy?: string;
}

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
};

/** Origins whose browser requests may carry the session cookie on mutations. */
export function allowedOrigins(config: ApiConfig): Set<string> {
  return new Set([config.publicOrigin, ...config.trustedOrigins].map((o) => new URL(o).origin));
}

/** Public audit types (architecture §7 AuditEvent, §8 event types). */

export const AUDIT_EVENT_TYPES = [
  'auth.setup',
  'auth.sign_up',
  'auth.sign_in',
  'auth.sign_in_failed',
  'auth.throttled',
  'auth.sign_out',
  'auth.password_changed',
  'auth.password_change_failed',
  'auth.profile_updated',
  'user.created',
  'user.updated',
  'user.role_changed',
  'user.deactivated',
  'user.reactivated',
  'user.password_set',
  'user.deleted',
  'session.revoked',
  'session.revoked_all',
  'session.evicted',
  'session.expired_cleanup',
  // #17 user import
  'user.imported',
  // ---- email flows (account-tokens/, invitations/) ----
  'auth.password_reset_requested',
  'auth.password_reset',
  'auth.email_verification_requested',
  'auth.email_verified',
  'auth.email_change_requested',
  'auth.email_changed',
  'auth.invitation_accepted',
  'user.invited',
  'user.invitation_resent',
  'user.invitation_revoked',
  'user.reset_link_created',
  // ---- issue 15: second factors and step-up ----
  'auth.mfa_required',
  'auth.mfa_failed',
  'auth.reauthenticated',
  'auth.reauthentication_failed',
  'mfa.totp_enrolment_started',
  'mfa.totp_enabled',
  'mfa.totp_disabled',
  'mfa.recovery_codes_generated',
  'mfa.recovery_code_used',
  'mfa.passkey_registered',
  'mfa.passkey_renamed',
  'mfa.passkey_deleted',
  'mfa.reset',
  // #16 bridges
  'api_key.created',
  'api_key.revoked',
  'api_key.rotated',
  // #19 webhooks
  'webhook.created',
  'webhook.updated',
  'webhook.secret_rotated',
  'webhook.disabled',
  'webhook.enabled',
  'webhook.deleted',
  'webhook.auto_disabled',
] as const;

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

export interface AuditEvent {
  seq: number;
  at: Date;
  type: string;
  actorId: string | null;
  targetId: string | null;
  ip: string | null;
  userAgent: string | null;
  data: Record<string, unknown>;
  /** Lowercase hex SHA-256(0x00 ‖ JCS(event)). */
  leafHash: string;
}

/** What a caller records; seq, time and hash are assigned by the log. */
export interface AuditEventInput {
  type: AuditEventType;
  actorId?: string | null;
  targetId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  /** JSON object; never a password, token or hash (architecture §8). */
  data?: Record<string, unknown>;
}

export interface AuditVerifyResult {
  ok: boolean;
  /** Number of events whose leaf hash was recomputed. */
  checked: number;
  treeSize: number;
  rootHash: string;
  firstInvalidSeq: number | null;
  reason: string | null;
  // #19 audit witnesses
  /** Cosignatures against AUDIT_WITNESS_POLICY, when witnesses are configured. */
  witnesses?: WitnessReport;
}

export interface AuditCheckpointInfo {
  origin: string;
  treeSize: number;
  rootHash: string;
  signedAt: Date;
  /** The C2SP signed note text. */
  note: string;
  /** Signed-note verifier key `<origin>+<key id>+<base64 key>`. */
  publicKey: string;
}

export interface InclusionProofResult {
  leafIndex: number;
  treeSize: number;
  leafHash: string;
  rootHash: string;
  proof: string[];
}

export interface ConsistencyProofResult {
  fromSize: number;
  toSize: number;
  fromRoot: string;
  toRoot: string;
  proof: string[];
}

// #19 audit witnesses
/** What audit.verify says about witnesses (witness/report.ts). */
export interface WitnessReport {
  /** `<n> of <names>` */
  policy: string;
  /** The largest checkpoint size cosigned by enough witnesses, null when none is. */
  witnessedSize: number | null;
  /** The witnesses that cosigned the latest checkpoint. */
  latestCosignedBy: string[];
  /** Signed checkpoints after `witnessedSize` that no quorum of witnesses has seen (yet). */
  unwitnessed: number[];
  /** Forks or rollbacks reported by witnesses, and cosignatures that do not verify. */
  problems: string[];
}

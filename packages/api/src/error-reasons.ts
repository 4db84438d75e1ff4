/**
 * The machine-readable reasons Gatehouse puts in `error.data.reason`. Clients branch on these
 * (with `isGatehouseError(err, code, reason)`), never on `error.message`, which may change freely.
 *
 * Browser-safe: no imports. The client SDK and the dashboard import this list; every
 * `DomainError` the API throws names one of them. Add a reason here before throwing it, and
 * document it in docs/api.md.
 */
export const ERROR_REASONS = [
  // ---- authentication ----
  /** Unknown identifier, wrong password or inactive account: deliberately indistinguishable. */
  'invalid_credentials',
  /** No valid session (none sent, expired, revoked, or the user was deactivated). */
  'unauthenticated',
  /** The current password given to a password change is wrong. */
  'wrong_password',
  /** Too many attempts; `error.data.retryAfterSeconds` says when to try again. */
  'throttled',
  // ---- authorization ----
  /** The caller is signed in but not an administrator. */
  'admin_required',
  /** A cookie-authenticated mutation from an origin that is not allowed (CSRF defence). */
  'cross_origin',
  // ---- setup and sign-up ----
  'already_set_up',
  'signup_closed',
  // ---- accounts ----
  'email_taken',
  'username_taken',
  /** A unique value is taken that is neither email nor username. */
  'already_exists',
  /** The change would leave no active administrator. */
  'last_admin',
  /** The new password breaks the policy (too short, too common, contains the email…). */
  'weak_password',
  /** The new password equals the current one. */
  'password_unchanged',
  // ---- lookups and input ----
  'user_not_found',
  'session_not_found',
  'not_found',
  /** Input that passed the schema but cannot be used (a bad cursor, a tree size beyond the head). */
  'invalid_input',
  /** The input failed schema validation: `error.data.zodError` has the issues. */
  'validation_failed',
  /** The request could not be parsed at all (malformed JSON, transformer meta, batch). */
  'malformed_request',
  /** A batch of more than 10 calls, or with more than one password-hashing call: send them apart. */
  'batch_refused',
  /** Something failed on the server; the message says nothing more on purpose. */
  'internal',
  // ---- email flows (invitations, password reset, email verification and change) ----
  /** The flow needs mail and SMTP_URL is not set: an administrator can create a one-time link instead. */
  'mail_not_configured',
  /** A one-time link that is unknown, expired, already used, replaced by a newer one or for another purpose. */
  'invalid_token',
  /** REQUIRE_EMAIL_VERIFICATION is on and the account's address is not verified yet (a resend is offered). */
  'email_unverified',
  /** An invitation for this address is already pending (resend or revoke it). */
  'invitation_pending',
  // ---- issue 15: second factors and step-up ----
  /** The sign-in (or reauthentication) challenge is unknown, expired, used up or already used: sign in again. */
  'mfa_challenge_invalid',
  /** The TOTP code, recovery code or passkey response is wrong (or a TOTP code was already used). */
  'mfa_invalid_code',
  /** The chosen second factor is not set up for this account. */
  'mfa_method_unavailable',
  /** TOTP is already enabled: disable it before enrolling a new one. */
  'mfa_already_enrolled',
  /** There is no pending TOTP enrolment to confirm (or it needs MFA enabled first). */
  'mfa_not_enrolled',
  /** MFA_REQUIRED applies to this account: enrol a second factor first; nothing else is allowed yet. */
  'mfa_enrolment_required',
  /** A sensitive action needs an authentication within the last 10 minutes: call `auth.reauthenticate`. */
  'reauthentication_required',
  /** The passkey (WebAuthn) response could not be verified. */
  'passkey_invalid',
  // ---- #16 bridges: API keys, service accounts, tokens ----
  /** An API key lacks the scope this procedure needs, or the procedure takes a session only. */
  'scope_required',
  /** The key would carry a scope its owner may not use (members: no users:* or audit:read). */
  'scope_not_allowed',
  /** A service account has no password and cannot sign in (or be given a password). */
  'service_account',
  'api_key_not_found',
  // #19 charts
  /** `audit.activity`: the range ends before it starts, or spans more buckets than allowed (48 hours, 90 days). */
  'activity_range_invalid',
  // #19 webhooks
  /** The webhook URL is not http(s), or its host resolves to a private/loopback/reserved address not in WEBHOOK_ALLOWED_HOSTS, or plain http to a public host. */
  'webhook_url_refused',
  'webhook_not_found',
  // #19 receipts
  /** The event is newer than the latest signed checkpoint and the log could not sign one now. */
  'not_yet_checkpointed',
  /** The stored event or tree does not match the signed checkpoint: no receipt can be given (run audit.verify). */
  'receipt_unavailable',
] as const;

export type ErrorReason = (typeof ERROR_REASONS)[number];

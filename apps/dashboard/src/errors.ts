import { isGatehouseError, TRPCClientError, type ErrorReason, type GatehouseErrorData } from '@gatehouse/client';

export type FieldErrors = Record<string, string>;

const FIELD_WORDS: Record<string, string> = {
  email: 'email address',
  username: 'username',
  name: 'name',
  identifier: 'email or username',
};

function seconds(n: number): string {
  if (n < 60) return `${n} second${n === 1 ? '' : 's'}`;
  const minutes = Math.ceil(n / 60);
  return `${minutes} minute${minutes === 1 ? '' : 's'}`;
}

type Sentence = string | ((data: GatehouseErrorData) => string);

/**
 * What the dashboard says for each reason the server gives (`error.data.reason`). The words are
 * the dashboard's own: it never shows or compares the server's message, which is free to change.
 * Every reason has an entry, so a reason added to the API fails this file's typecheck until the
 * dashboard knows what to say.
 */
const SENTENCES: Record<ErrorReason, Sentence> = {
  invalid_credentials: 'That email or username and password do not match.',
  unauthenticated: 'Your session has ended. Sign in again.',
  wrong_password: 'The current password is not correct.',
  throttled: ({ retryAfterSeconds }) =>
    retryAfterSeconds !== null
      ? `Too many attempts. Wait ${seconds(retryAfterSeconds)} and try again.`
      : 'Too many attempts. Wait a little and try again.',
  admin_required: 'You do not have permission to do that.',
  cross_origin: 'The request was refused because it did not come from this dashboard’s own address.',
  already_set_up: 'Gatehouse has already been set up. Sign in with your account.',
  signup_closed: 'Creating an account yourself is not enabled on this server.',
  email_taken: 'That email address is already in use.',
  username_taken: 'That username is already in use.',
  already_exists: ({ field }) =>
    field ? `That ${FIELD_WORDS[field] ?? field} is already in use.` : 'That already exists. Reload and try again.',
  last_admin:
    'This is the last active administrator, so that is not possible: make another user an administrator first.',
  weak_password:
    'Choose a stronger password: at least 8 characters, not a common password, your email or your username.',
  password_unchanged: 'Choose a password different from the current one.',
  user_not_found: 'That user could not be found. They may have been deleted already.',
  session_not_found: 'That session could not be found. It may have ended already.',
  not_found: 'That could not be found. It may have been removed already.',
  invalid_input: 'Those details were not accepted. Check them and try again.',
  validation_failed: 'Some of the details are not valid. Check the highlighted fields.',
  malformed_request: 'The server could not read the request. Reload the page and try again.',
  batch_refused: 'The server refused the request. Reload the page and try again.',
  internal: 'Something went wrong on the server. Try again in a moment.',
  // ---- email flows ----
  mail_not_configured: 'This server cannot send mail. Ask an administrator for a one-time link instead.',
  invalid_token:
    'This link is not valid any more: it has expired, was already used or a newer one was sent. Ask for a new one.',
  email_unverified:
    'Verify your email address first: follow the link in the mail we sent you, or send a new one below.',
  invitation_pending: 'That address already has a pending invitation. Resend or revoke it in the invitations list.',
  // ---- issue 15: second factors and step-up ----
  mfa_challenge_invalid: 'This sign-in attempt has expired. Sign in again.',
  mfa_invalid_code: 'That code is not correct. Check it and try again.',
  mfa_method_unavailable: 'That second factor is not set up for this account.',
  mfa_already_enrolled: 'An authenticator app is already set up. Turn it off first to set up another.',
  mfa_not_enrolled: 'Set up a second factor first.',
  mfa_enrolment_required: 'This server requires a second factor for your account. Set one up to continue.',
  reauthentication_required: 'For your security, confirm it is you before doing that.',
  passkey_invalid: 'The passkey could not be verified. Try again, or use another way to sign in.',
  // #16 bridges
  scope_required: 'This API key may not do that: it lacks the scope, or the action needs a signed-in session.',
  scope_not_allowed: 'The key’s owner may not use one of those scopes: choose fewer.',
  service_account: 'A service account has no password and cannot sign in: give it an API key instead.',
  api_key_not_found: 'That API key no longer exists.',
  // #19 charts
  activity_range_invalid:
    'That range is too long for the chart (at most 48 hours or 90 days) or ends before it starts.',
  // #19 webhooks
  webhook_url_refused:
    'That URL cannot receive webhooks: use an https address on the public internet (private, loopback and link-local addresses are refused unless the operator allows them in WEBHOOK_ALLOWED_HOSTS).',
  webhook_not_found: 'That webhook no longer exists.',
  // #19 receipts
  not_yet_checkpointed: 'This event is not covered by a signed checkpoint yet. Try again in a few seconds.',
  receipt_unavailable:
    'The audit log does not match its signed checkpoint, so no receipt can be given. Tell an administrator.',
};

function say(data: GatehouseErrorData): string {
  // `as` only for a server older than the reasons (data.reason missing): the generic sentence.
  const sentence = SENTENCES[data.reason] as Sentence | undefined;
  if (sentence === undefined) return 'Something went wrong. Try again in a moment.';
  return typeof sentence === 'function' ? sentence(data) : sentence;
}

/** A sentence a person understands, for any error a call can end with. */
export function errorMessage(error: unknown): string {
  if (isGatehouseError(error)) return say(error.data);
  // A call the server did not answer (no error data): the network, or the server is down.
  if (error instanceof TRPCClientError) return 'The server could not be reached. Check your connection and try again.';
  return 'Something went wrong. Try again in a moment.';
}

/**
 * Field-level messages the server sent back: the validation issues of the API's own schemas, or
 * — for an error about one field (a taken email, a wrong current password) — the sentence of its
 * reason beside that field.
 */
export function serverFieldErrors(error: unknown): FieldErrors {
  if (!isGatehouseError(error)) return {};
  const out: FieldErrors = {};
  const fieldErrors = error.data.zodError?.fieldErrors ?? {};
  for (const [key, messages] of Object.entries(fieldErrors)) {
    const first = messages?.[0];
    if (first) out[key] = first;
  }
  const field = error.data.field;
  // Beside a field, a sentence reads like the schema's own messages: without the full stop.
  if (field && !out[field]) out[field] = say(error.data).replace(/\.$/, '');
  return out;
}

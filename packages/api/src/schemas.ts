/**
 * Input schemas of every procedure (architecture §7). This module imports nothing but zod, so the
 * dashboard validates its forms with exactly these schemas (`@gatehouse/api/schemas`) without
 * pulling server code into the browser.
 */
import { z } from 'zod';

// The audit event types (a plain list, no server code) for filters and labels in browsers.
export { AUDIT_EVENT_TYPES, type AuditEventType } from './audit/types.js';
// #16: the API key scopes (a plain list).
import { API_KEY_SCOPES } from './api-keys/scope-list.js';

export const ROLES = ['admin', 'member'] as const;
const roleSchema = z.enum(ROLES);

export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 256;

/** Length only: the common-password and "not your email" rules need context (auth/password-policy). */
const passwordSchema = z
  .string()
  .min(PASSWORD_MIN_LENGTH, `Use at least ${PASSWORD_MIN_LENGTH} characters`)
  .max(PASSWORD_MAX_LENGTH, `Use at most ${PASSWORD_MAX_LENGTH} characters`);

/** Emails are trimmed and lower-cased, so uniqueness and sign-in ignore case. */
export const emailSchema = z
  .string()
  .trim()
  .max(254, 'That email is too long')
  .pipe(z.email('Enter a valid email address'))
  .transform((email) => email.toLowerCase());

export const usernameSchema = z
  .string()
  .trim()
  .min(3, 'Use at least 3 characters')
  .max(32, 'Use at most 32 characters')
  .regex(/^[a-zA-Z0-9_.-]+$/, 'Use letters, digits, dot, dash and underscore only')
  .refine((u) => !u.includes('@'), 'A username cannot contain @');

/**
 * Control characters (NUL cannot be stored by PostgreSQL at all) and unpaired UTF-16 surrogates
 * (not valid Unicode: neither database stores them exactly) have no place in names or searches.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSTORABLE_TEXT = /[\u0000-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const storableText = (text: string) => !UNSTORABLE_TEXT.test(text);

export const nameSchema = z
  .string()
  .trim()
  .min(1, 'Enter a name')
  .max(100, 'Use at most 100 characters')
  .refine(storableText, 'Use printable characters only');

const idSchema = z.string().min(1).max(128);
const userIdSchema = z.uuid('Not a valid user id');

export const newAccountInput = z.object({
  email: emailSchema,
  username: usernameSchema.optional(),
  name: nameSchema,
  password: passwordSchema,
});

export const signInInput = z.object({
  identifier: z.string().trim().min(1, 'Enter your email or username').max(254),
  // Not the policy: an old password that no longer meets it must still be checked, not rejected.
  password: z.string().min(1, 'Enter your password').max(PASSWORD_MAX_LENGTH),
  rememberMe: z.boolean().optional(),
});

export const changePasswordInput = z.object({
  currentPassword: z.string().min(1, 'Enter your current password').max(PASSWORD_MAX_LENGTH),
  newPassword: passwordSchema,
});

export const updateProfileInput = z.object({
  name: nameSchema.optional(),
  email: emailSchema.optional(),
  /** `null` removes the username. */
  username: usernameSchema.nullable().optional(),
});

export const userListInput = z
  .object({
    limit: z.number().int().min(1).max(100).default(20),
    cursor: z.string().max(512).nullish(),
    search: z.string().trim().max(100).refine(storableText, 'Use printable characters only').optional(),
    role: roleSchema.optional(),
    status: z.enum(['active', 'inactive']).optional(),
  })
  .default({ limit: 20 });

export const userCreateInput = newAccountInput.extend({ role: roleSchema.default('member') });

export const userUpdateInput = z.object({
  id: userIdSchema,
  name: nameSchema.optional(),
  email: emailSchema.optional(),
  username: usernameSchema.nullable().optional(),
  role: roleSchema.optional(),
  isActive: z.boolean().optional(),
});

export const userSetPasswordInput = z.object({ id: userIdSchema, newPassword: passwordSchema });
export const userIdInput = z.object({ id: userIdSchema });
/** An id, email or username, matched exactly under the sign-in rule (`user.byIdentifier`). */
export const userIdentifierInput = z.object({
  identifier: z
    .string()
    .trim()
    .min(1, 'Enter an id, email or username')
    .max(254)
    .refine(storableText, 'Use printable characters only'),
});
export const forUserInput = z.object({ userId: userIdSchema });
export const sessionIdInput = z.object({ id: idSchema });

const seqSchema = z.number().int().min(1);

export const auditListInput = z
  .object({
    limit: z.number().int().min(1).max(200).default(50),
    cursor: z.string().max(64).nullish(),
    // #19 charts: one type, or any of a list (a chart bar's series)
    type: z.union([z.string().max(64), z.array(z.string().max(64)).min(1).max(20)]).optional(),
    actorId: idSchema.optional(),
    targetId: idSchema.optional(),
    since: z.date().optional(),
    until: z.date().optional(),
  })
  .default({ limit: 50 });

export const auditInclusionProofInput = z.object({ seq: seqSchema, treeSize: z.number().int().min(1).optional() });
export const auditConsistencyProofInput = z.object({
  fromSize: z.number().int().min(1),
  toSize: z.number().int().min(1).optional(),
});
export const auditEventsInput = z.object({ afterSeq: z.number().int().min(0).optional() }).optional();

// #17 user import: the id a user had in the backend they were imported from.
export const userExternalIdInput = z.object({ externalId: z.string().trim().min(1, 'Enter the old id').max(128) });
// ---- email flows (invitations, password reset, email verification and change) ----

/** A one-time link's token (`<id>.<secret>`); anything else is refused as `invalid_token` by the service. */
const accountTokenSchema = z.string().trim().min(1, 'The link has no token').max(200);

export const requestPasswordResetInput = z.object({ email: emailSchema });
export const resetPasswordInput = z.object({ token: accountTokenSchema, newPassword: passwordSchema });
/** Signed in: no input (one's own address). Signed out: the address to resend to. */
export const requestEmailVerificationInput = z.object({ email: emailSchema.optional() }).optional();
export const accountTokenInput = z.object({ token: accountTokenSchema });
export const acceptInvitationInput = z.object({
  token: accountTokenSchema,
  password: passwordSchema,
  username: usernameSchema.optional(),
});
export const userInviteInput = z.object({ email: emailSchema, name: nameSchema, role: roleSchema.default('member') });
export const invitationIdInput = z.object({ id: z.string().regex(/^[a-z2-7]{32}$/, 'Not a valid invitation id') });
export const invitationListInput = z
  .object({ status: z.enum(['pending', 'accepted', 'revoked', 'expired']).optional() })
  .default({});
export const mailStatusInput = z.object({ limit: z.number().int().min(1).max(100).default(20) }).default({ limit: 20 });
// ---- issue 15: second factors and step-up ----

const b64url = z
  .string()
  .max(16_384)
  .regex(/^[A-Za-z0-9_-]*={0,2}$/, 'Not base64url');
const clientExtensionResults = z
  .object({
    appid: z.boolean().optional(),
    credProps: z.object({ rk: z.boolean().optional() }).optional(),
    hmacCreateSecret: z.boolean().optional(),
  })
  .default({});
const authenticatorAttachment = z.enum(['platform', 'cross-platform']).optional();

/** A WebAuthn assertion as `@simplewebauthn/browser`'s `startAuthentication` returns it. */
const passkeyAssertionSchema = z.object({
  id: b64url.min(1).max(1024),
  rawId: b64url.min(1).max(1024),
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: b64url,
    authenticatorData: b64url,
    signature: b64url,
    userHandle: b64url.optional(),
  }),
  authenticatorAttachment,
  clientExtensionResults,
});

/** A WebAuthn attestation as `startRegistration` returns it. */
const passkeyAttestationSchema = z.object({
  id: b64url.min(1).max(1024),
  rawId: b64url.min(1).max(1024),
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: b64url,
    attestationObject: b64url,
    authenticatorData: b64url.optional(),
    transports: z.array(z.string().max(32)).max(10).optional(),
    publicKeyAlgorithm: z.number().int().optional(),
    publicKey: b64url.optional(),
  }),
  authenticatorAttachment,
  clientExtensionResults,
});

const mfaCode = z.string().trim().min(1, 'Enter the code').max(64);
const challengeToken = z.string().min(1).max(200);

export const verifyMfaInput = z.discriminatedUnion('method', [
  z.object({ challengeToken, method: z.literal('totp'), code: mfaCode }),
  z.object({ challengeToken, method: z.literal('recovery'), code: mfaCode }),
  z.object({ challengeToken, method: z.literal('passkey'), response: passkeyAssertionSchema }),
]);

export const reauthenticateInput = z.discriminatedUnion('method', [
  z.object({
    method: z.literal('password'),
    password: z.string().min(1, 'Enter your password').max(PASSWORD_MAX_LENGTH),
  }),
  z.object({ method: z.literal('totp'), code: mfaCode }),
  z.object({ method: z.literal('passkey'), challengeToken, response: passkeyAssertionSchema }),
]);

export const mfaCodeInput = z.object({ code: mfaCode });
const passkeyNameSchema = z
  .string()
  .trim()
  .min(1, 'Enter a name')
  .max(64, 'Use at most 64 characters')
  .refine(storableText, 'Use printable characters only');
export const passkeyRegisterInput = z.object({
  challengeToken,
  name: passkeyNameSchema,
  response: passkeyAttestationSchema,
});
export const passkeyIdInput = z.object({ id: z.string().min(1).max(1024) });
export const passkeyRenameInput = z.object({ id: z.string().min(1).max(1024), name: passkeyNameSchema });
export const signInWithPasskeyInput = z.object({
  challengeToken,
  response: passkeyAssertionSchema,
  rememberMe: z.boolean().optional(),
});
// ---- #16 bridges: API keys and service accounts ----------------------------------------------

export { API_KEY_SCOPES, type ApiKeyScope } from './api-keys/scope-list.js';

const apiKeyIdSchema = z.string().regex(/^[a-z2-7]{16}$/, 'Not a valid API key id');

export const apiKeyCreateInput = z.object({
  name: z.string().trim().min(1, 'Name the key').max(100).refine(storableText, 'Use printable characters only'),
  scopes: z.array(z.enum(API_KEY_SCOPES)).min(1, 'Choose at least one scope').max(API_KEY_SCOPES.length),
  expiresAt: z.date().nullish(),
  /** A service account's id (administrators only); default: yourself. */
  ownerId: userIdSchema.optional(),
});
export const apiKeyListInput = z.object({ ownerId: userIdSchema.optional() }).optional();
export const apiKeyIdInput = z.object({ id: apiKeyIdSchema });
export const apiKeyRotateInput = z.object({
  id: apiKeyIdSchema,
  /** How long the old key keeps working: 0 (now) to 30 days; default 1 day. */
  graceSeconds: z
    .number()
    .int()
    .min(0)
    .max(30 * 24 * 3600)
    .default(24 * 3600),
});
export const serviceAccountCreateInput = z.object({ name: nameSchema, role: roleSchema.default('member') });
export const authTokenInput = z.object({ audience: z.string().trim().min(1).max(200).optional() }).optional();

// #19 charts: activity counts per hour or day (audit/activity.ts)
export const auditActivityInput = z.object({
  interval: z.enum(['hour', 'day']),
  // Within what both databases store as a timestamp (PostgreSQL refuses years before 4713 BC).
  from: z.date().min(new Date('1970-01-01T00:00:00.000Z')).max(new Date('9999-01-01T00:00:00.000Z')).optional(),
  to: z.date().min(new Date('1970-01-01T00:00:00.000Z')).max(new Date('9999-01-01T00:00:00.000Z')).optional(),
  /** Minutes east of UTC (`-new Date().getTimezoneOffset()`); UTC offsets run from −12:00 to +14:00. */
  tzOffsetMinutes: z.number().int().min(-720).max(840).optional(),
});
// #19 webhooks ------------------------------------------------------------------------------------

const webhookIdSchema = z.string().regex(/^wh_[a-z2-7]{16}$/, 'Not a valid webhook id');
/** The SSRF guard (webhooks/ssrf.ts) parses and checks it further: `webhook_url_refused`. */
const webhookUrlSchema = z
  .string()
  .trim()
  .min(1, 'Enter the URL')
  .max(2000)
  .regex(/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s]+$/, 'Enter a full URL like https://hooks.example.com/gatehouse');
/** Audit event types (`auth.sign_in`), prefixes (`auth.*`) or `*`: checked against AUDIT_EVENT_TYPES by the service. */
const webhookEventsSchema = z
  .array(
    z
      .string()
      .trim()
      .min(1)
      .max(100)
      .regex(/^(\*|[a-z_]+\.(\*|[a-z_]+))$/, 'Not an event type or prefix'),
  )
  .min(1, 'Choose at least one event')
  .max(100);
const webhookDescriptionSchema = z.string().trim().max(200).refine(storableText, 'Use printable characters only');

export const webhookCreateInput = z.object({
  url: webhookUrlSchema,
  events: webhookEventsSchema,
  description: webhookDescriptionSchema.optional(),
  /** Deliver from this audit seq (at most 10 000 events back); default: only new events. */
  fromSeq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
});
export const webhookIdInput = z.object({ id: webhookIdSchema });
export const webhookUpdateInput = z.object({
  id: webhookIdSchema,
  url: webhookUrlSchema.optional(),
  events: webhookEventsSchema.optional(),
  description: webhookDescriptionSchema.optional(),
});
export const webhookDeliveriesInput = z.object({
  id: webhookIdSchema,
  cursor: z.string().max(20).nullish(),
  limit: z.number().int().min(1).max(100).optional(),
});
// #19 receipts
export const auditMyHistoryInput = z
  .object({ limit: z.number().int().min(1).max(100).default(25), cursor: z.string().max(64).nullish() })
  .default({ limit: 25 });
export const auditMyReceiptInput = z.object({ seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER) });

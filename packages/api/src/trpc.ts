import { initTRPC, TRPCError } from '@trpc/server';
import { ForeignKeyViolationError, UniqueViolationError } from '@gatehouse/db';
import { allowedOrigins } from './config.js';
import type { AuthedContext, Context } from './context.js';
import { asUser } from './actor.js';
import { DomainError, unauthenticated } from './errors.js';
import { requireAdmin } from './users/authorize.js';
import { transformer } from './transformer.js';
import type { ErrorReason } from './error-reasons.js';
import { authenticate } from './sessions/authenticate.js';
import { assertEnrolmentGate } from './mfa/policy.js';
// #16 bridges
import { requireScope } from './api-keys/scopes.js';

interface ValidationIssue {
  code?: string;
  path: PropertyKey[];
  message: string;
}

function validationIssues(cause: unknown): ValidationIssue[] | null {
  if (typeof cause !== 'object' || cause === null || !('issues' in cause)) return null;
  const { issues } = cause;
  return Array.isArray(issues) ? (issues as ValidationIssue[]) : null;
}

/** zod's `flattenError` shape plus the raw issues, built from any Standard Schema failure. */
function describeValidationError(issues: ValidationIssue[]) {
  const fieldErrors: Record<string, string[]> = {};
  const formErrors: string[] = [];
  for (const issue of issues) {
    const key = issue.path.map(String).join('.');
    if (key === '') formErrors.push(issue.message);
    else (fieldErrors[key] ??= []).push(issue.message);
  }
  return {
    formErrors,
    fieldErrors,
    issues: issues.map((i) => ({ code: i.code ?? 'invalid', path: i.path.map(String), message: i.message })),
  };
}

/** The reason of an error no domain code named: derived from the tRPC code alone. */
const reasonByCode: Partial<Record<TRPCError['code'], ErrorReason>> = {
  PARSE_ERROR: 'malformed_request',
  BAD_REQUEST: 'invalid_input',
  UNAUTHORIZED: 'unauthenticated',
  NOT_FOUND: 'not_found',
  CONFLICT: 'already_exists',
  TOO_MANY_REQUESTS: 'throttled',
};

/**
 * A parse or transformer failure: PARSE_ERROR, or a BAD_REQUEST that is neither schema
 * validation nor a deliberate DomainError (malformed JSON, superjson meta, a bad batch). Its
 * message is the library's or the engine's: never sent (issue 13), a fixed one instead.
 */
function isMalformed(error: TRPCError, isValidation: boolean): boolean {
  if (error.code === 'PARSE_ERROR') return true;
  return error.code === 'BAD_REQUEST' && !isValidation && !(error.cause instanceof DomainError);
}

function reasonOf(error: TRPCError, isValidation: boolean): ErrorReason {
  if (error.cause instanceof DomainError) return error.cause.reason;
  if (isValidation) return 'validation_failed';
  if (isMalformed(error, isValidation)) return 'malformed_request';
  return reasonByCode[error.code] ?? 'internal';
}

/** The `error.data.reason` the formatter sends for this error (the test helper `trpcError` uses it too). */
export function errorReason(error: TRPCError): ErrorReason {
  const issues = error.code === 'BAD_REQUEST' ? validationIssues(error.cause) : null;
  return reasonOf(error, issues !== null);
}

function messageOf(error: TRPCError, isValidation: boolean, message: string): string {
  // Never leak driver or library messages of unexpected failures.
  if (error.code === 'INTERNAL_SERVER_ERROR') return 'Internal server error';
  if (isValidation) return 'Invalid input';
  if (isMalformed(error, isValidation)) return 'Malformed request';
  return message;
}

const t = initTRPC.context<Context>().create({
  // superjson's wire format, written faster for plain data (transformer.ts).
  transformer,
  // Stack traces only in development: production errors carry the code and message alone.
  isDev: process.env.NODE_ENV === 'development',
  sse: { ping: { enabled: true, intervalMs: 15_000 }, client: { reconnectAfterInactivityMs: 30_000 } },
  errorFormatter({ shape, error }) {
    const issues = error.code === 'BAD_REQUEST' ? validationIssues(error.cause) : null;
    const details = error.cause instanceof DomainError ? error.cause.details : {};
    return {
      ...shape,
      message: messageOf(error, issues !== null, shape.message),
      data: {
        ...shape.data,
        /** Machine-readable: one of ERROR_REASONS (error-reasons.ts). Branch on this, not on the message. */
        reason: reasonOf(error, issues !== null),
        zodError: issues ? describeValidationError(issues) : null,
        retryAfterSeconds: typeof details.retryAfterSeconds === 'number' ? details.retryAfterSeconds : null,
        field: typeof details.field === 'string' ? details.field : null,
      },
    };
  },
});

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

/** Turns the domain's deliberate errors into tRPC errors with the matching code. */
const mapDomainErrors = t.middleware(async ({ next }) => {
  const result = await next();
  if (result.ok) return result;
  const cause = result.error.cause;
  if (cause instanceof DomainError) {
    throw new TRPCError({ code: cause.code, message: cause.message, cause });
  }
  if (cause instanceof UniqueViolationError) {
    const field = cause.field;
    throw new TRPCError({
      code: 'CONFLICT',
      message: field ? `That ${field} is already taken` : 'Already exists',
      cause: new DomainError(
        'CONFLICT',
        field === 'email' ? 'email_taken' : field === 'username' ? 'username_taken' : 'already_exists',
        'Already exists',
        field ? { field } : {},
      ),
    });
  }
  if (cause instanceof ForeignKeyViolationError) {
    throw new TRPCError({
      code: 'NOT_FOUND',
      message: 'Referenced record not found',
      cause: new DomainError('NOT_FOUND', 'not_found', 'Referenced record not found'),
    });
  }
  return result;
});

/**
 * CSRF defence (architecture §3): a browser mutation must come from an allowed origin. Bearer calls
 * carry no ambient credentials and are exempt; cookie calls must send a matching Origin.
 */
const checkOrigin = t.middleware(({ ctx, type, next }) => {
  if (type === 'mutation' && ctx.req.tokenSource !== 'bearer') {
    const origin = ctx.req.origin;
    const allowed = origin !== null && allowedOrigins(ctx.services.config).has(origin);
    const cookieWithoutOrigin = ctx.req.tokenSource === 'cookie' && origin === null;
    if ((origin !== null && !allowed) || cookieWithoutOrigin) {
      const cause = new DomainError('FORBIDDEN', 'cross_origin', 'Cross-origin request refused');
      throw new TRPCError({ code: 'FORBIDDEN', message: cause.message, cause });
    }
  }
  return next();
});

export const publicProcedure = t.procedure.use(mapDomainErrors).use(checkOrigin);

/** Any signed-in user: validates the session token (sliding its expiry) on every call. */
export const protectedProcedure = publicProcedure.use(async ({ ctx, next, path }) => {
  const { token, tokenSource } = ctx.req;
  const auth = await authenticate(ctx.services, token, tokenSource);
  if (!auth) {
    if (tokenSource === 'cookie') ctx.res.clearSessionCookie();
    const cause = unauthenticated();
    throw new TRPCError({ code: 'UNAUTHORIZED', message: cause.message, cause });
  }
  // #16: an API key reaches only the procedures its scopes name (api-keys/scopes.ts).
  if (auth.apiKey) {
    try {
      requireScope(auth.apiKey.scopes, path);
    } catch (cause) {
      if (!(cause instanceof DomainError)) throw cause;
      throw new TRPCError({ code: cause.code, message: cause.message, cause });
    }
  }
  if (auth.renewed && tokenSource === 'cookie' && token) ctx.res.setSessionCookie(token, auth.session.expiresAt);
  // issue 15: MFA_REQUIRED limits the session of a user without a factor to enrolment.
  try {
    assertEnrolmentGate(ctx.services.config, auth.user, path);
  } catch (cause) {
    if (cause instanceof DomainError) throw new TRPCError({ code: cause.code, message: cause.message, cause });
    throw cause;
  }
  return next({ ctx: { ...ctx, auth, actor: asUser(ctx.actor, auth.user.id) } satisfies AuthedContext });
});

/**
 * Admins only (users `requireAdmin`). The role is read from the database on every call, so a
 * demotion or deactivation takes effect on the very next request, whatever any cache holds;
 * role-sensitive writes check again inside their transaction.
 */
export const adminProcedure = protectedProcedure.use(async ({ ctx, next }) => {
  await requireAdmin(ctx.services, ctx.actor);
  return next({ ctx: { ...ctx, auth: { ...ctx.auth, user: { ...ctx.auth.user, role: 'admin' as const } } } });
});

import type { TRPC_ERROR_CODE_KEY } from '@trpc/server';
import type { ErrorReason } from './error-reasons.js';

/**
 * Errors the domain services throw on purpose. Routers don't catch them one by one: the base
 * procedure turns each into the TRPCError with the same code, and the error formatter puts the
 * `reason` (one of ERROR_REASONS) into `error.data.reason` (see trpc.ts). Clients branch on the
 * reason; the message is for people and may change.
 */
export type DomainErrorCode = Extract<
  TRPC_ERROR_CODE_KEY,
  'BAD_REQUEST' | 'UNAUTHORIZED' | 'FORBIDDEN' | 'NOT_FOUND' | 'CONFLICT' | 'PRECONDITION_FAILED' | 'TOO_MANY_REQUESTS'
>;

export class DomainError extends Error {
  override readonly name = 'DomainError';
  constructor(
    readonly code: DomainErrorCode,
    readonly reason: ErrorReason,
    message: string,
    /** Extra fields exposed in `error.data` (e.g. `retryAfterSeconds`, `field`). */
    readonly details: Readonly<Record<string, string | number>> = {},
  ) {
    super(message);
  }
}

export const invalidCredentials = () => new DomainError('UNAUTHORIZED', 'invalid_credentials', 'Invalid credentials');
export const unauthenticated = () => new DomainError('UNAUTHORIZED', 'unauthenticated', 'Sign in first');
export const notFound = (what: string, reason: ErrorReason = 'not_found') =>
  new DomainError('NOT_FOUND', reason, `${what} not found`);
export const tooManyRequests = (retryAfterSeconds: number) =>
  new DomainError('TOO_MANY_REQUESTS', 'throttled', `Too many attempts: try again in ${retryAfterSeconds} s`, {
    retryAfterSeconds,
  });

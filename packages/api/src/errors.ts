import type { TRPC_ERROR_CODE_KEY } from '@trpc/server';

/**
 * Errors the domain services throw on purpose. Routers don't catch them one by one: the base
 * procedure turns each into the TRPCError with the same code (see trpc.ts).
 */
export type DomainErrorCode = Extract<
  TRPC_ERROR_CODE_KEY,
  'BAD_REQUEST' | 'UNAUTHORIZED' | 'FORBIDDEN' | 'NOT_FOUND' | 'CONFLICT' | 'PRECONDITION_FAILED' | 'TOO_MANY_REQUESTS'
>;

export class DomainError extends Error {
  override readonly name = 'DomainError';
  constructor(
    readonly code: DomainErrorCode,
    message: string,
    /** Extra fields exposed in `error.data` (e.g. `retryAfterSeconds`, `field`). */
    readonly details: Readonly<Record<string, string | number>> = {},
  ) {
    super(message);
  }
}

export const invalidCredentials = () => new DomainError('UNAUTHORIZED', 'Invalid credentials');
export const notFound = (what: string) => new DomainError('NOT_FOUND', `${what} not found`);
export const tooManyRequests = (retryAfterSeconds: number) =>
  new DomainError('TOO_MANY_REQUESTS', `Too many attempts: try again in ${retryAfterSeconds} s`, {
    retryAfterSeconds,
  });

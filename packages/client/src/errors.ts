import { TRPCClientError } from '@trpc/client';
import type { TRPC_ERROR_CODE_KEY } from '@trpc/server';
import type { AppRouter, ErrorReason } from './types.js';

/** A tRPC error code: 'BAD_REQUEST', 'UNAUTHORIZED', 'FORBIDDEN', 'NOT_FOUND', 'CONFLICT', … */
export type GatehouseErrorCode = TRPC_ERROR_CODE_KEY;

/**
 * `error.data` of an error the server answered: `code`, `httpStatus`, `path`, plus Gatehouse's
 * `reason` (machine-readable, one of {@link ErrorReason}), `zodError` (validation issues, on
 * BAD_REQUEST), `retryAfterSeconds` (TOO_MANY_REQUESTS) and `field` (which field an error is about).
 */
export type GatehouseErrorData = NonNullable<TRPCClientError<AppRouter>['data']>;

/**
 * A TRPCClientError the server answered, with typed `data` (its `code` narrowed to `C` and its
 * `reason` to `R` when given).
 */
export type GatehouseError<
  C extends GatehouseErrorCode = GatehouseErrorCode,
  R extends ErrorReason = ErrorReason,
> = TRPCClientError<AppRouter> & {
  readonly data: GatehouseErrorData & { readonly code: C; readonly reason: R };
};

function isTRPCClientError(err: unknown): err is TRPCClientError<AppRouter> {
  // `instanceof` fails when two copies of @trpc/client are loaded; the name still tells.
  return err instanceof TRPCClientError || (err instanceof Error && err.name === 'TRPCClientError');
}

/**
 * True when `err` is an error answered by a Gatehouse server (not a network failure), and — when
 * `code` and/or `reason` are given — one with that code and reason. Narrows `err.data`.
 *
 * Branch on the reason, never on `err.message` (which is for people and may change):
 *
 * ```ts
 * if (isGatehouseError(err, 'TOO_MANY_REQUESTS')) wait(err.data.retryAfterSeconds);
 * if (isGatehouseError(err, 'CONFLICT', 'last_admin')) say('Promote someone else first');
 * if (isGatehouseError(err, undefined, 'email_taken')) markField(err.data.field);
 * ```
 */
export function isGatehouseError<
  C extends GatehouseErrorCode = GatehouseErrorCode,
  R extends ErrorReason = ErrorReason,
>(err: unknown, code?: C, reason?: R): err is GatehouseError<C, R> {
  if (!isTRPCClientError(err)) return false;
  const data: unknown = err.data;
  if (typeof data !== 'object' || data === null || !('code' in data)) return false;
  if (code !== undefined && data.code !== code) return false;
  return reason === undefined || ('reason' in data && data.reason === reason);
}

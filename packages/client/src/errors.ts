import { TRPCClientError } from '@trpc/client';
import type { TRPC_ERROR_CODE_KEY } from '@trpc/server';
import type { AppRouter } from './types.js';

/** A tRPC error code: 'BAD_REQUEST', 'UNAUTHORIZED', 'FORBIDDEN', 'NOT_FOUND', 'CONFLICT', … */
export type GatehouseErrorCode = TRPC_ERROR_CODE_KEY;

/**
 * `error.data` of an error the server answered: `code`, `httpStatus`, `path`, plus Gatehouse's
 * `zodError` (validation issues, on BAD_REQUEST), `retryAfterSeconds` (TOO_MANY_REQUESTS) and
 * `field` (which field a CONFLICT is about).
 */
export type GatehouseErrorData = NonNullable<TRPCClientError<AppRouter>['data']>;

/** A TRPCClientError the server answered, with typed `data` (narrowed to `C` when given). */
export type GatehouseError<C extends GatehouseErrorCode = GatehouseErrorCode> = TRPCClientError<AppRouter> & {
  readonly data: GatehouseErrorData & { readonly code: C };
};

function isTRPCClientError(err: unknown): err is TRPCClientError<AppRouter> {
  // `instanceof` fails when two copies of @trpc/client are loaded; the name still tells.
  return err instanceof TRPCClientError || (err instanceof Error && err.name === 'TRPCClientError');
}

/**
 * True when `err` is an error answered by a Gatehouse server (not a network failure), and — when
 * `code` is given — one with that code. Narrows `err.data` to the typed error data.
 *
 * ```ts
 * if (isGatehouseError(err, 'TOO_MANY_REQUESTS')) wait(err.data.retryAfterSeconds);
 * ```
 */
export function isGatehouseError<C extends GatehouseErrorCode = GatehouseErrorCode>(
  err: unknown,
  code?: C,
): err is GatehouseError<C> {
  if (!isTRPCClientError(err)) return false;
  const data: unknown = err.data;
  if (typeof data !== 'object' || data === null || !('code' in data)) return false;
  return code === undefined || data.code === code;
}

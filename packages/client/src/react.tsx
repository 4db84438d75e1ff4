/**
 * `@gatehouse/client/react`: TanStack Query integration through `@trpc/tanstack-react-query`.
 *
 * ```tsx
 * <GatehouseProvider url="">            // '' = same origin, session cookie
 *   <App />
 * </GatehouseProvider>
 *
 * function Me() {
 *   const trpc = useTRPC();
 *   const me = useQuery(trpc.auth.me.queryOptions());
 * }
 * ```
 */
import {
  MutationCache,
  QueryCache,
  QueryClient,
  QueryClientProvider,
  type DefaultOptions,
} from '@tanstack/react-query';
import { createTRPCContext } from '@trpc/tanstack-react-query';
import { useState, type ReactNode } from 'react';
import { createGatehouseClient, type GatehouseClient, type GatehouseClientOptions } from './client.js';
import { isGatehouseError } from './errors.js';
import type { AppRouter } from './types.js';

type GatehouseTRPCContext = ReturnType<typeof createTRPCContext<AppRouter>>;
const context: GatehouseTRPCContext = createTRPCContext<AppRouter>();

/** Provides a tRPC client and QueryClient you created yourself (see GatehouseProvider for the easy way). */
export const TRPCProvider: GatehouseTRPCContext['TRPCProvider'] = context.TRPCProvider;
/** The typed options proxy: `useQuery(useTRPC().user.list.queryOptions({ limit: 20 }))`. */
export const useTRPC: GatehouseTRPCContext['useTRPC'] = context.useTRPC;
/** The raw typed client, for imperative calls: `await useTRPCClient().auth.signOut.mutate()`. */
export const useTRPCClient: GatehouseTRPCContext['useTRPCClient'] = context.useTRPCClient;

/** Client errors (4xx) are answers, not glitches: retrying them only delays the message. */
function shouldRetry(failureCount: number, error: unknown): boolean {
  if (isGatehouseError(error) && error.data.httpStatus >= 400 && error.data.httpStatus < 500) return false;
  return failureCount < 2;
}

export interface GatehouseQueryClientOptions {
  /**
   * Called each time a query's fetch or a mutation fails for good (after its retries), with the
   * procedure's path (`'user.list'`; `''` for a query or mutation that is not a procedure's).
   * The place for app-wide reactions: e.g. a reason of `'unauthenticated'` means the session ended.
   */
  onError?: ((error: unknown, path: string) => void) | undefined;
  /** Merged over Gatehouse's defaults (`queries.staleTime`, `queries.refetchOnWindowFocus`, …). */
  defaultOptions?: DefaultOptions | undefined;
}

/** tRPC's query and mutation keys start with the procedure's path as an array: `[['user', 'list'], …]`. */
function procedurePath(key: readonly unknown[] | undefined): string {
  const first = key?.[0];
  return Array.isArray(first) && first.every((part) => typeof part === 'string') ? first.join('.') : '';
}

/**
 * A QueryClient with defaults suited to Gatehouse: no retries on 4xx answers (at most two on
 * anything else), 30 s freshness, mutations never retried. `options.defaultOptions` override
 * these one by one; `options.onError` sees every failure with its procedure's path.
 *
 * ```ts
 * const queryClient = createGatehouseQueryClient({
 *   defaultOptions: { queries: { staleTime: 0 } },
 *   onError: (error, path) => {
 *     if (isGatehouseError(error, 'UNAUTHORIZED', 'unauthenticated') && path !== 'auth.me') showSignIn();
 *   },
 * });
 * ```
 */
export function createGatehouseQueryClient(options: GatehouseQueryClientOptions = {}): QueryClient {
  const { onError, defaultOptions = {} } = options;
  const { queries, mutations, ...rest } = defaultOptions;
  return new QueryClient({
    ...(onError
      ? {
          queryCache: new QueryCache({ onError: (error, query) => onError(error, procedurePath(query.queryKey)) }),
          mutationCache: new MutationCache({
            onError: (error, _variables, _context, mutation) =>
              onError(error, procedurePath(mutation.options.mutationKey)),
          }),
        }
      : {}),
    defaultOptions: {
      ...rest,
      queries: { staleTime: 30_000, retry: shouldRetry, ...queries },
      mutations: { retry: false, ...mutations },
    },
  });
}

export interface GatehouseProviderProps extends Partial<GatehouseClientOptions> {
  children?: ReactNode;
  /** Use this QueryClient instead of creating one. */
  queryClient?: QueryClient;
  /** Use this client instead of creating one from the options. */
  client?: GatehouseClient;
}

/**
 * Creates (once) a QueryClient and a Gatehouse client — browser mode with the session cookie
 * unless a token is given, the same links as `createGatehouseClient` — and provides both.
 * `url` defaults to '' (the page's own origin).
 */
export function GatehouseProvider({ children, queryClient, client, url = '', ...options }: GatehouseProviderProps) {
  const [qc] = useState(() => queryClient ?? createGatehouseQueryClient());
  const [trpcClient] = useState(() => client ?? createGatehouseClient({ url, ...options }));
  return (
    <QueryClientProvider client={qc}>
      <TRPCProvider trpcClient={trpcClient} queryClient={qc}>
        {children}
      </TRPCProvider>
    </QueryClientProvider>
  );
}

export type { AppRouter, RouterInputs, RouterOutputs } from './types.js';

import { MutationCache, QueryCache, QueryClient } from '@tanstack/react-query';
import { createGatehouseClient, isGatehouseError, type GatehouseClient } from '@gatehouse/client';

/** Procedures whose UNAUTHORIZED is an answer to show ("Invalid credentials"), not a lost session. */
const UNAUTHORIZED_IS_AN_ANSWER = new Set(['auth.signIn', 'auth.me', 'auth.createFirstUser', 'auth.signUp']);

type Listener = () => void;
const sessionEndedListeners = new Set<Listener>();

/** Called by the app shell: a call answering UNAUTHORIZED means the session is gone. */
export function onSessionEnded(listener: Listener): () => void {
  sessionEndedListeners.add(listener);
  return () => sessionEndedListeners.delete(listener);
}

/** tRPC keys start with the procedure path as an array: [['user', 'list'], {…}]. */
function pathOf(key: readonly unknown[] | undefined): string {
  const first = key?.[0];
  return Array.isArray(first) ? first.join('.') : '';
}

function handleError(error: unknown, key: readonly unknown[] | undefined): void {
  if (!isGatehouseError(error, 'UNAUTHORIZED')) return;
  if (UNAUTHORIZED_IS_AN_ANSWER.has(pathOf(key))) return;
  for (const listener of sessionEndedListeners) listener();
}

/** Client errors (4xx) are answers, not glitches: retrying them only delays the message. */
function retry(failureCount: number, error: unknown): boolean {
  if (isGatehouseError(error) && error.data.httpStatus >= 400 && error.data.httpStatus < 500) return false;
  return failureCount < 2;
}

export function createQueryClient(): QueryClient {
  return new QueryClient({
    queryCache: new QueryCache({ onError: (error, query) => handleError(error, query.queryKey) }),
    mutationCache: new MutationCache({
      onError: (error, _vars, _ctx, mutation) => handleError(error, mutation.options.mutationKey),
    }),
    defaultOptions: {
      // An admin console shows the truth: every screen asks again when it opens.
      queries: { staleTime: 0, retry, refetchOnWindowFocus: true },
      mutations: { retry: false },
    },
  });
}

/** Same origin, session cookie (the server sets and clears it). */
export function createClient(): GatehouseClient {
  return createGatehouseClient({ url: '' });
}

/** For calls outside the query cache (the live audit feed): same rule as every other call. */
export function reportCallError(error: unknown, path: string): void {
  handleError(error, [path.split('.')]);
}

import type { QueryClient } from '@tanstack/react-query';
import { createGatehouseClient, isGatehouseError, type GatehouseClient } from '@gatehouse/client';
import { createGatehouseQueryClient } from '@gatehouse/client/react';

type Listener = () => void;
const sessionEndedListeners = new Set<Listener>();

/** Called by the app shell: a call answering `unauthenticated` means the session is gone. */
export function onSessionEnded(listener: Listener): () => void {
  sessionEndedListeners.add(listener);
  return () => sessionEndedListeners.delete(listener);
}

/**
 * `unauthenticated` from any call but `auth.me` means the session ended while in use (revoked,
 * expired, the user deactivated). `auth.me` is how the app asks whether there is a session at all,
 * so its `unauthenticated` is an answer, shown as the sign-in screen. A wrong password is another
 * reason (`invalid_credentials`) and never ends a session.
 */
function handleError(error: unknown, path: string): void {
  if (!isGatehouseError(error, 'UNAUTHORIZED', 'unauthenticated') || path === 'auth.me') return;
  for (const listener of sessionEndedListeners) listener();
}

export function createQueryClient(): QueryClient {
  return createGatehouseQueryClient({
    onError: handleError,
    // An admin console shows the truth: every screen asks again when it opens.
    defaultOptions: { queries: { staleTime: 0, refetchOnWindowFocus: true } },
  });
}

/** Same origin, session cookie (the server sets and clears it). */
export function createClient(): GatehouseClient {
  return createGatehouseClient({ url: '' });
}

/** For calls outside the query cache (the live audit feed): same rule as every other call. */
export function reportCallError(error: unknown, path: string): void {
  handleError(error, path);
}

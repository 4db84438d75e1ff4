import {
  createTRPCClient,
  httpBatchLink,
  httpSubscriptionLink,
  splitLink,
  type TRPCClient,
  type TRPCLink,
} from '@trpc/client';
import superjson from 'superjson';
import type { AppRouter } from './types.js';

type MaybePromise<T> = T | Promise<T>;
type HeaderRecord = Record<string, string>;

/** The fetch the client calls (the global one unless given). */
export type GatehouseFetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/**
 * An EventSource implementation for subscriptions (`audit.events`): the browser's own, or for
 * Node the `eventsource` package (`import { EventSource } from 'eventsource'`), which accepts a
 * `fetch` option through which the client sends its token and headers.
 */
export type GatehouseEventSource = NonNullable<Parameters<typeof httpSubscriptionLink>[0]['EventSource']>;

export interface GatehouseClientOptions {
  /**
   * The server's base URL (`http://localhost:3000`), or '' for the page's own origin. The tRPC
   * endpoint is `<url>/trpc` (a url already ending in `/trpc` is used as it is).
   */
  url: string;
  /** A session token, sent as `Authorization: Bearer <token>`. */
  token?: string | null | undefined;
  /** Called before every request for the current token (overrides `token`). */
  getToken?: (() => MaybePromise<string | null | undefined>) | undefined;
  /** Extra headers for every request. */
  headers?: HeaderRecord | (() => MaybePromise<HeaderRecord>) | undefined;
  /** A fetch implementation (defaults to the global fetch). */
  fetch?: GatehouseFetch | undefined;
  /** An EventSource implementation for subscriptions (defaults to the global EventSource). */
  eventSource?: GatehouseEventSource | undefined;
}

/**
 * `token`/`getToken` → bearer mode; neither → browser mode: the session cookie travels with
 * every request (`credentials: 'include'`), and the server sets and clears it.
 */
export function authMode(options: Pick<GatehouseClientOptions, 'token' | 'getToken'>): 'bearer' | 'cookie' {
  return options.getToken || (options.token !== undefined && options.token !== null && options.token !== '')
    ? 'bearer'
    : 'cookie';
}

export function trpcEndpoint(url: string): string {
  const base = url.replace(/\/+$/, '');
  return base.endsWith('/trpc') ? base : `${base}/trpc`;
}

async function requestHeaders(options: GatehouseClientOptions): Promise<HeaderRecord> {
  const extra = typeof options.headers === 'function' ? await options.headers() : (options.headers ?? {});
  const token = options.getToken ? await options.getToken() : options.token;
  return token ? { ...extra, authorization: `Bearer ${token}` } : { ...extra };
}

function headersToRecord(headers: ConstructorParameters<typeof Headers>[0]): HeaderRecord {
  const out: HeaderRecord = {};
  if (headers) new Headers(headers).forEach((value, key) => (out[key] = value));
  return out;
}

/**
 * The links every Gatehouse client uses: superjson on each; queries and mutations batched over
 * `httpBatchLink` (not the streaming link, whose responses start before a procedure can set the
 * session cookie); subscriptions over Server-Sent Events with `httpSubscriptionLink`.
 */
export function gatehouseLinks(options: GatehouseClientOptions): TRPCLink<AppRouter>[] {
  const url = trpcEndpoint(options.url);
  const cookieMode = authMode(options) === 'cookie';
  const baseFetch: GatehouseFetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const fetchWithCredentials: GatehouseFetch = cookieMode
    ? (input, init) => baseFetch(input, { ...init, credentials: 'include' })
    : baseFetch;

  return [
    splitLink({
      condition: (op) => op.type === 'subscription',
      true: httpSubscriptionLink({
        url,
        transformer: superjson,
        ...(options.eventSource ? { EventSource: options.eventSource } : {}),
        // `withCredentials` is the browser's way to send cookies; `fetch` is how the `eventsource`
        // package lets a caller add headers (a browser's EventSource ignores it).
        eventSourceOptions: () => ({
          withCredentials: cookieMode,
          fetch: async (input: string | URL, init?: RequestInit) =>
            fetchWithCredentials(input, {
              ...init,
              headers: { ...headersToRecord(init?.headers), ...(await requestHeaders(options)) },
            }),
        }),
      }),
      false: httpBatchLink({
        url,
        transformer: superjson,
        // The server refuses batches of more than 10 calls (batch_refused): split larger ones.
        maxItems: 10,
        fetch: fetchWithCredentials,
        headers: () => requestHeaders(options),
      }),
    }),
  ];
}

/** The typed client: `gh.auth.me.query()`, `gh.user.create.mutate({...})`, `gh.audit.events.subscribe(...)`. */
export type GatehouseClient = TRPCClient<AppRouter>;

/**
 * Creates a client for a Gatehouse server.
 *
 * ```ts
 * const gh = createGatehouseClient({ url: 'http://localhost:3000', token: process.env.GATEHOUSE_TOKEN });
 * const { user } = await gh.auth.me.query();
 * ```
 */
export function createGatehouseClient(options: GatehouseClientOptions): GatehouseClient {
  return createTRPCClient<AppRouter>({ links: gatehouseLinks(options) });
}

/**
 * `@gatehouse/client/react` against a real server: GatehouseProvider wires the QueryClient and
 * the tRPC client, `useTRPC()` gives typed query options whose fetches go over HTTP.
 */
import { QueryClient } from '@tanstack/react-query';
import { renderToString } from 'react-dom/server';
import { afterAll, beforeAll, describe, expect, expectTypeOf, test } from 'vitest';
import { startTestServer, type RunningServer } from '../../../apps/server/src/testing.js';
import { createGatehouseClient, isGatehouseError, type ErrorReason, type User } from '../src/index.js';
import { createGatehouseQueryClient, GatehouseProvider, useTRPC, useTRPCClient } from '../src/react.js';

let server: RunningServer;
let token: string;

beforeAll(async () => {
  server = await startTestServer();
  const first = await createGatehouseClient({ url: server.url }).auth.createFirstUser.mutate({
    email: 'react@example.com',
    name: 'React Admin',
    password: 'hooks and effects 2019',
  });
  if (first.status !== 'signed-in') throw new Error('expected a session');
  token = first.token;
});

afterAll(async () => {
  await server?.stop();
});

/** Renders `GatehouseProvider` once and hands back what its children saw. */
function captureHooks(props: Parameters<typeof GatehouseProvider>[0]) {
  let seen: { trpc: ReturnType<typeof useTRPC>; client: ReturnType<typeof useTRPCClient> } | null = null;
  function Probe() {
    seen = { trpc: useTRPC(), client: useTRPCClient() };
    return <p>ready</p>;
  }
  const html = renderToString(
    <GatehouseProvider {...props}>
      <Probe />
    </GatehouseProvider>,
  );
  if (!seen) throw new Error('children did not render');
  return { html, ...(seen as { trpc: ReturnType<typeof useTRPC>; client: ReturnType<typeof useTRPCClient> }) };
}

describe('GatehouseProvider', () => {
  test('provides typed query options that fetch from the server', async () => {
    const queryClient = createGatehouseQueryClient();
    const { html, trpc } = captureHooks({ url: server.url, token, queryClient });
    expect(html).toContain('ready');

    const options = trpc.auth.me.queryOptions();
    expect(options.queryKey).toEqual([['auth', 'me'], { type: 'query' }]);
    const me = await queryClient.fetchQuery(options);
    expectTypeOf(me.user).toEqualTypeOf<User>();
    expect(me.user.email).toBe('react@example.com');
    expect(me.user.createdAt).toBeInstanceOf(Date);

    const users = await queryClient.fetchQuery(trpc.user.list.queryOptions({ limit: 5 }));
    expect(users.total).toBe(1);
    expect(queryClient.getQueryData(trpc.user.list.queryKey({ limit: 5 }))?.items[0]?.email).toBe('react@example.com');
  });

  test('mutation options and the raw client work; 4xx errors are not retried', async () => {
    const queryClient = createGatehouseQueryClient();
    const { trpc, client } = captureHooks({ url: server.url, token, queryClient });
    const renamed = await queryClient
      .getMutationCache()
      .build(queryClient, trpc.auth.updateProfile.mutationOptions())
      .execute({ name: 'Renamed Admin' });
    expect(renamed.name).toBe('Renamed Admin');
    expect((await client.auth.me.query()).user.name).toBe('Renamed Admin');

    let calls = 0;
    const failing = captureHooks({
      url: server.url,
      queryClient,
      fetch: (input, init) => {
        calls += 1;
        return fetch(input, init);
      },
    });
    const error = await queryClient.fetchQuery(failing.trpc.auth.me.queryOptions()).catch((e: unknown) => e);
    expect(isGatehouseError(error, 'UNAUTHORIZED')).toBe(true);
    expect(calls).toBe(1);
  });

  test('createGatehouseQueryClient merges given defaults and reports each failure with its procedure', async () => {
    const failures: Array<[path: string, reason: ErrorReason | null]> = [];
    const queryClient = createGatehouseQueryClient({
      defaultOptions: { queries: { staleTime: 0, refetchOnWindowFocus: true } },
      onError: (error, path) => failures.push([path, isGatehouseError(error) ? error.data.reason : null]),
    });
    const defaults = queryClient.getDefaultOptions();
    expect(defaults.queries?.staleTime).toBe(0);
    expect(defaults.queries?.refetchOnWindowFocus).toBe(true);
    expect(defaults.mutations?.retry).toBe(false);
    expect(createGatehouseQueryClient().getDefaultOptions().queries?.staleTime).toBe(30_000);

    // No token and no cookie: a query answers `unauthenticated`, a wrong password `invalid_credentials`.
    let calls = 0;
    const { trpc } = captureHooks({
      url: server.url,
      queryClient,
      fetch: (input, init) => {
        calls += 1;
        return fetch(input, init);
      },
    });
    await expect(queryClient.fetchQuery(trpc.session.list.queryOptions())).rejects.toThrow();
    expect(calls).toBe(1); // the 4xx rule still applies under the given defaults
    await expect(
      queryClient
        .getMutationCache()
        .build(queryClient, trpc.auth.signIn.mutationOptions())
        .execute({ identifier: 'nobody@example.com', password: 'not the password' }),
    ).rejects.toThrow();
    expect(failures).toEqual([
      ['session.list', 'unauthenticated'],
      ['auth.signIn', 'invalid_credentials'],
    ]);
  });

  test('uses a given client and QueryClient as they are', () => {
    const queryClient = new QueryClient();
    const client = createGatehouseClient({ url: server.url, token });
    const { client: seen } = captureHooks({ client, queryClient });
    expect(seen).toBe(client);
  });
});

/**
 * The lean tRPC adapter speaks tRPC's wire protocol exactly as the stock Fastify adapter does:
 * every request below is sent to both, over real HTTP, and must get the same status, headers and
 * body; then the stock client's four links (httpLink, httpBatchLink, httpBatchStreamLink,
 * httpSubscriptionLink) run against it, and aborts reach the procedure's signal.
 */
import { once } from 'node:events';
import {
  createTRPCClient,
  httpBatchLink,
  httpBatchStreamLink,
  httpLink,
  httpSubscriptionLink,
  TRPCClientError,
} from '@trpc/client';
import { initTRPC, TRPCError } from '@trpc/server';
import { fastifyTRPCPlugin } from '@trpc/server/adapters/fastify';
import { EventSource } from 'eventsource';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import superjson from 'superjson';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { trpcAdapter } from './trpc-adapter.js';

interface Context {
  reply: FastifyReply;
}

/** Signals seen by `slow` calls, so the test can watch an abort arrive. */
const slowSignals: AbortSignal[] = [];

// isDev off: error answers carry no stack (whose frames name the adapter that ran).
const t = initTRPC.context<Context>().create({ transformer: superjson, isDev: false });
const testRouter = t.router({
  ping: t.procedure.query(() => ({ ok: true, at: new Date('2026-12-01T00:00:00Z') })),
  echo: t.procedure.input(z.object({ text: z.string().max(5) })).mutation(({ input }) => ({ said: input.text })),
  setCookie: t.procedure.mutation(({ ctx }) => {
    ctx.reply.header('set-cookie', ['a=1; Path=/; HttpOnly', 'b=2; Path=/']);
    ctx.reply.header('x-from-procedure', 'yes');
    return 'set';
  }),
  fails: t.procedure.query(() => {
    throw new TRPCError({ code: 'FORBIDDEN', message: 'not you' });
  }),
  slow: t.procedure.query(async ({ signal }) => {
    if (signal) slowSignals.push(signal);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 10_000);
      signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    return 'late';
  }),
  deferred: t.procedure.query(async () => ({ later: Promise.resolve(41 + 1) })),
  teapot: t.procedure.query(() => 'short and stout'),
  ticks: t.procedure.input(z.object({ count: z.number().int().max(5) })).subscription(async function* ({ input }) {
    for (let i = 1; i <= input.count; i++) yield { tick: i };
  }),
});
type TestRouter = typeof testRouter;

async function start(
  register: (app: FastifyInstance) => Promise<void>,
): Promise<{ app: FastifyInstance; url: string }> {
  const app = Fastify({ logger: false, routerOptions: { maxParamLength: 5000 } });
  await register(app);
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, url: `${url}/trpc` };
}

/** A request with `x-refuse` gets no context: every call of it fails with that error. */
const createContext = ({ req, res }: { req: FastifyRequest; res: FastifyReply }): Context => {
  if (req.headers['x-refuse']) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'no context for you' });
  return { reply: res };
};

/** Headers appended to tRPC's own, and a status of its own for `teapot`. */
const responseMeta = ({ paths, errors }: { paths?: readonly string[]; errors: readonly TRPCError[] }) => ({
  headers: new Headers([
    ['vary', 'Origin'],
    ['x-paths', (paths ?? []).join(',')],
    ['x-errors', errors.map((e) => e.code).join(',')],
  ]),
  ...(paths?.includes('teapot') ? { status: 418 } : {}),
});

/** What onError saw, per adapter: the same calls must fail the same way on both. */
const errorsSeen = { lean: [] as string[], stock: [] as string[] };
const recordError =
  (into: string[]) =>
  ({ error, path, type }: { error: TRPCError; path: string | undefined; type: string }) =>
    into.push(`${type} ${path ?? '-'} ${error.code}`);
let lean: { app: FastifyInstance; url: string };
let stock: { app: FastifyInstance; url: string };

beforeAll(async () => {
  lean = await start(async (app) => {
    await app.register(trpcAdapter<TestRouter>, {
      prefix: '/trpc',
      trpcOptions: { router: testRouter, createContext, responseMeta, onError: recordError(errorsSeen.lean) },
    });
  });
  stock = await start(async (app) => {
    await app.register(fastifyTRPCPlugin, {
      prefix: '/trpc',
      trpcOptions: { router: testRouter, createContext, responseMeta, onError: recordError(errorsSeen.stock) },
    });
  });
});

afterAll(async () => {
  await Promise.all([lean.app.close(), stock.app.close()]);
});

/**
 * Status, headers and body of one answer. The date and the framing are left out: a plain answer
 * from the lean adapter has a Content-Length (it is sent in one write), the stock adapter's is
 * chunked; `framing` says which it was.
 */
async function answer(base: string, path: string, init: RequestInit = {}) {
  const response = await fetch(`${base}/${path}`, init);
  const framing = response.headers.has('content-length') ? 'length' : 'chunked';
  const headers = Object.fromEntries(
    [...response.headers].filter(([name]) => !['date', 'content-length', 'transfer-encoding'].includes(name)),
  );
  const answered = { status: response.status, headers, setCookie: response.headers.getSetCookie() };
  return { ...answered, body: await response.text(), framing };
}

const json = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

function stripFraming<T extends { framing: string }>(value: T): Omit<T, 'framing'> {
  const { framing: _framing, ...rest } = value;
  return rest;
}

describe('the lean adapter answers like the stock adapter', () => {
  const cases: [string, string, RequestInit?][] = [
    ['a query by GET', 'ping'],
    ['a query with superjson input', `ping?input=${encodeURIComponent(JSON.stringify({ json: null }))}`],
    ['a mutation', 'echo', json({ json: { text: 'hi' } })],
    ['invalid input (zod)', 'echo', json({ json: { text: 'far too long' } })],
    ['a thrown TRPCError', 'fails'],
    ['an unknown procedure', 'nothing.here'],
    ['a mutation sent by GET', 'echo'],
    ['a query sent by POST', 'ping', json({ json: null })],
    ['malformed JSON', 'echo', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"json":' }],
    ['an empty JSON body', 'echo', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '' }],
    ['a batch', `ping,fails,echo?batch=1&input=${encodeURIComponent(JSON.stringify({}))}`],
    ['a batch by POST', 'echo,echo?batch=1', json({ 0: { json: { text: 'a' } }, 1: { json: { text: 'b' } } })],
    [
      'a streamed batch (JSON lines)',
      'ping,deferred?batch=1&input=%7B%7D',
      { headers: { 'trpc-accept': 'application/jsonl' } },
    ],
    ['cookies and headers set in a procedure', 'setCookie', json({})],
    ['HEAD', 'ping', { method: 'HEAD' }],
    ['text/plain body', 'echo', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' }],
    ['a context that fails', 'ping', { headers: { 'x-refuse': '1' } }],
    ['a context that fails, for an unknown procedure', 'nothing.here', { headers: { 'x-refuse': '1' } }],
    ['a context that fails, in a batch', `ping,teapot?batch=1&input=%7B%7D`, { headers: { 'x-refuse': '1' } }],
    ['a status from responseMeta', 'teapot'],
    ['a stream-like answer to a plain call', 'deferred'],
    ['a stream-like answer in a plain batch', 'ping,deferred?batch=1&input=%7B%7D'],
    ['a subscription in a batch', `ticks,ping?batch=1&input=${encodeURIComponent(JSON.stringify({}))}`],
    ['a subscription by POST', 'ticks', json({ json: { count: 1 } })],
    ['a path that is not URL-encoding', '%E0%A4%A'],
    ['a batch of no calls', '?batch=1'],
  ];
  it.each(cases)('%s', async (_name, path, init) => {
    errorsSeen.lean.length = 0;
    errorsSeen.stock.length = 0;
    const [ours, theirs] = await Promise.all([answer(lean.url, path, init), answer(stock.url, path, init)]);
    expect(stripFraming(ours)).toEqual(stripFraming(theirs));
    expect(errorsSeen.lean).toEqual(errorsSeen.stock);
    // A plain JSON answer goes out with its length; streamed ones (JSON lines asked for by the
    // trpc-accept header, server-sent events) stay chunked.
    const accept = new Headers(init?.headers).get('trpc-accept');
    const streamed = accept === 'application/jsonl' || ours.headers['content-type'] === 'text/event-stream';
    if (ours.status !== 204) expect(ours.framing).toBe(streamed ? 'chunked' : 'length');
  });

  it('a subscription over server-sent events streams the same events', async () => {
    const path = `ticks?input=${encodeURIComponent(JSON.stringify({ json: { count: 3 } }))}`;
    const [ours, theirs] = await Promise.all([answer(lean.url, path), answer(stock.url, path)]);
    expect(ours.status).toBe(200);
    expect(ours.headers['content-type']).toBe(theirs.headers['content-type']);
    // Only the event ids' timing differs between two runs; the events themselves are the same.
    expect(ours.body).toContain('"tick":3');
    expect(ours.body.split('\n').filter((l) => l.startsWith('data:'))).toEqual(
      theirs.body.split('\n').filter((l) => l.startsWith('data:')),
    );
  });
});

describe("the stock client's links against the lean adapter", () => {
  it('httpLink', async () => {
    const client = createTRPCClient<TestRouter>({ links: [httpLink({ url: lean.url, transformer: superjson })] });
    expect(await client.ping.query()).toEqual({ ok: true, at: new Date('2026-12-01T00:00:00Z') });
    expect(await client.echo.mutate({ text: 'hey' })).toEqual({ said: 'hey' });
    const error = await client.fails.query().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TRPCClientError);
    expect((error as TRPCClientError<TestRouter>).data?.code).toBe('FORBIDDEN');
  });

  it('httpBatchLink', async () => {
    const client = createTRPCClient<TestRouter>({ links: [httpBatchLink({ url: lean.url, transformer: superjson })] });
    const [a, b, c] = await Promise.allSettled([
      client.ping.query(),
      client.fails.query(),
      client.echo.mutate({ text: 'x' }),
    ]);
    expect(a).toMatchObject({ status: 'fulfilled', value: { ok: true } });
    expect(b).toMatchObject({ status: 'rejected' });
    expect(c).toMatchObject({ status: 'fulfilled', value: { said: 'x' } });
  });

  it('httpBatchStreamLink, with a promise inside the answer', async () => {
    const client = createTRPCClient<TestRouter>({
      links: [httpBatchStreamLink({ url: lean.url, transformer: superjson })],
    });
    const [ping, deferred] = await Promise.all([client.ping.query(), client.deferred.query()]);
    expect(ping.ok).toBe(true);
    expect(await deferred.later).toBe(42);
  });

  it('httpSubscriptionLink (server-sent events)', async () => {
    const client = createTRPCClient<TestRouter>({
      links: [httpSubscriptionLink({ url: lean.url, transformer: superjson, EventSource })],
    });
    const ticks: number[] = [];
    await new Promise<void>((resolve, reject) => {
      const subscription = client.ticks.subscribe(
        { count: 3 },
        {
          onData: (value) => {
            ticks.push(value.tick);
            if (value.tick === 3) {
              subscription.unsubscribe();
              resolve();
            }
          },
          onError: reject,
        },
      );
    });
    expect(ticks).toEqual([1, 2, 3]);
  });

  it('a client that goes away aborts the procedure', async () => {
    slowSignals.length = 0;
    const controller = new AbortController();
    const pending = fetch(`${lean.url}/slow`, { signal: controller.signal }).catch(() => 'aborted');
    await expect.poll(() => slowSignals.length).toBe(1);
    const [signal] = slowSignals as [AbortSignal];
    expect(signal.aborted).toBe(false);
    controller.abort();
    expect(await pending).toBe('aborted');
    if (!signal.aborted) await once(signal, 'abort');
    expect(signal.aborted).toBe(true);
  });
});

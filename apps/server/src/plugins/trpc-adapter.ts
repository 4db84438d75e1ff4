import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AnyTRPCRouter, inferRouterContext } from '@trpc/server';
import { resolveResponse, type HTTPBaseHandlerOptions, type TRPCRequestInfo } from '@trpc/server/http';
import { resolvePlainCall, type PlainCallOptions, type PlainRequest } from './trpc-plain.js';

/**
 * tRPC on Fastify without the round trip through the Fetch API (issue 18, docs/benchmarks.md).
 *
 * tRPC's own Fastify adapter turns every request into a Fetch `Request` (a `Headers` copy of every
 * header, a URL, a body stream) and hands Fastify the Fetch `Response`, which Fastify streams back
 * as separate writes for the head, the chunk and the end. Both sides cost more than the procedure
 * behind a typical call. This adapter calls the same public primitive, `resolveResponse` from
 * `@trpc/server/http`, with the smallest object that has what `resolveResponse` reads from a
 * request (method, url, headers.get/has, signal, json/text), and sends a plain answer as one
 * buffer. Streamed answers (httpBatchStreamLink's JSON lines, httpSubscriptionLink's server-sent
 * events) go to Fastify as the stream they are, exactly as the stock adapter sends them.
 *
 * The wire format is tRPC's own: the HTTP tests run the stock client links against it.
 */

export interface TrpcAdapterOptions<TRouter extends AnyTRPCRouter> extends Omit<
  HTTPBaseHandlerOptions<TRouter, FastifyRequest>,
  'onError'
> {
  router: TRouter;
  createContext: (opts: {
    req: FastifyRequest;
    res: FastifyReply;
    info: TRPCRequestInfo;
  }) => inferRouterContext<TRouter> | Promise<inferRouterContext<TRouter>>;
  /** Called for every error, with the Fastify request (as the stock adapter does). */
  onError?: (
    opts: Omit<Parameters<NonNullable<HTTPBaseHandlerOptions<TRouter, Request>['onError']>>[0], 'req'> & {
      req: FastifyRequest;
    },
  ) => void;
}

/** The headers of a Node request, read in place: the `Headers` interface `resolveResponse` uses. */
class IncomingHeaders {
  constructor(private readonly raw: IncomingHttpHeaders) {}

  get(name: string): string | null {
    const value = this.raw[name.toLowerCase()];
    if (value === undefined) return null;
    return Array.isArray(value) ? value.join(', ') : value;
  }

  has(name: string): boolean {
    return this.raw[name.toLowerCase()] !== undefined;
  }

  forEach(callback: (value: string, name: string) => void): void {
    for (const [name, value] of this.entries()) callback(value, name);
  }

  *entries(): IterableIterator<[string, string]> {
    for (const name of Object.keys(this.raw)) {
      const value = this.get(name);
      if (value !== null && !name.startsWith(':')) yield [name, value];
    }
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }
}

/**
 * What `resolveResponse` reads of a request. The body is the string Fastify's content-type parser
 * already read (`parseAs: 'string'` below), so `json()` parses it like `Request.json()` would.
 */
class LeanRequest {
  readonly headers: IncomingHeaders;
  readonly url: string;
  readonly method: string;
  readonly signal: AbortSignal;
  private readonly text_: string | undefined;

  constructor(request: FastifyRequest, reply: FastifyReply) {
    const raw = request.raw;
    this.method = request.method;
    this.headers = new IncomingHeaders(raw.headers);
    // tRPC parses this once (`new URL(req.url)`); only its path and query matter to it.
    this.url = `http://${request.host || 'localhost'}${request.url}`;
    this.text_ = typeof request.body === 'string' ? request.body : undefined;
    this.signal = abortSignalFor(raw, reply.raw);
  }

  get bodyUsed(): boolean {
    return false;
  }

  get body(): ReadableStream<Uint8Array> | null {
    const text = this.text_;
    if (text === undefined) return null;
    return new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(text));
        controller.close();
      },
    });
  }

  text(): Promise<string> {
    return Promise.resolve(this.text_ ?? '');
  }

  json(): Promise<unknown> {
    // Like Request.json(): an empty or malformed body is a SyntaxError, which tRPC reports as a
    // parse error.
    return new Promise((resolve) => resolve(JSON.parse(this.text_ ?? '')));
  }

  formData(): Promise<FormData> {
    return Promise.reject(new TypeError('The request body is not multipart/form-data'));
  }
}

/** Aborted when the client goes away before the answer was sent (as tRPC's node adapter does). */
function abortSignalFor(req: FastifyRequest['raw'], res: FastifyReply['raw']): AbortSignal {
  const controller = new AbortController();
  const onAbort = () => {
    res.off('close', onClose);
    req.off('aborted', onAbort);
    controller.abort();
  };
  const onClose = () => {
    // `close` also follows a complete answer: only an unfinished one is an abort.
    if (res.writableEnded) {
      req.off('aborted', onAbort);
      return;
    }
    onAbort();
  };
  res.once('close', onClose);
  req.once('aborted', onAbort);
  return controller.signal;
}

/** tRPC streams JSON lines (chunked) and server-sent events; everything else is one JSON body. */
function isStreamed(response: Response): boolean {
  return (
    response.headers.has('transfer-encoding') ||
    response.headers.get('content-type')?.startsWith('text/event-stream') === true
  );
}

/** A body made from one string (tRPC's plain answers): its bytes, read without decoding them. */
async function bodyBytes(body: ReadableStream<Uint8Array>): Promise<Buffer> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  for (let next = await reader.read(); !next.done; next = await reader.read()) chunks.push(next.value);
  if (chunks.length === 1) {
    const [only] = chunks as [Uint8Array];
    return Buffer.from(only.buffer, only.byteOffset, only.byteLength);
  }
  return Buffer.concat(chunks);
}

async function handleTrpcRequest<TRouter extends AnyTRPCRouter>(
  options: TrpcAdapterOptions<TRouter>,
  request: FastifyRequest,
  reply: FastifyReply,
  path: string,
): Promise<void> {
  const { createContext, onError, ...rest } = options;
  const req = new LeanRequest(request, reply);
  const context = ({ info }: { info: TRPCRequestInfo }) => createContext({ req: request, res: reply, info });
  const errorHandler: PlainCallOptions<TRouter>['onError'] = onError
    ? (o) => onError({ ...o, req: request })
    : undefined;

  // A query or a mutation, alone or batched: answered here, in one write (trpc-plain.ts).
  const plain = await resolvePlainCall<TRouter>(
    { ...rest, createContext: context, onError: errorHandler },
    req as unknown as PlainRequest,
    path,
  );
  if (plain !== null) {
    reply.code(plain.status);
    for (const [name, value] of plain.headers.entries()) reply.header(name, value);
    // A Buffer, not the string: Fastify would add "; charset=utf-8" to the content type.
    await reply.send(Buffer.from(plain.body));
    return;
  }

  // Everything else (HEAD, streamed batches, subscriptions, what tRPC must refuse): tRPC itself.
  const response = await resolveResponse<TRouter>({
    ...rest,
    // The cast is the point of this adapter: LeanRequest has every member resolveResponse uses.
    req: req as unknown as Request,
    path,
    error: null,
    createContext: context,
    onError: errorHandler,
  });

  if (isStreamed(response)) {
    await reply.send(response);
    return;
  }
  reply.code(response.status);
  for (const [name, value] of response.headers) reply.header(name, value);
  await reply.send(response.body === null ? undefined : await bodyBytes(response.body));
}

/**
 * The router at the plugin's prefix (`/:path`). Like the stock plugin, it reads JSON bodies as
 * strings (tRPC parses them) and must be registered without fastify-plugin, so that these
 * parsers stay inside its scope.
 */
export function trpcAdapter<TRouter extends AnyTRPCRouter>(
  app: FastifyInstance,
  { trpcOptions }: { trpcOptions: TrpcAdapterOptions<TRouter> },
  done: (error?: Error) => void,
): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, parsed) => parsed(null, body));
  app.route<{ Params: { path: string } }>({
    method: ['GET', 'HEAD', 'POST'],
    url: '/:path',
    handler: (request, reply) => handleTrpcRequest(trpcOptions, request, reply, request.params.path),
  });
  done();
}

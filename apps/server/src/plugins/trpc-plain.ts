import type { AnyTRPCRouter, inferRouterContext } from '@trpc/server';
import { getHTTPStatusCode, type HTTPBaseHandlerOptions, type TRPCRequestInfo } from '@trpc/server/http';
import {
  getAcceptHeader,
  getErrorShape,
  getRequestInfo,
  getTRPCErrorFromUnknown,
  isAsyncIterable,
  isObject,
  isPromise,
  transformTRPCResponse,
  TRPCError,
  type AnyProcedure,
  type AnyRootTypes,
  type RootConfig,
  type TRPCErrorShape,
  type TRPCResponse,
} from '@trpc/server/unstable-core-do-not-import';

/**
 * The answer to a plain tRPC call (issue 18, docs/benchmarks.md): a query or mutation, alone or
 * batched, answered with one JSON body. This is `resolveResponse`'s non-streamed branch from
 * @trpc/server 11 (src/unstable-core-do-not-import/http/resolveResponse.ts) step for step, built
 * from the same exported pieces (`getRequestInfo`, `getErrorShape`, `transformTRPCResponse`,
 * `getHTTPStatusCode`), without what a plain answer does not need: a Fetch `Headers` and
 * `Response`, a body stream read back, and two `AbortSignal.any` per call (about 20 µs each on
 * Node 20, and the most expensive part of a tRPC call). Every procedure of the request shares the
 * request's one abort signal, which is all a query or a mutation can observe of it.
 *
 * What is not plain — HEAD, streamed batches (JSON lines), subscriptions (server-sent events),
 * batching switched off, a request tRPC cannot parse — returns `null` before any procedure or the
 * context ran, and the adapter hands the request to `resolveResponse` itself. The adapter's
 * HTTP test sends every kind of request to this and to tRPC's stock adapter and compares status,
 * headers, body and the onError calls.
 */

/** What `resolveResponse` reads of a request; LeanRequest in trpc-adapter.ts provides it. */
export interface PlainRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Headers;
  readonly signal: AbortSignal;
}

export interface PlainAnswer {
  status: number;
  headers: AnswerHeaders;
  body: string;
}

/**
 * The answer's headers as a Fetch `Headers` would combine them (what the stock adapter sends):
 * names in lower case, repeated values joined by ", ", Set-Cookie kept apart.
 */
export class AnswerHeaders {
  private readonly values = new Map<string, string[]>();

  set(name: string, value: string): void {
    this.values.set(name.toLowerCase(), [value]);
  }

  append(name: string, value: string): void {
    const key = name.toLowerCase();
    const existing = this.values.get(key);
    if (existing) existing.push(value);
    else this.values.set(key, [value]);
  }

  *entries(): IterableIterator<[string, string | string[]]> {
    for (const [name, values] of this.values) yield [name, name === 'set-cookie' ? values : values.join(', ')];
  }
}

export interface PlainCallOptions<TRouter extends AnyTRPCRouter> extends Pick<
  HTTPBaseHandlerOptions<TRouter, Request>,
  'allowBatching' | 'batching' | 'allowMethodOverride' | 'maxBatchSize' | 'responseMeta' | 'onError'
> {
  router: TRouter;
  createContext: (opts: {
    info: TRPCRequestInfo;
  }) => inferRouterContext<TRouter> | Promise<inferRouterContext<TRouter>>;
}

type ProcedureType = 'query' | 'mutation' | 'subscription';
type CallOutcome = [error: TRPCError, data: undefined] | [error: undefined, data: unknown];

const ACCEPTED_METHODS: Record<ProcedureType, readonly string[]> = {
  mutation: ['POST'],
  query: ['GET'],
  subscription: ['GET'],
};
const ACCEPTED_METHODS_WITH_OVERRIDE: Record<ProcedureType, readonly string[]> = {
  mutation: ['POST'],
  query: ['GET', 'POST'],
  subscription: ['GET', 'POST'],
};

/** tRPC's test for an answer that only a streamed batch can carry (promises, async iterables). */
function isDataStream(value: unknown): boolean {
  if (!isObject(value)) return false;
  if (isAsyncIterable(value)) return true;
  const values = Object.values(value);
  return values.some(isPromise) || values.some(isAsyncIterable);
}

/** tRPC types a router's error shape and config by the router's own types; here any router. */
const errorShape = (shape: Parameters<typeof getErrorShape>[0]): TRPCErrorShape =>
  getErrorShape(shape) as TRPCErrorShape;
const rootConfig = (router: AnyTRPCRouter): RootConfig<AnyRootTypes> => router._def._config as RootConfig<AnyRootTypes>;

const procedureType = (procedure: AnyProcedure | null): ProcedureType | 'unknown' => procedure?._def.type ?? 'unknown';

export async function resolvePlainCall<TRouter extends AnyTRPCRouter>(
  opts: PlainCallOptions<TRouter>,
  req: PlainRequest,
  rawPath: string,
): Promise<PlainAnswer | null> {
  if (req.method === 'HEAD' || getAcceptHeader(req.headers) === 'application/jsonl') return null;
  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    return null;
  }
  const { router } = opts;
  const config = rootConfig(router);
  const url = new URL(req.url);
  let info: TRPCRequestInfo;
  try {
    info = await getRequestInfo({
      // getRequestInfo reads method, headers and the body (json/text/formData) of its request:
      // PlainRequest's owner has all three.
      req: req as unknown as Request,
      path,
      router,
      searchParams: url.searchParams,
      headers: req.headers,
      url,
      maxBatchSize: opts.maxBatchSize,
    });
  } catch {
    return null;
  }
  const allowBatching = opts.allowBatching ?? opts.batching?.enabled ?? true;
  if (info.isBatchCall && !allowBatching) return null;
  if (info.calls.some((call) => call.procedure?._def.type === 'subscription')) return null;

  const headers = new AnswerHeaders();
  headers.set('vary', 'trpc-accept, accept');
  // As in resolveResponse, a context that fails is every call's error, after the checks that
  // need no context (an unknown procedure, a wrong method).
  let ctx: inferRouterContext<TRouter> | undefined;
  let ctxError: TRPCError | undefined;
  try {
    ctx = await opts.createContext({ info });
  } catch (cause) {
    ctxError = getTRPCErrorFromUnknown(cause);
  }

  const methods = opts.allowMethodOverride && req.method === 'POST' ? ACCEPTED_METHODS_WITH_OVERRIDE : ACCEPTED_METHODS;
  const outcomes = info.calls.map(async (call): Promise<CallOutcome> => {
    const procedure = call.procedure;
    try {
      if (!procedure) {
        throw new TRPCError({ code: 'NOT_FOUND', message: `No procedure found on path "${call.path}"` });
      }
      if (!methods[procedure._def.type].includes(req.method)) {
        throw new TRPCError({
          code: 'METHOD_NOT_SUPPORTED',
          message: `Unsupported ${req.method}-request to ${procedure._def.type} procedure at path "${call.path}"`,
        });
      }
      if (ctxError) throw ctxError;
      const data: unknown = await procedure({
        path: call.path,
        getRawInput: call.getRawInput,
        ctx,
        type: procedure._def.type,
        signal: req.signal,
        batchIndex: call.batchIndex,
      });
      return [undefined, data];
    } catch (cause) {
      const error = getTRPCErrorFromUnknown(cause);
      opts.onError?.({
        error,
        path: call.path,
        input: call.result(),
        ctx,
        type: procedureType(procedure),
        req: req as never,
      });
      return [error, undefined];
    }
  });

  const settled = await Promise.all(outcomes);
  headers.set('content-type', 'application/json');
  try {
    return info.isBatchCall
      ? batchAnswer(opts, info, ctx, settled, headers)
      : singleAnswer(opts, info, ctx, settled[0], headers);
  } catch (cause) {
    // resolveResponse's last catch (a stream-like answer to a plain call, a responseMeta or a
    // JSON.stringify that threw): onError without a path, then the error as the whole answer.
    const error = getTRPCErrorFromUnknown(cause);
    opts.onError?.({ error, path: undefined, input: undefined, ctx, type: info.type, req: req as never });
    const untransformed: TRPCResponse = {
      error: errorShape({ config, error, type: info.type, path: undefined, input: undefined, ctx }),
    };
    return answer(opts, info, ctx, [error], headers, untransformed);
  }
}

const streamOnly = () =>
  new TRPCError({
    code: 'UNSUPPORTED_MEDIA_TYPE',
    message: 'Cannot use stream-like response in non-streaming request - use httpBatchStreamLink',
  });

function singleAnswer<TRouter extends AnyTRPCRouter>(
  opts: PlainCallOptions<TRouter>,
  info: TRPCRequestInfo,
  ctx: inferRouterContext<TRouter> | undefined,
  [error, data]: CallOutcome = [undefined, undefined],
  headers: AnswerHeaders,
): PlainAnswer {
  const call = info.calls[0];
  if (!error && isDataStream(data)) throw streamOnly();
  const untransformed: TRPCResponse = error
    ? {
        error: errorShape({
          config: rootConfig(opts.router),
          ctx,
          error,
          input: call?.result(),
          path: call?.path,
          type: info.type,
        }),
      }
    : { result: { data } };
  return answer(opts, info, ctx, error ? [error] : [], headers, untransformed);
}

function batchAnswer<TRouter extends AnyTRPCRouter>(
  opts: PlainCallOptions<TRouter>,
  info: TRPCRequestInfo,
  ctx: inferRouterContext<TRouter> | undefined,
  settled: CallOutcome[],
  headers: AnswerHeaders,
): PlainAnswer {
  const errors: TRPCError[] = [];
  const untransformed = settled.map(([error, data], index): TRPCResponse => {
    const call = info.calls[index];
    const failure = error ?? (isDataStream(data) ? streamOnly() : undefined);
    if (!failure) return { result: { data } };
    errors.push(failure);
    return {
      error: errorShape({
        config: rootConfig(opts.router),
        ctx,
        error: failure,
        input: call?.result(),
        path: call?.path,
        type: procedureType(call?.procedure ?? null),
      }),
    };
  });
  return answer(opts, info, ctx, errors, headers, untransformed);
}

/** tRPC's initResponse: the status from the answers, then responseMeta's headers and status. */
function answer<TRouter extends AnyTRPCRouter>(
  opts: PlainCallOptions<TRouter>,
  info: TRPCRequestInfo,
  ctx: inferRouterContext<TRouter> | undefined,
  errors: TRPCError[],
  headers: AnswerHeaders,
  body: TRPCResponse | TRPCResponse[],
): PlainAnswer {
  let status = getHTTPStatusCode(body);
  const meta = opts.responseMeta?.({
    ctx,
    info,
    paths: info.calls.map((call) => call.path),
    data: Array.isArray(body) ? body : [body],
    errors,
    eagerGeneration: false,
    type: info.calls.find((call) => call.procedure?._def.type)?.procedure?._def.type ?? 'unknown',
  });
  if (meta?.headers) {
    if (meta.headers instanceof Headers) {
      for (const [name, value] of meta.headers.entries()) headers.append(name, value);
    } else {
      // The object form (deprecated in tRPC 11): arrays appended, strings set.
      for (const [name, value] of Object.entries(meta.headers)) {
        if (Array.isArray(value)) for (const v of value) headers.append(name, v);
        else if (typeof value === 'string') headers.set(name, value);
      }
    }
  }
  if (meta?.status) status = meta.status;
  return { status, headers, body: JSON.stringify(transformTRPCResponse(rootConfig(opts.router), body)) };
}

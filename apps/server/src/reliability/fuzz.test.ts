/**
 * Fuzzing every procedure (issue 13) over real HTTP: a server listening on port 0 (SQLite), and
 * inputs derived from each procedure's own zod input schema — values the schema accepts (so the
 * calls reach the domain code, not only the validator), the same values with one field broken,
 * and arbitrary JSON — plus malformed envelopes: batches, superjson `meta`, wrong methods.
 *
 * Every answer must be below 500, and every error must be the API's own: a `reason` from
 * ERROR_REASONS, and a message free of engine or library text (no SQLite, superjson, JSON parser
 * or stack). Afterwards the database is consistent and the audit log verifies.
 */
import fc from 'fast-check';
import superjson from 'superjson';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appRouter } from '@gatehouse/api';
import { ERROR_REASONS } from '@gatehouse/api/error-reasons';
import { startTestServer, type RunningServer } from '../testing.js';
import { ADMIN, checkDatabase, ok, verifyAudit, type SignedIn } from './harness.js';

// ------------------------------------------------------------------ the procedures and their schemas
interface ZodLike {
  safeParse(value: unknown): { success: boolean };
  _zod: { def: Record<string, unknown> };
  minLength?: number | null;
  maxLength?: number | null;
  format?: string | null;
  minValue?: number | null;
  maxValue?: number | null;
  isInt?: boolean;
}
interface ProcedureLike {
  _def: { type: 'query' | 'mutation' | 'subscription'; inputs: ZodLike[] };
}
const procedures = Object.entries(appRouter._def.procedures as unknown as Record<string, ProcedureLike>).map(
  ([path, p]) => ({ path, type: p._def.type, schema: p._def.inputs[0] ?? null }),
);
type Procedure = (typeof procedures)[number];

/** Ids that exist (filled in beforeAll), so generated ids sometimes name a real member. */
const knownIds: string[] = [];

const junk = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom('__proto__', '\u0000', '\uD800', 'a'.repeat(300), '1e309', "'; drop table users; --"),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
  fc.dictionary(fc.constantFrom('__proto__', 'constructor', 'x'), fc.string({ maxLength: 5 }), { maxKeys: 2 }),
);

/** Addresses a plain email check accepts, the existing accounts' among them (taken, sign-in). */
const emails = fc.oneof(
  fc
    .tuple(
      fc.stringMatching(/^[a-z0-9][a-z0-9.+_-]{0,15}$/),
      fc.constantFrom('example.com', 'fuzz.test', 'Mail.Example.org'),
    )
    .filter(([local]) => !local.endsWith('.') && !local.includes('..'))
    .map(([local, domain]) => `${local}@${domain}`),
  fc.constantFrom(ADMIN.email, 'member1@fuzz.test', ' MEMBER2@Fuzz.Test '),
);

/**
 * An arbitrary of values the schema accepts (mostly: refinements and transforms are not
 * modelled), read from zod 4's definitions. `field` picks emails for fields named so.
 */
function valid(schema: ZodLike, field = '', depth = 0): fc.Arbitrary<unknown> {
  const def = schema._zod.def;
  const inner = (key: 'innerType' | 'in' | 'element') => valid(def[key] as ZodLike, field, depth + 1);
  switch (def.type) {
    case 'string': {
      if (schema.format === 'uuid' || schema.format === 'guid')
        return knownIds.length > 0 ? fc.oneof(fc.uuid(), fc.constantFrom(...knownIds)) : fc.uuid();
      if (schema.format === 'email' || /email|identifier/i.test(field)) return emails;
      const patterns = ((def.checks ?? []) as ZodLike[])
        .map((check) => check._zod.def.pattern)
        .filter((p): p is RegExp => p instanceof RegExp);
      const min = schema.minLength ?? 0;
      const max = Math.min(schema.maxLength ?? 64, 512);
      if (patterns.length === 1 && patterns[0]) {
        return fc.stringMatching(patterns[0]).filter((s) => s.length >= min && s.length <= max);
      }
      // Schemas trim before they count: pad what trimming would cut below the minimum.
      return fc
        .string({ minLength: min, maxLength: Math.max(min, Math.min(max, min + 40)) })
        .map((s) => (s.trim().length >= min ? s : s.trim().padEnd(min, 'x')));
    }
    case 'number': {
      const min = Math.max(schema.minValue ?? -1e6, -1e6);
      const max = Math.min(schema.maxValue ?? 1e6, 1e6);
      return schema.isInt ? fc.integer({ min, max }) : fc.double({ min, max, noNaN: true });
    }
    case 'boolean':
      return fc.boolean();
    case 'date':
      return fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true });
    case 'enum':
      return fc.constantFrom(...Object.values(def.entries as Record<string, string>));
    case 'literal':
      return fc.constantFrom(...(def.values as unknown[]));
    case 'optional':
      return fc.option(inner('innerType'), { nil: undefined });
    case 'nullable':
      return fc.option(inner('innerType'), { nil: null });
    case 'default':
    case 'prefault':
      return fc.option(inner('innerType'), { nil: undefined });
    case 'pipe':
      return inner('in');
    case 'array':
      // At least one element: an empty list is the usual `.min(1)` refusal, and junk covers it.
      return depth > 4 ? fc.constant([]) : fc.array(inner('element'), { minLength: 1, maxLength: 3 });
    case 'union':
      return fc.oneof(...(def.options as ZodLike[]).map((o) => valid(o, field, depth + 1)));
    case 'object': {
      const shape = def.shape as Record<string, ZodLike>;
      const entries = Object.entries(shape).map(([key, value]) => [key, valid(value, key, depth + 1)] as const);
      return fc.record(Object.fromEntries(entries)).map((record) =>
        // fc.record keeps optional keys with `undefined`; drop them as a JSON client would.
        Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined)),
      );
    }
    default:
      return junk;
  }
}

/** A valid value with one field replaced by junk, removed, or joined by an unknown one. */
function broken(schema: ZodLike): fc.Arbitrary<unknown> {
  return fc
    .tuple(valid(schema), fc.nat(), junk, fc.constantFrom('replace', 'remove', 'extra'))
    .map(([value, pick, replacement, how]) => {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return replacement;
      const record = { ...(value as Record<string, unknown>) };
      const keys = Object.keys(record);
      const key = keys.length > 0 ? keys[pick % keys.length] : undefined;
      if (how === 'extra' || key === undefined) record[`x${pick % 7}`] = replacement;
      else if (how === 'remove') delete record[key];
      else record[key] = replacement;
      return record;
    });
}

const inputFor = (procedure: Procedure): fc.Arbitrary<unknown> =>
  procedure.schema === null
    ? fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: junk })
    : fc.oneof(
        { weight: 5, arbitrary: valid(procedure.schema) },
        { weight: 3, arbitrary: broken(procedure.schema) },
        { weight: 1, arbitrary: junk },
        { weight: 1, arbitrary: fc.constant(undefined) },
      );

// ------------------------------------------------------------------ the server and the checks
let server: RunningServer;
let admin: SignedIn;
let cases = 0;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

/** What must never reach a client: engine, parser and library words, file paths, stack frames. */
const LEAK = /superjson|JSON|SQLITE|sqlite|kysely|zod|better-sqlite|stack|\bat .+:\d+:\d+|node_modules|\/src\//;
const REASONS = new Set<string>(ERROR_REASONS);

interface ErrorEnvelope {
  error?: { json?: { message?: unknown; data?: { reason?: unknown; httpStatus?: unknown; stack?: unknown } } };
}

/** Checks one response: no 5xx; a tRPC error (single or in a batch) carries a known reason and no leak. */
function checkResponse(status: number, text: string, what: string): void {
  if (status >= 500) throw new Error(`${what}: HTTP ${status} ${text.slice(0, 400)}`);
  if (status < 400 && !text.includes('"error"')) return;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`${what}: HTTP ${status} with a body that is not JSON: ${text.slice(0, 200)}`);
  }
  const envelopes = (Array.isArray(body) ? body : [body]) as ErrorEnvelope[];
  for (const envelope of envelopes) {
    if (!envelope.error) continue;
    const message = envelope.error.json?.message;
    const data = envelope.error.json?.data;
    if (typeof data?.reason !== 'string' || !REASONS.has(data.reason)) {
      throw new Error(`${what}: error without a known reason: ${text.slice(0, 400)}`);
    }
    if (typeof message !== 'string' || LEAK.test(message) || data.stack !== undefined) {
      throw new Error(`${what}: error message leaks internals: ${text.slice(0, 400)}`);
    }
  }
}

/** superjson's envelope, or null where superjson refuses (it throws on `__proto__`/`constructor` keys). */
function serialized(input: unknown): object | null {
  try {
    return superjson.serialize(input);
  } catch {
    return null;
  }
}

function authFor(mode: string): Record<string, string> {
  if (mode === 'admin') return { authorization: `Bearer ${admin.token}` };
  if (mode === 'garbage') return { authorization: 'Bearer x.y' };
  return {};
}

/** Signs the admin in again when a fuzzed call ended their session (e.g. session.revoke of it). */
async function keepAdminSignedIn(): Promise<void> {
  const me = await fetch(`${server.url}/trpc/auth.me`, { headers: authFor('admin') });
  await me.text();
  if (me.status === 401) {
    admin = await ok<SignedIn>(server.url, 'mutation', 'auth.signIn', {
      identifier: ADMIN.email,
      password: ADMIN.password,
    });
  }
}

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  server = await startTestServer();
  admin = await ok<SignedIn>(server.url, 'mutation', 'auth.createFirstUser', ADMIN);
  for (const n of [1, 2]) {
    const member = await ok<{ id: string }>(
      server.url,
      'mutation',
      'user.create',
      { email: `member${n}@fuzz.test`, name: `Member ${n}`, password: `member-Pass-word-${n}${n}` },
      admin.token,
    );
    knownIds.push(member.id);
  }
});

afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  await server?.stop();
});

describe('fuzzing every procedure over HTTP', () => {
  it('the schema-derived values are mostly valid (so the fuzz reaches past validation)', () => {
    const withSchema = procedures.filter((p): p is Procedure & { schema: ZodLike } => p.schema !== null);
    expect(withSchema.length).toBeGreaterThan(15);
    for (const procedure of withSchema) {
      // A fixed seed: the same 50 samples on every run and Node version (the threshold is the
      // generator's quality, not luck).
      const samples = fc.sample(valid(procedure.schema), { numRuns: 50, seed: 0x6a7e });
      cases += samples.length;
      const accepted = samples.filter((s) => procedure.schema.safeParse(s).success).length;
      expect.soft(accepted, procedure.path).toBeGreaterThanOrEqual(35);
    }
  });

  it('every procedure, valid-ish and broken inputs, whoever calls: never a 5xx, always a reason', async () => {
    const auth = fc.constantFrom('admin', 'admin', 'admin', 'none', 'garbage');
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...procedures).chain((p) => fc.tuple(fc.constant(p), inputFor(p), auth, fc.boolean())),
        async ([procedure, input, requestedAuth, wrapped]) => {
          cases++;
          let mode = requestedAuth;
          // Never end the admin's session on purpose, never open a live event stream as them.
          if (mode === 'admin' && (procedure.path === 'auth.signOut' || procedure.type === 'subscription'))
            mode = 'none';
          // As the client sends it (superjson, which refuses to serialize a `__proto__` key), or
          // as a plain `{ json }` envelope.
          const envelope = (wrapped && serialized(input)) || (input === undefined ? undefined : { json: input });
          const headers = authFor(mode);
          const what = `${procedure.path} (${mode}) ${JSON.stringify(envelope)?.slice(0, 200)}`;
          const response =
            procedure.type === 'mutation'
              ? await fetch(`${server.url}/trpc/${procedure.path}`, {
                  method: 'POST',
                  headers: { 'content-type': 'application/json', ...headers },
                  body: envelope === undefined ? '' : JSON.stringify(envelope),
                  signal: AbortSignal.timeout(10_000),
                })
              : await fetch(
                  `${server.url}/trpc/${procedure.path}${envelope === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify(envelope))}`}`,
                  { headers, signal: AbortSignal.timeout(10_000) },
                );
          // A subscription answers with an event stream: its first bytes are enough.
          const text =
            procedure.type === 'subscription' && response.status === 200
              ? (await response.body?.cancel(), '')
              : await response.text();
          checkResponse(response.status, text, what);
          if (mode === 'admin' && response.status === 401) await keepAdminSignedIn();
        },
      ),
      { numRuns: 4_000 },
    );
  }, 120_000);

  it('malformed envelopes: batches, superjson meta, methods, bodies — never a 5xx, always a reason', async () => {
    const paths = fc.oneof(
      { weight: 5, arbitrary: fc.constantFrom(...procedures.map((p) => p.path)) },
      { weight: 1, arbitrary: fc.constantFrom('auth.me,auth.setupStatus', 'auth.me,nope', 'nope', 'auth.') },
    );
    const meta = fc.oneof(
      fc.record({
        values: fc.dictionary(
          fc.constantFrom('', 'a', 'email', 'since', '__proto__', 'constructor.prototype', 'limit'),
          fc.oneof(
            fc.constantFrom('Date', 'bigint', 'set', 'map', 'undefined', 'regexp', 'Error', 'number', 'custom'),
            fc.constant(['class', 'X']),
            fc.constant(['custom', 'nope']),
            fc.jsonValue({ maxDepth: 2 }),
          ),
          { maxKeys: 3 },
        ),
      }),
      fc.record({ referentialEqualities: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 })) }),
      fc.jsonValue({ maxDepth: 2 }),
    );
    const item = fc.oneof(
      fc.record({ json: fc.jsonValue({ maxDepth: 3 }), meta }),
      fc.record({ json: fc.jsonValue({ maxDepth: 3 }) }),
      fc.jsonValue({ maxDepth: 2 }),
    );
    const batch = fc.oneof(
      fc.dictionary(fc.constantFrom('0', '1', '2', '-1', 'x', '__proto__', '999'), item, { maxKeys: 3 }),
      fc.array(item, { maxLength: 3 }),
      item,
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST', 'POST', 'PUT', 'PATCH', 'DELETE'),
        paths,
        fc.boolean(),
        fc.oneof(batch, item),
        fc.constantFrom('admin', 'none'),
        async (method, path, asBatch, body, mode) => {
          cases++;
          const payload = JSON.stringify(body);
          const query = [asBatch ? 'batch=1' : '', method === 'GET' ? `input=${encodeURIComponent(payload)}` : '']
            .filter(Boolean)
            .join('&');
          // Keep the admin (batches may name auth.signOut); open no live event stream as them.
          const headers = /signOut|audit\.events/.test(path) ? authFor('none') : authFor(mode);
          const response = await fetch(`${server.url}/trpc/${path}${query ? `?${query}` : ''}`, {
            method,
            headers: method === 'GET' ? headers : { 'content-type': 'application/json', ...headers },
            ...(method === 'GET' ? {} : { body: payload }),
            signal: AbortSignal.timeout(10_000),
          });
          checkResponse(
            response.status,
            await response.text(),
            `${method} ${path} batch=${asBatch} ${payload.slice(0, 200)}`,
          );
        },
      ),
      { numRuns: 5_300 },
    );
  }, 120_000);

  it('afterwards: ≥ 10,000 cases, no unhandled rejection, the database consistent, the audit log verifying', async () => {
    expect(cases).toBeGreaterThanOrEqual(10_000);
    expect(unhandled).toEqual([]);
    const report = await checkDatabase(server.config.databaseUrl);
    expect(report.problems).toEqual([]);
    await keepAdminSignedIn();
    const verified = await verifyAudit(server.url, admin.token);
    expect(verified).toMatchObject({ ok: true, firstInvalidSeq: null });
    expect(verified.checked).toBe(report.auditEvents);
  });
});

import fc from 'fast-check';
import superjson from 'superjson';
import { describe, expect, it } from 'vitest';
import { appRouter } from '@gatehouse/api';
import {
  batchRefusal,
  clientIp,
  isWellFormedEnvelope,
  MAX_BATCH_SIZE,
  PASSWORD_HASHING_PROCEDURES,
  redactUrl,
} from './request-guard.js';

interface ProcedureDef {
  type: string;
  inputs: {
    def?: {
      shape?: Record<string, unknown>;
      /** A discriminated union's variants (issue 15: `auth.reauthenticate`). */
      options?: { def?: { shape?: Record<string, unknown> } }[];
    };
  }[];
}

/** Every mutation whose input has a password field, read from the router itself. */
function mutationsTakingAPassword(): string[] {
  const procedures = (appRouter as unknown as { _def: { procedures: Record<string, { _def: ProcedureDef }> } })._def
    .procedures;
  return Object.entries(procedures)
    .filter(([, { _def }]) => _def.type === 'mutation')
    .filter(([, { _def }]) => {
      const def = _def.inputs[0]?.def;
      const shapes = [def?.shape ?? {}, ...(def?.options ?? []).map((o) => o.def?.shape ?? {})];
      return shapes.some((shape) => Object.keys(shape).some((key) => /password/i.test(key)));
    })
    .map(([path]) => path)
    .sort();
}

describe('the batch rules', () => {
  it('name exactly the mutations that take a password (a new one must be added)', () => {
    expect([...PASSWORD_HASHING_PROCEDURES].sort()).toEqual(mutationsTakingAPassword());
  });

  it('allow up to 10 calls and one hashing call among them', () => {
    expect(batchRefusal(Array.from({ length: MAX_BATCH_SIZE }, () => 'auth.me'))).toBeNull();
    expect(batchRefusal(['auth.signIn', 'auth.me', 'system.version'])).toBeNull();
    expect(batchRefusal(Array.from({ length: MAX_BATCH_SIZE + 1 }, () => 'auth.me'))).toMatch(/at most 10/);
    expect(batchRefusal(['auth.signIn', 'user.setPassword'])).toMatch(/cannot be batched/);
  });
});

describe('superjson envelopes', () => {
  // What a client can send through superjson: JSON values, Dates, undefined, NaN/±Infinity.
  const inputs = fc.anything({
    maxDepth: 4,
    withDate: true,
    withBigInt: false,
    withMap: false,
    withSet: false,
    withBoxedValues: false,
    withTypedArray: false,
    withSparseArray: false,
    withNullPrototype: false,
    withObjectString: false,
  });

  it('accepts whatever superjson writes for such inputs', () => {
    fc.assert(
      fc.property(inputs, (input) => {
        // superjson itself refuses to serialize `__proto__`, `constructor` and `prototype` keys.
        let serialized: unknown;
        try {
          serialized = superjson.serialize(input);
        } catch {
          fc.pre(false);
        }
        const envelope = JSON.parse(JSON.stringify(serialized)) as unknown;
        expect(isWellFormedEnvelope(envelope)).toBe(true);
      }),
      { numRuns: 2000 },
    );
    // One object in two places: superjson records the identity (referentialEqualities).
    const shared = { at: new Date(0) };
    const envelope = JSON.parse(JSON.stringify(superjson.serialize({ a: shared, b: [shared] }))) as {
      meta: { referentialEqualities?: unknown };
    };
    expect(envelope.meta.referentialEqualities).toBeDefined();
    expect(isWellFormedEnvelope(envelope)).toBe(true);
  });

  it('refuses trees superjson would loop on or fail in', () => {
    for (const meta of [
      { values: { identifier: ['class', 'X'] } },
      { values: { a: 'Date' } },
      { values: ['Date', 'x'] },
      { values: { a: ['regexp'] } },
      { values: { 'a\\x': ['Date'] } },
      { v: 2 },
    ]) {
      expect(isWellFormedEnvelope({ json: { a: 'x', identifier: 'y' }, meta }), JSON.stringify(meta)).toBe(false);
    }
  });
});

describe('redactUrl', () => {
  it('replaces the input parameter however its name is spelled, and keeps the rest', () => {
    expect(redactUrl('/trpc/auth.signIn?input=%7B%22password%22%7D')).toBe('/trpc/auth.signIn?input=[redacted]');
    expect(redactUrl('/trpc/a,b?batch=1&input={}&x=1')).toBe('/trpc/a,b?batch=1&input=[redacted]&x=1');
    expect(redactUrl('/trpc/a?%69nput=secret')).toBe('/trpc/a?%69nput=[redacted]');
    expect(redactUrl('/health')).toBe('/health');
    expect(redactUrl('/trpc/a?inputs=1')).toBe('/trpc/a?inputs=1');
  });
});

describe('clientIp', () => {
  const socket = { remoteAddress: '10.0.0.5' };
  it('keeps an IP address and replaces anything else with the socket address', () => {
    expect(clientIp({ ip: '203.0.113.9', socket })).toBe('203.0.113.9');
    expect(clientIp({ ip: '::1', socket })).toBe('::1');
    expect(clientIp({ ip: '<script>', socket })).toBe('10.0.0.5');
    expect(clientIp({ ip: '', socket })).toBe('10.0.0.5');
  });
});

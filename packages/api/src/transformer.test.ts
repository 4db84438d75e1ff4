import fc from 'fast-check';
import superjson from 'superjson';
import { describe, expect, it } from 'vitest';
import { serialize, transformer } from './transformer.js';

/** What goes on the wire: the two must agree to the byte. */
const wire = (value: unknown) => JSON.stringify(serialize(value));
const reference = (value: unknown) => JSON.stringify(superjson.serialize(value));
/** What a client receives: the JSON text parsed back. */
const received = (text: string) => JSON.parse(text) as ReturnType<typeof superjson.serialize>;

const date = fc.date({ noInvalidDate: false, min: new Date(-8.64e15), max: new Date(8.64e15) });
// Keys that superjson escapes (dots, backslashes), the empty key, and the ones it refuses.
const key = fc.oneof(
  fc.string({ maxLength: 6 }),
  fc.constantFrom('a.b', 'a\\b', '', '.', '\\.', '0', 'constructor', '__proto__', 'prototype'),
);
// Only what the fast walk writes itself (no value superjson must take over)…
const plainLeaf = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.integer(),
  fc.date({ noInvalidDate: true }),
);
// …and everything superjson annotates otherwise.
const leaf = fc.oneof(
  plainLeaf,
  fc.double(), // NaN, ±Infinity and -0 included
  date,
  fc.bigInt(),
  fc.constant(new Map([['k', new Date(0)]])),
  fc.constant(new Set([1])),
  fc.constant(/x/g),
);

/** Objects and arrays (up to five entries) of `leaf`, nested, with keys from `key`. */
function nested(leaf: fc.Arbitrary<unknown>, key: fc.Arbitrary<string>): fc.Arbitrary<unknown> {
  return fc.letrec((tie) => ({
    tree: fc.oneof({ depthSize: 'small' }, leaf, tie('array'), tie('object')),
    array: fc.array(tie('tree'), { maxLength: 5 }),
    object: fc.dictionary(key, tie('tree'), { maxKeys: 5 }),
  })).tree;
}
const value = nested(leaf, key);

const plainKey = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('a.b', 'a\\b', '', '.', '0'));
const plainValue = nested(plainLeaf, plainKey);

describe('the wire transformer (superjson format, faster)', () => {
  it('writes what superjson writes for plain data with Dates and undefined (the fast walk)', () => {
    fc.assert(
      fc.property(plainValue, (v) => {
        expect(wire(v)).toBe(reference(v));
      }),
      { numRuns: 3000 },
    );
  });

  it('writes what superjson writes, for any value (including the ones it hands to superjson)', () => {
    fc.assert(
      fc.property(value, (v) => {
        let expected: string;
        try {
          expected = reference(v);
        } catch (error) {
          // superjson refuses some keys: so must we, with its error.
          expect(() => wire(v)).toThrow((error as Error).message);
          return;
        }
        expect(wire(v)).toBe(expected);
      }),
      { numRuns: 3000 },
    );
  });

  it('writes what superjson writes for what procedures return: objects with Dates, nulls and undefined', () => {
    const user = {
      id: '0193c0de-aaaa-7bbb-8ccc-123456789abc',
      email: 'ada@example.com',
      username: null,
      createdAt: new Date('2026-12-02T10:00:00.000Z'),
      lastSignInAt: new Date('2026-12-02T11:00:00.000Z'),
      emailVerifiedAt: null,
      externalId: undefined,
    };
    const answer = { user, sessions: [{ id: 's1', expiresAt: new Date(1) }], 'odd.key': { 'a\\b': new Date(2) } };
    expect(wire(answer)).toBe(reference(answer));
    expect(wire({ plain: [1, 'two', true, null] })).toBe(reference({ plain: [1, 'two', true, null] }));
    for (const root of [undefined, null, 'text', 42, new Date(3), [new Date(4)], {}, []]) {
      expect(wire(root)).toBe(reference(root));
    }
  });

  it('keeps shared references and holes as superjson does (it writes them)', () => {
    const at = new Date(5);
    const shared = { a: at, b: at };
    expect(wire(shared)).toBe(reference(shared));
    expect(serialize(shared).meta?.referentialEqualities).toEqual({ a: ['b'] });
    const object = { x: 1 };
    expect(wire([object, object])).toBe(reference([object, object]));
    // eslint-disable-next-line no-sparse-arrays -- the hole is the point
    const holey = [1, , 3];
    expect(wire(holey)).toBe(reference(holey));
  });

  it('reads back through superjson to the same value', () => {
    fc.assert(
      fc.property(value, (v) => {
        let serialized;
        try {
          serialized = serialize(v);
        } catch {
          return;
        }
        expect(transformer.deserialize(received(JSON.stringify(serialized)))).toEqual(
          superjson.deserialize(received(reference(v))),
        );
      }),
      { numRuns: 1000 },
    );
  });
});

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson, leafHash, leafInput, leafInputFromStored, normalizeData } from './leaf.js';

const fields = {
  seq: 7,
  at: new Date('2025-01-02T03:04:05.678Z'),
  type: 'auth.sign_in',
  actorId: 'u1',
  targetId: null,
  ip: '127.0.0.1',
  userAgent: 'curl/8',
  data: { z: 1, a: { y: [true, null, 'é'], b: 1.5e-7 } },
};

describe('leaf encoding', () => {
  it('is RFC 8785 canonical JSON with sorted keys', () => {
    expect(leafInput(fields).toString('utf8')).toBe(
      '{"actorId":"u1","at":"2025-01-02T03:04:05.678Z","data":{"a":{"b":1.5e-7,"y":[true,null,"é"]},"z":1},' +
        '"ip":"127.0.0.1","seq":7,"targetId":null,"type":"auth.sign_in","userAgent":"curl/8"}',
    );
  });

  it('hashes as SHA-256(0x00 ‖ input)', () => {
    const expected = createHash('sha256')
      .update(Buffer.from([0]))
      .update(leafInput(fields))
      .digest();
    expect(leafHash(fields)).toEqual(expected);
  });

  it('does not depend on key order', () => {
    const reordered = { ...fields, data: { a: { b: 1.5e-7, y: [true, null, 'é'] }, z: 1 } };
    expect(leafHash(reordered)).toEqual(leafHash(fields));
  });

  it('changes with every field', () => {
    const base = leafHash(fields).toString('hex');
    const variants = [
      { ...fields, seq: 8 },
      { ...fields, at: new Date(fields.at.getTime() + 1) },
      { ...fields, type: 'auth.sign_out' },
      { ...fields, actorId: null },
      { ...fields, targetId: 'u2' },
      { ...fields, ip: null },
      { ...fields, userAgent: 'x' },
      { ...fields, data: { z: 2 } },
    ];
    for (const v of variants) expect(leafHash(v).toString('hex')).not.toBe(base);
  });

  it('normalises data to what storage gives back and rejects non-JSON', () => {
    expect(normalizeData({ b: undefined, a: new Date(0) })).toEqual({
      json: '{"a":"1970-01-01T00:00:00.000Z"}',
      value: { a: '1970-01-01T00:00:00.000Z' },
    });
    expect(() => normalizeData({ n: Number.NaN })).toThrow();
    expect(() => normalizeData({ f: () => 1 })).toThrow();
    expect(() => canonicalJson(10n)).toThrow();
    expect(() => leafInput({ ...fields, seq: 0 })).toThrow();
  });
});

describe('leafInputFromStored', () => {
  it('equals leafInput for canonically stored data', () => {
    const odd = {
      ...fields,
      actorId: 'a"\\\u2028\u0001',
      userAgent: null,
      data: { é: 1, e: '\ud83d\ude00', '': [1e21, -0, 0.1] },
    };
    const stored = normalizeData(odd.data).json;
    expect(
      leafInputFromStored(
        odd.seq,
        odd.at.toISOString(),
        odd.type,
        odd.actorId,
        odd.targetId,
        odd.ip,
        odd.userAgent,
        stored,
      ),
    ).toBe(leafInput({ ...odd, data: normalizeData(odd.data).value }).toString('utf8'));
  });
});

describe('RFC 8785 known answer', () => {
  it('canonicalises the example of RFC 8785 §3.2.2 to §3.2.3', () => {
    const input = String.raw`{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],"string":"\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/","literals":[null,true,false]}`;
    const expected = String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`;
    expect(canonicalJson(JSON.parse(input))).toBe(expected);
  });
});

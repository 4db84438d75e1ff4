/**
 * Leaf encoding of an audit event (architecture §8): the leaf input is the RFC 8785 (JCS) canonical JSON
 * of {seq, at, type, actorId, targetId, ip, userAgent, data}, and leafHash = SHA-256(0x00 ‖ input).
 */
import canonicalizeImport from 'canonicalize';
import { hashLeaf } from './merkle.js';

type Canonicalize = (input: unknown) => string | undefined;
// canonicalize is CommonJS (`module.exports = fn`) with an ESM-style `export default` typing:
// Node's ESM loader hands us the function itself, some transpilers the `.default` property.
const canonicalize: Canonicalize =
  (canonicalizeImport as unknown as { default?: Canonicalize }).default ??
  (canonicalizeImport as unknown as Canonicalize);

type JsonObject = Record<string, unknown>;

/** Everything that is hashed into a leaf; `at` has millisecond precision. */
export interface LeafFields {
  readonly seq: number;
  readonly at: Date;
  readonly type: string;
  readonly actorId: string | null;
  readonly targetId: string | null;
  readonly ip: string | null;
  readonly userAgent: string | null;
  readonly data: JsonObject;
}

export class LeafEncodingError extends Error {
  override name = 'LeafEncodingError';
}

/** RFC 8785 text of a JSON value; rejects what JSON cannot represent (NaN, Infinity, BigInt, …). */
export function canonicalJson(value: unknown): string {
  let text: string | undefined;
  try {
    text = canonicalize(value);
  } catch (error) {
    throw new LeafEncodingError(`value is not representable as JSON: ${(error as Error).message}`);
  }
  if (text === undefined) throw new LeafEncodingError('value is not representable as JSON');
  return text;
}

/**
 * Normalises event data to exactly what the database will give back: the canonical JSON text and
 * the plain object parsed from it. Appends store the text, so the hash always matches the row.
 */
export function normalizeData(data: JsonObject): { json: string; value: JsonObject } {
  if (data === null || typeof data !== 'object' || Array.isArray(data))
    throw new LeafEncodingError('event data must be a JSON object');
  const json = canonicalJson(data);
  try {
    // canonicalize() embeds `undefined` for function values; parsing back catches that.
    return { json, value: JSON.parse(json) as JsonObject };
  } catch {
    throw new LeafEncodingError('event data is not representable as JSON');
  }
}

// A lone UTF-16 surrogate cannot be stored as UTF-8 text, and PostgreSQL text cannot hold NUL:
// either would make the stored row differ from what was hashed.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/u;

/** Rejects text fields that the databases would not store byte for byte. */
export function assertStorableText(name: string, value: string | null): void {
  if (value !== null && (value.includes('\u0000') || LONE_SURROGATE.test(value)))
    throw new LeafEncodingError(`${name} contains NUL or a lone surrogate`);
}

export function leafInput(fields: LeafFields): Buffer {
  if (!Number.isSafeInteger(fields.seq) || fields.seq < 1)
    throw new LeafEncodingError('seq must be a positive integer');
  if (Number.isNaN(fields.at.getTime())) throw new LeafEncodingError('at must be a valid date');
  const text = canonicalJson({
    seq: fields.seq,
    at: fields.at.toISOString(),
    type: fields.type,
    actorId: fields.actorId,
    targetId: fields.targetId,
    ip: fields.ip,
    userAgent: fields.userAgent,
    data: fields.data,
  });
  return Buffer.from(text, 'utf8');
}

export function leafHash(fields: LeafFields): Buffer {
  return hashLeaf(leafInput(fields));
}

/**
 * Leaf input from a stored row, without re-parsing `data`: the log stores the canonical JSON text
 * of `data`, so splicing it in yields exactly `leafInput()` of the original event. Any edit of the
 * stored text (even a semantically equal one) changes the bytes and therefore the hash. This is
 * the hot path of `verify` (one string build and one hash per event).
 */
export function leafInputFromStored(
  seq: number,
  atIso: string,
  type: string,
  actorId: string | null,
  targetId: string | null,
  ip: string | null,
  userAgent: string | null,
  dataJson: string,
): string {
  // Keys in RFC 8785 order (UTF-16 code units): actorId, at, data, ip, seq, targetId, type, userAgent.
  // JSON.stringify of a string or null is exactly the JCS serialisation of that value.
  return (
    `{"actorId":${JSON.stringify(actorId)},"at":${JSON.stringify(atIso)},"data":${dataJson},` +
    `"ip":${JSON.stringify(ip)},"seq":${seq},"targetId":${JSON.stringify(targetId)},` +
    `"type":${JSON.stringify(type)},"userAgent":${JSON.stringify(userAgent)}}`
  );
}

/**
 * The wire transformer: superjson's format (the SDK reads it with superjson), written without
 * superjson's generic walker for the values procedures return almost always — plain objects,
 * dense arrays, strings, booleans, null, finite numbers, `undefined` and valid `Date`s, each
 * object met once. Anything else (a Map, a Set, a BigInt, NaN, -0, a class instance, an object
 * reached twice, a key superjson refuses…) is handed to superjson itself, so what is sent is
 * superjson's output, byte for byte (transformer.test.ts compares both on generated values).
 *
 * Why (issue 18, docs/benchmarks.md): superjson checks every value against each of its rules,
 * copies the path array at every level and records every object's identity; on `auth.me` that was
 * about a sixth of the server's CPU. Reading (`deserialize`) stays superjson's.
 */
import superjson from 'superjson';

type SuperJSONResult = ReturnType<typeof superjson.serialize>;
type Annotation = ['Date'] | ['undefined'];

/** Thrown inside the fast walk (one instance, made once): this value needs superjson. */
const NEEDS_SUPERJSON = new Error('this value needs superjson');

const escapeKey = (key: string) => key.replace(/\\/g, '\\\\').replace(/\./g, '\\.');

/** superjson's own test: a null prototype or Object.prototype, but not Object.prototype itself. */
function isPlainObject(value: object): boolean {
  if (value === Object.prototype) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === null || proto === Object.prototype;
}

/** A child's annotations as superjson's walker returns them: one value's, or a level's by path. */
type Annotations = Annotation | Record<string, Annotation> | undefined;

/**
 * Adds a child's annotations to its level the way superjson's walker does, in plain objects, so
 * the keys come out in the same order (integer-like keys first: that is how objects order them).
 */
function addChild(level: Record<string, Annotation> | undefined, key: string, child: Annotations) {
  if (child === undefined) return level;
  const into = level ?? {};
  if (Array.isArray(child)) into[escapeKey(key)] = child;
  else for (const [path, tree] of Object.entries(child)) into[`${escapeKey(key)}.${path}`] = tree;
  return into;
}

/** The JSON form of `value` and its annotations, or NEEDS_SUPERJSON thrown. */
function walk(value: unknown, seen: Set<object>): { json: unknown; annotations: Annotations } {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return { json: value, annotations: undefined };
    case 'number':
      // NaN, ±Infinity and -0 are annotated (and NaN counted as an identity) by superjson.
      if (!Number.isFinite(value) || Object.is(value, -0)) throw NEEDS_SUPERJSON;
      return { json: value, annotations: undefined };
    case 'undefined':
      return { json: null, annotations: ['undefined'] };
    case 'object': {
      if (value === null) return { json: null, annotations: undefined };
      if (seen.has(value)) throw NEEDS_SUPERJSON; // superjson would write referentialEqualities
      seen.add(value);
      if (value instanceof Date) {
        if (Number.isNaN(value.getTime())) throw NEEDS_SUPERJSON;
        return { json: value.toISOString(), annotations: ['Date'] };
      }
      let level: Record<string, Annotation> | undefined;
      if (Array.isArray(value)) {
        const out: unknown[] = [];
        for (let i = 0; i < value.length; i++) {
          if (!(i in value)) throw NEEDS_SUPERJSON; // a hole: superjson keeps it, differently
          const child = walk(value[i], seen);
          out.push(child.json);
          level = addChild(level, String(i), child.annotations);
        }
        return { json: out, annotations: level };
      }
      if (!isPlainObject(value)) throw NEEDS_SUPERJSON;
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) {
        // superjson refuses these (a prototype-pollution guard): let it say so.
        if (key === '__proto__' || key === 'constructor' || key === 'prototype') throw NEEDS_SUPERJSON;
        const child = walk(item, seen);
        out[key] = child.json;
        level = addChild(level, key, child.annotations);
      }
      return { json: out, annotations: level };
    }
    default:
      throw NEEDS_SUPERJSON;
  }
}

export function serialize(value: unknown): SuperJSONResult {
  let walked;
  try {
    walked = walk(value, new Set());
  } catch (error) {
    if (error === NEEDS_SUPERJSON) return superjson.serialize(value);
    throw error;
  }
  const json = walked.json as SuperJSONResult['json'];
  return walked.annotations === undefined ? { json } : { json, meta: { values: walked.annotations, v: 1 } };
}

/** tRPC's `transformer`: superjson's format both ways, written faster (see above), read by superjson. */
export const transformer = {
  serialize,
  deserialize: (payload: SuperJSONResult): unknown => superjson.deserialize(payload),
};

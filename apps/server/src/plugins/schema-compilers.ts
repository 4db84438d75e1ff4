import type { ValidatorFactory } from '@fastify/ajv-compiler';
import type { SerializerFactory } from '@fastify/fast-json-stringify-compiler';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * Fastify's JSON-schema compilers (Ajv for validation, fast-json-stringify for serialization),
 * loaded when the first route that declares a schema is compiled instead of when the server is
 * built. Gatehouse's routes validate with zod inside tRPC and declare no Fastify schema, so in
 * practice neither ever loads: that keeps Ajv, fast-uri and fast-json-stringify's compiler
 * (the server chunk 1.66 → 1.07 MB) out of the start (issue 18; the server bundle leaves
 * both packages external, see tsdown.config.ts).
 *
 * They are Fastify's own defaults, built the way Fastify builds them. One difference follows from
 * passing a factory at all: Fastify then treats the validator as custom and hands a route's
 * `headers` schema over as written, so its property names must be lower case (as Node delivers
 * headers) — Fastify lowercases them only for its default compiler.
 */
export function lazySchemaCompilers(): { buildValidator: ValidatorFactory; buildSerializer: SerializerFactory } {
  return {
    buildValidator: loadedOnFirstCall(() => (require('@fastify/ajv-compiler') as () => ValidatorFactory)()),
    buildSerializer: loadedOnFirstCall(() =>
      (require('@fastify/fast-json-stringify-compiler') as () => SerializerFactory)(),
    ),
  };
}

/** A function that loads the real one on its first call and hands every call (overloads and all) to it. */
function loadedOnFirstCall<F extends (...args: never[]) => unknown>(load: () => F): F {
  let loaded: F | undefined;
  const call = (...args: unknown[]): unknown => {
    loaded ??= load();
    return Reflect.apply(loaded, undefined, args) as unknown;
  };
  // It forwards its arguments and result unchanged, so it is an F (TypeScript cannot see that).
  return call as unknown as F;
}

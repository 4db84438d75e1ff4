import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { lazySchemaCompilers } from './schema-compilers.js';

describe('lazySchemaCompilers', () => {
  it('validates and serializes a route schema as Fastify’s default compilers do', async () => {
    const app = Fastify({ schemaController: { compilersFactory: lazySchemaCompilers() } });
    app.post(
      '/echo',
      {
        schema: {
          body: {
            type: 'object',
            required: ['name'],
            properties: { name: { type: 'string', minLength: 1 } },
            additionalProperties: false,
          },
          headers: { type: 'object', properties: { 'x-count': { type: 'integer' } } },
          response: { 200: { type: 'object', properties: { name: { type: 'string' }, count: { type: 'integer' } } } },
        },
      },
      async (request) => ({
        ...(request.body as { name: string }),
        count: (request.headers as { 'x-count'?: number })['x-count'] ?? 0,
        secret: 'never serialized',
      }),
    );
    try {
      const ok = await app.inject({
        method: 'POST',
        url: '/echo',
        headers: { 'x-count': '3' },
        payload: { name: 'Ada' },
      });
      expect(ok.statusCode).toBe(200);
      // The response schema's serializer drops what the schema does not list; the header was coerced.
      expect(ok.json()).toEqual({ name: 'Ada', count: 3 });

      const bad = await app.inject({ method: 'POST', url: '/echo', payload: { name: '' } });
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toMatchObject({ code: 'FST_ERR_VALIDATION' });
    } finally {
      await app.close();
    }
  });
});

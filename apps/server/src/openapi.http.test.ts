/** `/openapi.json` and `/docs` (issue 16): a valid OpenAPI 3.1 document that matches what the server does. */
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type RunningServer } from './testing.js';

describe('the OpenAPI document', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('is valid OpenAPI 3.1 by an independent validator', async () => {
    const document = (await (await fetch(`${server.url}/openapi.json`)).json()) as Record<string, unknown>;
    const result = await new Validator().validate(document);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(document.openapi).toBe('3.1.0');
  });

  it('names every bridge endpoint, and each answers as documented without credentials', async () => {
    const document = (await (await fetch(`${server.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    };
    expect(Object.keys(document.paths).sort()).toEqual(
      ['/.well-known/jwks.json', '/auth/check', '/auth/sign-in', '/auth/token', '/oauth/introspect'].sort(),
    );
    for (const [path, methods] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        const response = await fetch(`${server.url}${path}`, { method: method.toUpperCase(), redirect: 'manual' });
        expect(Object.keys(operation.responses), `${method} ${path} → ${response.status}`).toContain(
          String(response.status),
        );
      }
    }
  });

  it('is browsable at /docs, with no script', async () => {
    const response = await fetch(`${server.url}/docs`);
    expect(response.headers.get('content-type')).toContain('text/html');
    const html = await response.text();
    expect(html).toContain('POST /oauth/introspect');
    expect(html).not.toContain('<script');
  });
});

/**
 * The OpenAPI 3.1 document of Gatehouse's plain HTTP endpoints (issue 16) at `/openapi.json`,
 * and `/docs`, a page rendering it on the server (no script: the CSP allows none from elsewhere,
 * and a listing needs none). The tRPC procedures are described in docs/api.md and typed by the
 * client SDK; they are not in this document.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Services } from '@gatehouse/api';

const identityHeaders = {
  'X-Gatehouse-User-Id': { description: 'The user id (UUID)', schema: { type: 'string' } },
  'X-Gatehouse-Email': {
    description: 'Printable ASCII as is; otherwise percent-encoded UTF-8',
    schema: { type: 'string' },
  },
  'X-Gatehouse-Name': {
    description: 'Printable ASCII as is; otherwise percent-encoded UTF-8',
    schema: { type: 'string' },
  },
  'X-Gatehouse-Role': { schema: { type: 'string', enum: ['admin', 'member'] } },
  'X-Gatehouse-Kind': { schema: { type: 'string', enum: ['person', 'service'] } },
  'X-Gatehouse-Session-Id': { description: 'The session (empty for an API key)', schema: { type: 'string' } },
  'X-Gatehouse-Api-Key-Id': { description: 'The API key (empty for a session)', schema: { type: 'string' } },
};

const oauthError = {
  type: 'object',
  required: ['error'],
  properties: { error: { type: 'string' }, error_description: { type: 'string' } },
};

function openApiDocument(publicOrigin: string) {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Gatehouse HTTP endpoints',
      version: '1',
      description:
        'Forward auth, JWT access tokens, the JWKS and token introspection (issue 16). The typed tRPC API is documented in docs/api.md.',
    },
    servers: [{ url: new URL(publicOrigin).origin }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'A session token, or an API key gh_…' },
        sessionCookie: { type: 'apiKey', in: 'cookie', name: 'gatehouse_session' },
      },
      schemas: { OAuthError: oauthError },
    },
    paths: {
      '/auth/check': {
        get: {
          summary: 'Forward auth (nginx auth_request, Caddy forward_auth, Traefik forwardAuth)',
          security: [{ bearer: [] }, { sessionCookie: [] }],
          parameters: [
            { name: 'role', in: 'query', required: false, schema: { type: 'string', enum: ['admin'] } },
            {
              name: 'redirect',
              in: 'query',
              required: false,
              description: '1: a signed-out browser navigation gets a 302 to sign in (Caddy, Traefik)',
              schema: { type: 'string', enum: ['1'] },
            },
          ],
          responses: {
            '200': { description: 'Valid; identity in the headers', headers: identityHeaders },
            '302': { description: 'Signed out browser navigation with ?redirect=1: to the sign-in screen' },
            '401': { description: 'No valid session, token or API key (with auth:check)' },
            '403': { description: '?role=admin and the caller is not an administrator' },
          },
        },
      },
      '/auth/sign-in': {
        get: {
          summary: 'Sign in, then return to an allow-listed URL',
          parameters: [{ name: 'rd', in: 'query', required: false, schema: { type: 'string', format: 'uri' } }],
          responses: {
            '302': { description: 'To `rd` when signed in, else to the dashboard (which returns here)' },
            '401': { description: 'Not a browser navigation and no `rd`' },
          },
        },
      },
      '/.well-known/jwks.json': {
        get: {
          summary: 'The public keys of the JWT access tokens (current, then previous)',
          responses: {
            '200': {
              description: 'A JWK set (Ed25519, alg EdDSA)',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    required: ['keys'],
                    properties: { keys: { type: 'array', items: { type: 'object' } } },
                  },
                },
              },
            },
          },
        },
      },
      '/auth/token': {
        post: {
          summary: 'Mint a short-lived JWT access token for the caller',
          security: [{ bearer: [] }, { sessionCookie: [] }],
          requestBody: {
            required: false,
            content: {
              'application/json': {
                schema: { type: 'object', properties: { audience: { type: 'string' } } },
              },
            },
          },
          responses: {
            '200': {
              description: 'The token',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    required: ['access_token', 'token_type', 'expires_in', 'audience'],
                    properties: {
                      access_token: { type: 'string' },
                      token_type: { type: 'string', const: 'Bearer' },
                      expires_in: { type: 'integer' },
                      audience: { type: 'string' },
                    },
                  },
                },
              },
            },
            '400': {
              description: 'An audience not in JWT_AUDIENCE',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/OAuthError' } } },
            },
            '401': {
              description: 'No valid session token or API key with auth:check',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/OAuthError' } } },
            },
            '403': {
              description: 'A cookie from an origin that is not allowed',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/OAuthError' } } },
            },
          },
        },
      },
      '/oauth/introspect': {
        post: {
          summary: 'Token introspection (RFC 7662) for session tokens, API keys and JWTs',
          description: 'Authenticate with an API key that has the auth:check scope.',
          security: [{ bearer: [] }],
          requestBody: {
            required: true,
            content: {
              'application/x-www-form-urlencoded': {
                schema: {
                  type: 'object',
                  required: ['token'],
                  properties: { token: { type: 'string' }, token_type_hint: { type: 'string' } },
                },
              },
            },
          },
          responses: {
            '200': {
              description: '`{ active: false }`, or the token’s owner and lifetime',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    required: ['active'],
                    properties: {
                      active: { type: 'boolean' },
                      token_type: { type: 'string', enum: ['session', 'api_key', 'access_token'] },
                      sub: { type: 'string' },
                      scope: { type: 'string' },
                      exp: { type: 'integer' },
                      iat: { type: 'integer' },
                      sid: { type: 'string' },
                      email: { type: 'string' },
                      role: { type: 'string' },
                    },
                  },
                },
              },
            },
            '400': {
              description: 'No `token`',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/OAuthError' } } },
            },
            '401': {
              description: 'The caller is not an API key with auth:check',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/OAuthError' } } },
            },
          },
        },
      },
    },
  };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

interface Operation {
  summary?: string;
  description?: string;
  responses: Record<string, { description: string }>;
}

/** The document as a plain HTML page (no scripts, no external assets). */
function docsPage(document: ReturnType<typeof openApiDocument>): string {
  const sections = Object.entries(document.paths as Record<string, Record<string, Operation>>)
    .map(([path, methods]) =>
      Object.entries(methods)
        .map(
          ([method, op]) => `<section><h2><code>${method.toUpperCase()} ${escapeHtml(path)}</code></h2>
<p>${escapeHtml(op.summary ?? '')}</p>${op.description ? `<p>${escapeHtml(op.description)}</p>` : ''}
<ul>${Object.entries(op.responses)
            .map(([code, r]) => `<li><strong>${code}</strong> ${escapeHtml(r.description)}</li>`)
            .join('')}</ul></section>`,
        )
        .join('\n'),
    )
    .join('\n');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(document.info.title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>${escapeHtml(document.info.title)}</h1><p>${escapeHtml(document.info.description)}</p>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>
${sections}</main></body></html>`;
}

export const openApiRoutes: FastifyPluginAsync<{ services: Services }> = async (app, { services }) => {
  const document = openApiDocument(services.config.publicOrigin);
  const page = docsPage(document);
  app.get('/openapi.json', async (_request, reply) => reply.header('cache-control', 'no-cache').send(document));
  app.get('/docs', async (_request, reply) => reply.type('text/html; charset=utf-8').send(page));
};

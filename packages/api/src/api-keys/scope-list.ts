/** The API key scopes (issue 16). Browser-safe, no imports: the schemas and the dashboard use it. */
export const API_KEY_SCOPES = [
  'users:read',
  'users:write',
  'sessions:read',
  'sessions:write',
  'audit:read',
  'auth:check',
] as const;

export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

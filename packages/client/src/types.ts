/**
 * The API's types as a client sees them — the one module of this package that refers to
 * `@gatehouse/api`, and only with `import type` (verbatimModuleSyntax erases it), so no server
 * code can reach a bundle. The publishable build swaps this module for a generated,
 * self-contained declaration of the same names (scripts/build.ts, scripts/router-types.ts).
 */
import type { AppRouter, AuditEvent, ErrorReason, Session, SignInResult, User } from '@gatehouse/api';
import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';

export type { AppRouter, AuditEvent, ErrorReason, Session, SignInResult, User };
export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;

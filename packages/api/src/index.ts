export { appRouter, type AppRouter } from './root.js';
export { createContext, type Context, type RequestInfo, type ResponseControl } from './context.js';
export type { Services, AuditAppender, PasswordHasher, SessionStore, SessionService } from './services.js';
export { createServices, type CreateServicesOptions } from './create-services.js';
export { createPasswordHasher, type Argon2Parameters } from './auth/passwords.js';
export type { SignInResult } from './auth/types.js';
export { type LoginThrottle, type ThrottleOptions } from './throttle/throttle.js';
export { defaultApiConfig, allowedOrigins, type ApiConfig } from './config.js';
// ---- email flows ----
export type { MailConfig } from './config.js';
export type { MailStatus } from './mail/service.js';
export type { Invitation } from './invitations/service.js';
export { returnOrigins } from './config.js';
export { systemClock, ManualClock, type Clock } from './clock.js';
export { DomainError } from './errors.js';
export type { AuthUser, SessionInfo, ValidatedSession } from './sessions/types.js';
export * from './audit/index.js';
export { newUserRow, type NewUserFields, type User, type Session } from './users/mapping.js';
export {
  createUser,
  findUserByIdentifier,
  getUserById,
  listUsers,
  needsSetup,
  setPassword,
  type AccountKind,
  type CreateUserInput,
  type SetPasswordInput,
  type UserDeps,
} from './users/service.js';
export { type ErrorReason } from './error-reasons.js';
export { apiActor, cliActor, type Actor } from './actor.js';
export { type Work, type Invalidation, type Invalidator } from './unit-of-work.js';
export { type Logger } from './logger.js';
// #17 user import
export * from './import/index.js';
export type { PasswordHashScheme } from './auth/legacy-hashes/index.js';
// ---- issue 15: second factors and step-up ----
export { resetMfa, type MfaStatus } from './mfa/service.js';
export type { PasskeyInfo } from './mfa/types.js';
export type { MfaMethod } from './auth/types.js';
export { MFA_POLICIES, type MfaPolicy } from './config.js';
// #16 bridges: API keys, forward auth, tokens
export { authenticate, type Authenticated } from './sessions/authenticate.js';
export type { ApiKeyInfo, ValidatedApiKey } from './api-keys/types.js';
export type { ApiKeyScope } from './api-keys/scope-list.js';
// #19 webhooks
export { parseAllowedHosts } from './webhooks/ssrf.js';
export type { WebhookInfo, WebhookDelivery } from './webhooks/service.js';

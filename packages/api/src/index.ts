export { appRouter, createCaller, type AppRouter, type RouterInputs, type RouterOutputs } from './root.js';
export { createContext, recordingResponse, type Context, type RequestInfo, type ResponseControl } from './context.js';
export type { Services, AuditAppender, PasswordHasher, SessionStore, SessionService } from './services.js';
export { createServices, type CreateServicesOptions } from './create-services.js';
export { createPasswordHasher, OWASP_ARGON2ID, isBcryptHash, type Argon2Parameters } from './auth/passwords.js';
export { assertPasswordPolicy, passwordPolicyViolation, isCommonPassword } from './auth/password-policy.js';
export type { SignInResult } from './auth/types.js';
export { defaultThrottleOptions, type LoginThrottle, type ThrottleOptions } from './throttle/throttle.js';
export { defaultApiConfig, allowedOrigins, type ApiConfig } from './config.js';
export { systemClock, ManualClock, type Clock } from './clock.js';
export { DomainError } from './errors.js';
export { GATEHOUSE_VERSION } from './routers/system.js';
export type { AuthUser, SessionInfo, ValidatedSession } from './sessions/types.js';
export * from './audit/index.js';
export { newUserRow, toUser, toSession, type NewUserFields, type User, type Session } from './users/mapping.js';
export {
  createUser,
  deleteUser,
  findUserByIdentifier,
  getUserById,
  listUsers,
  needsSetup,
  setPassword,
  updateUser,
  type AccountKind,
  type CreateUserInput,
  type SetPasswordInput,
  type UserDeps,
} from './users/service.js';
export { requireAdmin, isAdmin } from './users/authorize.js';
export { identifierKey } from './users/identifier.js';
export { ERROR_REASONS, isErrorReason, type ErrorReason } from './error-reasons.js';
export { apiActor, cliActor, systemActor, asUser, type Actor } from './actor.js';
export { transact, type Work, type Invalidation, type Invalidator } from './unit-of-work.js';
export { silentLogger, type Logger } from './logger.js';

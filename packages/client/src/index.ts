export {
  createGatehouseClient,
  gatehouseLinks,
  authMode,
  trpcEndpoint,
  type GatehouseClient,
  type GatehouseClientOptions,
  type GatehouseEventSource,
  type GatehouseFetch,
} from './client.js';
export { isGatehouseError, type GatehouseError, type GatehouseErrorCode, type GatehouseErrorData } from './errors.js';
export type {
  AppRouter,
  AuditEvent,
  ErrorReason,
  RouterInputs,
  RouterOutputs,
  Session,
  SignInResult,
  User,
} from './types.js';
export { TRPCClientError } from '@trpc/client';

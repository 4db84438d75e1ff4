import { createApiKey, listApiKeys, revokeApiKey, rotateApiKey } from '../api-keys/service.js';
import { apiKeyCreateInput, apiKeyIdInput, apiKeyListInput, apiKeyRotateInput } from '../schemas.js';
import { protectedProcedure, router } from '../trpc.js';
import { requireRecentAuthentication } from '../mfa/step-up.js';

/**
 * API keys (issue 16, `apiKey.*`): signed-in sessions only — a key cannot mint, rotate or list
 * keys (api-keys/scopes.ts leaves these out), so a leaked key cannot make itself a successor.
 * Step-up (#15): `create` and `rotate` need an authentication within the last 10 minutes
 * (FORBIDDEN `reauthentication_required`; `auth.reauthenticate` refreshes it).
 */
export const apiKeyRouter = router({
  create: protectedProcedure.input(apiKeyCreateInput).mutation(async ({ ctx, input }) => {
    await requireRecentAuthentication(ctx.services, ctx.auth);
    return createApiKey(ctx.services, ctx.actor, input);
  }),
  list: protectedProcedure
    .input(apiKeyListInput)
    .query(({ ctx, input }) => listApiKeys(ctx.services, ctx.actor, input ?? {})),
  revoke: protectedProcedure
    .input(apiKeyIdInput)
    .mutation(({ ctx, input }) => revokeApiKey(ctx.services, ctx.actor, input)),
  rotate: protectedProcedure.input(apiKeyRotateInput).mutation(async ({ ctx, input }) => {
    await requireRecentAuthentication(ctx.services, ctx.auth);
    return rotateApiKey(ctx.services, ctx.actor, input);
  }),
});

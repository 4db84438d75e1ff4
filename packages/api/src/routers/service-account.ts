import { serviceAccountCreateInput } from '../schemas.js';
import { adminProcedure, router } from '../trpc.js';
import { createServiceAccount } from '../users/service.js';

/**
 * Service accounts (issue 16): non-human users created by administrators. Listed, changed,
 * deactivated and deleted through `user.*` like anyone; their keys through `apiKey.*` with `ownerId`.
 */
export const serviceAccountRouter = router({
  create: adminProcedure
    .input(serviceAccountCreateInput)
    .mutation(({ ctx, input }) => createServiceAccount(ctx.services, ctx.actor, input)),
});

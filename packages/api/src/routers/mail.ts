import { mailStatus } from '../mail/service.js';
import { mailStatusInput } from '../schemas.js';
import { adminProcedure, router } from '../trpc.js';

/** Mail delivery (the outbox and its worker): administrators only. */
export const mailRouter = router({
  status: adminProcedure.input(mailStatusInput).query(({ ctx, input }) => mailStatus(ctx.services, ctx.actor, input)),
});

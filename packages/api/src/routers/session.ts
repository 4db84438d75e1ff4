import type { Context } from '../context.js';
import type { RequestMeta } from '../auth/types.js';
import { forUserInput, sessionIdInput } from '../schemas.js';
import {
  listOwnSessions,
  listSessionsForUser,
  revokeAllSessionsForUser,
  revokeOtherSessions,
  revokeSession,
  sessionStats,
} from '../sessions/service.js';
import { adminProcedure, protectedProcedure, router } from '../trpc.js';

const metaOf = (ctx: Context): RequestMeta => ({ ip: ctx.req.ip, userAgent: ctx.req.userAgent });

/** One's own sessions, and (admins) anyone's (design §7 `session.*`). */
export const sessionRouter = router({
  list: protectedProcedure.query(({ ctx }) => listOwnSessions(ctx.services, ctx.auth)),
  revoke: protectedProcedure.input(sessionIdInput).mutation(async ({ ctx, input }) => {
    const { wasCurrent } = await revokeSession(ctx.services, ctx.auth, input.id, metaOf(ctx));
    if (wasCurrent) ctx.res.clearSessionCookie();
    return { ok: true as const };
  }),
  revokeOthers: protectedProcedure.mutation(({ ctx }) => revokeOtherSessions(ctx.services, ctx.auth, metaOf(ctx))),
  listForUser: adminProcedure
    .input(forUserInput)
    .query(({ ctx, input }) => listSessionsForUser(ctx.services, ctx.auth, input.userId)),
  revokeAllForUser: adminProcedure.input(forUserInput).mutation(async ({ ctx, input }) => {
    const result = await revokeAllSessionsForUser(ctx.services, ctx.auth, input.userId, metaOf(ctx));
    if (input.userId === ctx.auth.user.id) ctx.res.clearSessionCookie();
    return result;
  }),
  stats: adminProcedure.query(({ ctx }) => sessionStats(ctx.services)),
});

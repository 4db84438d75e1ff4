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

/** One's own sessions, and (admins) anyone's (architecture §7 `session.*`). */
export const sessionRouter = router({
  list: protectedProcedure.query(({ ctx }) =>
    listOwnSessions(ctx.services, ctx.actor, { currentSessionId: ctx.auth.session.id }),
  ),
  revoke: protectedProcedure.input(sessionIdInput).mutation(async ({ ctx, input }) => {
    const { wasCurrent } = await revokeSession(ctx.services, ctx.actor, {
      sessionId: input.id,
      currentSessionId: ctx.auth.session.id,
    });
    if (wasCurrent) ctx.res.clearSessionCookie();
    return { ok: true as const };
  }),
  revokeOthers: protectedProcedure.mutation(({ ctx }) =>
    revokeOtherSessions(ctx.services, ctx.actor, { currentSessionId: ctx.auth.session.id }),
  ),
  listForUser: adminProcedure
    .input(forUserInput)
    .query(({ ctx, input }) =>
      listSessionsForUser(ctx.services, ctx.actor, { userId: input.userId, currentSessionId: ctx.auth.session.id }),
    ),
  revokeAllForUser: adminProcedure.input(forUserInput).mutation(async ({ ctx, input }) => {
    const result = await revokeAllSessionsForUser(ctx.services, ctx.actor, { userId: input.userId });
    if (input.userId === ctx.auth.user.id) ctx.res.clearSessionCookie();
    return result;
  }),
  stats: adminProcedure.query(({ ctx }) => sessionStats(ctx.services)),
});

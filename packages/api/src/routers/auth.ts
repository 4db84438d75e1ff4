import type { Context } from '../context.js';
import {
  changePassword,
  createFirstUser,
  me,
  setupStatus,
  signIn,
  signOut,
  signUp,
  updateProfile,
} from '../auth/service.js';
import type { SignInResult } from '../auth/types.js';
import { changePasswordInput, newAccountInput, signInInput, updateProfileInput } from '../schemas.js';
// #16 bridges
import { authTokenInput } from '../schemas.js';
import { protectedProcedure, publicProcedure, router } from '../trpc.js';
import { toSession } from '../users/mapping.js';

/** A signed-in result sets the session cookie (the server ignores it for bearer-only clients). */
function withCookie(ctx: Context, result: SignInResult): SignInResult {
  if (result.status === 'signed-in') ctx.res.setSessionCookie(result.token, result.expiresAt);
  return result;
}

/** First run, accounts and one's own credentials (architecture §7 `auth.*`). */
export const authRouter = router({
  setupStatus: publicProcedure.query(({ ctx }) => setupStatus(ctx.services)),
  createFirstUser: publicProcedure
    .input(newAccountInput)
    .mutation(async ({ ctx, input }) => withCookie(ctx, await createFirstUser(ctx.services, ctx.actor, input))),
  signUp: publicProcedure
    .input(newAccountInput)
    .mutation(async ({ ctx, input }) => withCookie(ctx, await signUp(ctx.services, ctx.actor, input))),
  signIn: publicProcedure.input(signInInput).mutation(async ({ ctx, input }) => {
    const result = await signIn(ctx.services, ctx.actor, { ...input, deviceCookie: ctx.req.deviceCookie ?? null });
    if (result.status === 'signed-in') {
      // This browser has now signed in to the account: it is exempt from the account's lockout.
      const device = ctx.services.throttle.devices.issue(result.user.id);
      ctx.res.setDeviceCookie?.(device.value, device.expiresAt);
    }
    return withCookie(ctx, result);
  }),
  signOut: protectedProcedure.mutation(async ({ ctx }) => {
    const result = await signOut(ctx.services, ctx.actor, { sessionId: ctx.auth.session.id });
    ctx.res.clearSessionCookie();
    return result;
  }),
  me: protectedProcedure.query(({ ctx }) => ({
    user: me(ctx.auth),
    session: toSession(ctx.auth.session, ctx.auth.session.id),
  })),
  changePassword: protectedProcedure.input(changePasswordInput).mutation(({ ctx, input }) =>
    changePassword(ctx.services, ctx.actor, {
      ...input,
      sessionId: ctx.auth.session.id,
      deviceCookie: ctx.req.deviceCookie ?? null,
    }),
  ),
  updateProfile: protectedProcedure
    .input(updateProfileInput)
    .mutation(({ ctx, input }) => updateProfile(ctx.services, ctx.actor, input)),
  // #16 bridges: a short-lived JWT access token for the caller (session, or key with auth:check)
  token: protectedProcedure
    .input(authTokenInput)
    .mutation(({ ctx, input }) => ctx.services.tokens.mint(ctx.auth, { audience: input?.audience })),
});

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
// issue 15: second factors and step-up
import { reauthenticateInput, signInWithPasskeyInput, verifyMfaInput } from '../schemas.js';
import { reauthenticate, verifyMfa } from '../mfa/service.js';
import { passkeySignInOptions, signInWithPasskey } from '../mfa/passkeys.js';
import { requireRecentAuthentication } from '../mfa/step-up.js';
import { mustEnrolMfa } from '../mfa/policy.js';
// #16 bridges
import { authTokenInput } from '../schemas.js';
import { protectedProcedure, publicProcedure, router } from '../trpc.js';
import { toSession } from '../users/mapping.js';
// ---- email flows ----
import {
  confirmEmailChange,
  requestEmailVerification,
  requestPasswordReset,
  resetPassword,
  verifyEmail,
} from '../account-tokens/service.js';
import { acceptInvitation } from '../invitations/service.js';
import { asUser } from '../actor.js';
import { authenticate } from '../sessions/authenticate.js';
import {
  acceptInvitationInput,
  accountTokenInput,
  requestEmailVerificationInput,
  requestPasswordResetInput,
  resetPasswordInput,
} from '../schemas.js';

/** A signed-in result sets the session cookie (the server ignores it for bearer-only clients). */
function withCookie<R extends SignInResult>(ctx: Context, result: R): R {
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
    /** issue 15: MFA_REQUIRED covers this user and no factor is set up: only enrolment is allowed. */
    mfaEnrolmentRequired: mustEnrolMfa(ctx.services.config, ctx.auth.user),
  })),
  changePassword: protectedProcedure.input(changePasswordInput).mutation(async ({ ctx, input }) => {
    await requireRecentAuthentication(ctx.services, ctx.auth);
    return changePassword(ctx.services, ctx.actor, {
      ...input,
      sessionId: ctx.auth.session.id,
      deviceCookie: ctx.req.deviceCookie ?? null,
    });
  }),
  updateProfile: protectedProcedure.input(updateProfileInput).mutation(async ({ ctx, input }) => {
    if (input.email !== undefined && input.email !== ctx.auth.user.email) {
      await requireRecentAuthentication(ctx.services, ctx.auth);
    }
    return updateProfile(ctx.services, ctx.actor, input);
  }),
  // ---- email flows (account-tokens/, invitations/) ----
  requestPasswordReset: publicProcedure
    .input(requestPasswordResetInput)
    .mutation(({ ctx, input }) => requestPasswordReset(ctx.services, ctx.actor, input)),
  resetPassword: publicProcedure
    .input(resetPasswordInput)
    .mutation(({ ctx, input }) => resetPassword(ctx.services, ctx.actor, input)),
  acceptInvitation: publicProcedure
    .input(acceptInvitationInput)
    .mutation(async ({ ctx, input }) => withCookie(ctx, await acceptInvitation(ctx.services, ctx.actor, input))),
  /** Signed in: one's own address; signed out: `{ email }`, answered alike for every address. */
  requestEmailVerification: publicProcedure.input(requestEmailVerificationInput).mutation(async ({ ctx, input }) => {
    const auth = await authenticate(ctx.services, ctx.req.token);
    const actor = auth ? asUser(ctx.actor, auth.user.id) : ctx.actor;
    return requestEmailVerification(ctx.services, actor, input ?? {});
  }),
  verifyEmail: publicProcedure
    .input(accountTokenInput)
    .mutation(({ ctx, input }) => verifyEmail(ctx.services, ctx.actor, input)),
  confirmEmailChange: publicProcedure
    .input(accountTokenInput)
    .mutation(({ ctx, input }) => confirmEmailChange(ctx.services, ctx.actor, input)),
  // ---- issue 15: second factors and step-up ----
  /** The sign-in second step: a TOTP code, a recovery code or a passkey for an `mfa-required` answer. */
  verifyMfa: publicProcedure.input(verifyMfaInput).mutation(async ({ ctx, input }) => {
    const result = await verifyMfa(ctx.services, ctx.actor, input, { deviceCookie: ctx.req.deviceCookie ?? null });
    const device = ctx.services.throttle.devices.issue(result.user.id);
    ctx.res.setDeviceCookie?.(device.value, device.expiresAt);
    return withCookie(ctx, result);
  }),
  /** Proves it is still you (password, TOTP or passkey): sensitive actions are allowed for 10 minutes. */
  reauthenticate: protectedProcedure
    .input(reauthenticateInput)
    .mutation(({ ctx, input }) =>
      reauthenticate(ctx.services, ctx.actor, { ...input, sessionId: ctx.auth.session.id }),
    ),
  /** WebAuthn options for a passwordless sign-in with a discoverable passkey. */
  passkeyOptions: publicProcedure.mutation(({ ctx }) => passkeySignInOptions(ctx.services)),
  signInWithPasskey: publicProcedure.input(signInWithPasskeyInput).mutation(async ({ ctx, input }) => {
    const result = await signInWithPasskey(ctx.services, ctx.actor, input, {
      deviceCookie: ctx.req.deviceCookie ?? null,
    });
    const device = ctx.services.throttle.devices.issue(result.user.id);
    ctx.res.setDeviceCookie?.(device.value, device.expiresAt);
    return withCookie(ctx, result);
  }),
  // #16 bridges: a short-lived JWT access token for the caller (session, or key with auth:check)
  token: protectedProcedure
    .input(authTokenInput)
    .mutation(({ ctx, input }) => ctx.services.tokens.mint(ctx.auth, { audience: input?.audience })),
});

import {
  beginTotp,
  confirmTotp,
  disableTotp,
  mfaStatus,
  mfaStatusOf,
  regenerateRecoveryCodes,
  resetMfa,
} from '../mfa/service.js';
import {
  deleteOwnPasskey,
  passkeyReauthenticationOptions,
  passkeyRegistrationOptions,
  registerPasskey,
  renameOwnPasskey,
} from '../mfa/passkeys.js';
import { requireRecentAuthentication } from '../mfa/step-up.js';
import { mfaCodeInput, passkeyIdInput, passkeyRegisterInput, passkeyRenameInput, userIdInput } from '../schemas.js';
import { adminProcedure, protectedProcedure, router } from '../trpc.js';

/**
 * Second factors of one's own account, and the admin view and reset (issue 15). Disabling a
 * factor, new recovery codes and the admin reset need a recent authentication (step-up).
 */
export const mfaRouter = router({
  status: protectedProcedure.query(({ ctx }) => mfaStatus(ctx.services, ctx.actor)),
  totpBegin: protectedProcedure.mutation(({ ctx }) => beginTotp(ctx.services, ctx.actor)),
  totpConfirm: protectedProcedure
    .input(mfaCodeInput)
    .mutation(({ ctx, input }) => confirmTotp(ctx.services, ctx.actor, input)),
  totpDisable: protectedProcedure.mutation(async ({ ctx }) => {
    await requireRecentAuthentication(ctx.services, ctx.auth);
    return disableTotp(ctx.services, ctx.actor);
  }),
  recoveryCodesRegenerate: protectedProcedure.mutation(async ({ ctx }) => {
    await requireRecentAuthentication(ctx.services, ctx.auth);
    return regenerateRecoveryCodes(ctx.services, ctx.actor);
  }),
  passkeyRegistrationOptions: protectedProcedure.mutation(({ ctx }) =>
    passkeyRegistrationOptions(ctx.services, ctx.actor, { sessionId: ctx.auth.session.id }),
  ),
  passkeyRegister: protectedProcedure
    .input(passkeyRegisterInput)
    .mutation(({ ctx, input }) =>
      registerPasskey(ctx.services, ctx.actor, { ...input, sessionId: ctx.auth.session.id }),
    ),
  passkeyRename: protectedProcedure
    .input(passkeyRenameInput)
    .mutation(({ ctx, input }) => renameOwnPasskey(ctx.services, ctx.actor, input)),
  passkeyDelete: protectedProcedure.input(passkeyIdInput).mutation(async ({ ctx, input }) => {
    await requireRecentAuthentication(ctx.services, ctx.auth);
    return deleteOwnPasskey(ctx.services, ctx.actor, input);
  }),
  /** WebAuthn options for `auth.reauthenticate { method: 'passkey' }`. */
  passkeyReauthenticationOptions: protectedProcedure.mutation(({ ctx }) =>
    passkeyReauthenticationOptions(ctx.services, ctx.actor, { sessionId: ctx.auth.session.id }),
  ),
  /** Admins: a user's factors (the admin user screen). */
  statusOf: adminProcedure.input(userIdInput).query(({ ctx, input }) => mfaStatusOf(ctx.services, ctx.actor, input)),
  /** Admins: remove every factor of a user and end their sessions. */
  reset: adminProcedure.input(userIdInput).mutation(async ({ ctx, input }) => {
    await requireRecentAuthentication(ctx.services, ctx.auth);
    return resetMfa(ctx.services, ctx.actor, input);
  }),
});

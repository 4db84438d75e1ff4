import {
  userCreateInput,
  userIdentifierInput,
  userIdInput,
  userListInput,
  userSetPasswordInput,
  userUpdateInput,
  // #17 user import
  userExternalIdInput,
} from '../schemas.js';
import { adminProcedure, router } from '../trpc.js';
import { requireRecentAuthentication } from '../mfa/step-up.js';
import {
  createUser,
  deleteUser,
  findUserByIdentifier,
  getUserById,
  listUsers,
  setPassword,
  updateUser,
  // #17 user import
  getUserByExternalId,
} from '../users/service.js';
// ---- email flows ----
import { createResetLink } from '../account-tokens/service.js';
import { inviteUser, listInvitations, renewInvitation, revokeInvitation } from '../invitations/service.js';
import { invitationIdInput, invitationListInput, userInviteInput } from '../schemas.js';

/**
 * User management (architecture §7 `user.*`): administrators only, the role re-read on every call and
 * re-checked inside every write's transaction (users/service.ts).
 */
export const userRouter = router({
  list: adminProcedure.input(userListInput).query(({ ctx, input }) => listUsers(ctx.services, input)),
  byId: adminProcedure.input(userIdInput).query(({ ctx, input }) => getUserById(ctx.services, input.id)),
  /** Exactly the user with this id, email or username (the sign-in rule), or NOT_FOUND. */
  byIdentifier: adminProcedure
    .input(userIdentifierInput)
    .query(({ ctx, input }) => findUserByIdentifier(ctx.services, input.identifier)),
  create: adminProcedure
    .input(userCreateInput)
    .mutation(async ({ ctx, input }) => (await createUser(ctx.services, ctx.actor, input)).user),
  update: adminProcedure.input(userUpdateInput).mutation(async ({ ctx, input }) => {
    // issue 15: a role change needs a recent authentication (step-up).
    if (input.role !== undefined) await requireRecentAuthentication(ctx.services, ctx.auth);
    return updateUser(ctx.services, ctx.actor, input);
  }),
  setPassword: adminProcedure
    .input(userSetPasswordInput)
    .mutation(({ ctx, input }) =>
      setPassword(ctx.services, ctx.actor, { kind: 'reset', userId: input.id, newPassword: input.newPassword }),
    ),
  // #17 user import: the user imported with this id from the old backend, or NOT_FOUND.
  byExternalId: adminProcedure
    .input(userExternalIdInput)
    .query(({ ctx, input }) => getUserByExternalId(ctx.services, input.externalId)),
  // ---- email flows (invitations/, account-tokens/) ----
  /** Mails an invitation (7 days); `mail_not_configured` without mail (use createInvitationLink). */
  invite: adminProcedure
    .input(userInviteInput)
    .mutation(async ({ ctx, input }) => (await inviteUser(ctx.services, ctx.actor, input, 'mail')).invitation),
  /** The same invitation, its link returned to the administrator instead of mailed (audited). */
  createInvitationLink: adminProcedure.input(userInviteInput).mutation(async ({ ctx, input }) => {
    // seams (#14 ↔ #15): the link is the account, handed to whoever holds it: step-up first.
    await requireRecentAuthentication(ctx.services, ctx.auth);
    const { invitation, url } = await inviteUser(ctx.services, ctx.actor, input, 'link');
    return { invitation, url: url ?? '' };
  }),
  invitations: adminProcedure
    .input(invitationListInput)
    .query(({ ctx, input }) => listInvitations(ctx.services, ctx.actor, input)),
  resendInvitation: adminProcedure
    .input(invitationIdInput)
    .mutation(async ({ ctx, input }) => (await renewInvitation(ctx.services, ctx.actor, input, 'mail')).invitation),
  revokeInvitation: adminProcedure
    .input(invitationIdInput)
    .mutation(({ ctx, input }) => revokeInvitation(ctx.services, ctx.actor, input)),
  /** A one-time password reset link (30 min) for the administrator to hand over (audited, never the link). */
  createResetLink: adminProcedure.input(userIdInput).mutation(async ({ ctx, input }) => {
    // seams (#14 ↔ #15): whoever holds the link takes over the account: step-up first.
    await requireRecentAuthentication(ctx.services, ctx.auth);
    return createResetLink(ctx.services, ctx.actor, input);
  }),
  delete: adminProcedure.input(userIdInput).mutation(async ({ ctx, input }) => {
    await requireRecentAuthentication(ctx.services, ctx.auth); // issue 15: step-up
    return deleteUser(ctx.services, ctx.actor, input);
  }),
});

import {
  userCreateInput,
  userIdentifierInput,
  userIdInput,
  userListInput,
  userSetPasswordInput,
  userUpdateInput,
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
} from '../users/service.js';

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
  delete: adminProcedure.input(userIdInput).mutation(async ({ ctx, input }) => {
    await requireRecentAuthentication(ctx.services, ctx.auth); // issue 15: step-up
    return deleteUser(ctx.services, ctx.actor, input);
  }),
});

import { assertPasswordPolicy } from '../auth/password-policy.js';
import type { AuthedContext } from '../context.js';
import { userCreateInput, userIdInput, userListInput, userSetPasswordInput, userUpdateInput } from '../schemas.js';
import { adminProcedure, router } from '../trpc.js';
import {
  createUser,
  deleteUser,
  getUserById,
  listUsers,
  setUserPassword,
  updateUser,
  type Actor,
} from '../users/service.js';

/** The signed-in admin making the change, as the audit log records them. */
const actorOf = (ctx: AuthedContext): Actor => ({
  actorId: ctx.auth.user.id,
  ip: ctx.req.ip,
  userAgent: ctx.req.userAgent,
});

/** User management (design §7 `user.*`): administrators only, the role re-read on every call. */
export const userRouter = router({
  list: adminProcedure.input(userListInput).query(({ ctx, input }) => listUsers(ctx.services, input)),
  byId: adminProcedure.input(userIdInput).query(({ ctx, input }) => getUserById(ctx.services, input.id)),
  create: adminProcedure
    .input(userCreateInput)
    .mutation(({ ctx, input }) => createUser(ctx.services, assertPasswordPolicy, actorOf(ctx), input)),
  update: adminProcedure
    .input(userUpdateInput)
    .mutation(({ ctx, input }) => updateUser(ctx.services, actorOf(ctx), input)),
  setPassword: adminProcedure
    .input(userSetPasswordInput)
    .mutation(({ ctx, input }) => setUserPassword(ctx.services, assertPasswordPolicy, actorOf(ctx), input)),
  delete: adminProcedure.input(userIdInput).mutation(({ ctx, input }) => deleteUser(ctx.services, actorOf(ctx), input)),
});

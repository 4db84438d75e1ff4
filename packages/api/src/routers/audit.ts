import { auditConsistencyProofInput, auditEventsInput, auditInclusionProofInput, auditListInput } from '../schemas.js';
import type { Services } from '../services.js';
import type { AuditEvent } from '../audit/types.js';
import { adminProcedure, protectedProcedure, router } from '../trpc.js';
// #19 receipts
import { auditMyHistoryInput, auditMyReceiptInput } from '../schemas.js';
import { myHistory, myReceipt } from '../audit/receipts.js';
import { asUser, type Actor } from '../actor.js';
import { isAdmin } from '../users/authorize.js';
// #19 charts
import { auditActivityInput } from '../schemas.js';
import { auditActivity } from '../audit/activity.js';

/**
 * Whether the subscriber may still watch: its session is still valid (revocation is seen at
 * once through the session store) and it is still an active admin (users `isAdmin`, read from
 * the database).
 */
async function stillAllowed(
  services: Services,
  actor: Actor,
  token: string | null,
  sessionId: string,
): Promise<boolean> {
  if (token === null) return false;
  const auth = await services.sessions.validate(token);
  if (auth === null || auth.session.id !== sessionId) return false;
  return isAdmin(services, asUser(actor, auth.user.id));
}

export const auditRouter = router({
  list: adminProcedure.input(auditListInput).query(({ ctx, input }) => ctx.services.audit.log.list(input)),

  // #19 charts: sign-ins, failed sign-ins, throttled attempts and new users per hour or day.
  activity: adminProcedure.input(auditActivityInput).query(({ ctx, input }) => auditActivity(ctx.services, input)),

  verify: adminProcedure.query(({ ctx }) => ctx.services.audit.verify()),

  checkpoint: adminProcedure.query(({ ctx }) => ctx.services.audit.checkpointer.latest()),

  inclusionProof: adminProcedure
    .input(auditInclusionProofInput)
    .query(({ ctx, input }) => ctx.services.audit.log.inclusionProof(input.seq, input.treeSize)),

  consistencyProof: adminProcedure
    .input(auditConsistencyProofInput)
    .query(({ ctx, input }) => ctx.services.audit.log.consistencyProof(input.fromSize, input.toSize)),

  // #19 receipts: the caller's own security history and its receipts (session only: no API-key scope)
  myHistory: protectedProcedure
    .input(auditMyHistoryInput)
    .query(({ ctx, input }) => myHistory(ctx.services, ctx.actor, input)),
  myReceipt: protectedProcedure
    .input(auditMyReceiptInput)
    .query(({ ctx, input }) => myReceipt(ctx.services, ctx.actor, input)),

  /**
   * Live events after `afterSeq` (default: from now on). The subscriber's session is re-validated
   * every `feedRevalidateMs`; the stream ends once it is revoked or the user is no longer an admin.
   */
  events: adminProcedure.input(auditEventsInput).subscription(async function* ({
    ctx,
    input,
    signal,
  }): AsyncGenerator<AuditEvent> {
    const audit = ctx.services.audit;
    const after = input?.afterSeq ?? (await audit.log.head()).treeSize;
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setInterval(() => {
      stillAllowed(ctx.services, ctx.actor, ctx.req.token, ctx.auth.session.id)
        .then((ok) => {
          if (!ok) stop.abort();
        })
        // A failed check (database down) ends the stream rather than keep it open unchecked.
        .catch(() => stop.abort());
    }, audit.feedRevalidateMs);
    try {
      yield* audit.log.follow(after, stop.signal);
    } finally {
      clearInterval(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }),
});

import { requireRecentAuthentication } from '../mfa/step-up.js';
import { webhookCreateInput, webhookDeliveriesInput, webhookIdInput, webhookUpdateInput } from '../schemas.js';
import { adminProcedure, router } from '../trpc.js';
import {
  createWebhook,
  deleteWebhook,
  disableWebhook,
  enableWebhook,
  getWebhook,
  listDeliveries,
  listWebhooks,
  rotateWebhookSecret,
  sendTestWebhook,
  updateWebhook,
} from '../webhooks/service.js';

/**
 * Webhooks (#19, `webhook.*`): administrators with a session (no API key scope names them).
 * Step-up: `create` and `rotateSecret` return a signing secret and need an authentication within
 * the last 10 minutes (FORBIDDEN `reauthentication_required`).
 */
export const webhookRouter = router({
  create: adminProcedure.input(webhookCreateInput).mutation(async ({ ctx, input }) => {
    await requireRecentAuthentication(ctx.services, ctx.auth);
    return createWebhook(ctx.services, ctx.actor, input);
  }),
  list: adminProcedure.query(({ ctx }) => listWebhooks(ctx.services, ctx.actor)),
  get: adminProcedure.input(webhookIdInput).query(({ ctx, input }) => getWebhook(ctx.services, ctx.actor, input)),
  update: adminProcedure
    .input(webhookUpdateInput)
    .mutation(({ ctx, input }) => updateWebhook(ctx.services, ctx.actor, input)),
  rotateSecret: adminProcedure.input(webhookIdInput).mutation(async ({ ctx, input }) => {
    await requireRecentAuthentication(ctx.services, ctx.auth);
    return rotateWebhookSecret(ctx.services, ctx.actor, input);
  }),
  disable: adminProcedure
    .input(webhookIdInput)
    .mutation(({ ctx, input }) => disableWebhook(ctx.services, ctx.actor, input)),
  enable: adminProcedure
    .input(webhookIdInput)
    .mutation(({ ctx, input }) => enableWebhook(ctx.services, ctx.actor, input)),
  delete: adminProcedure
    .input(webhookIdInput)
    .mutation(({ ctx, input }) => deleteWebhook(ctx.services, ctx.actor, input)),
  deliveries: adminProcedure
    .input(webhookDeliveriesInput)
    .query(({ ctx, input }) => listDeliveries(ctx.services, ctx.actor, input)),
  sendTest: adminProcedure
    .input(webhookIdInput)
    .mutation(({ ctx, input }) => sendTestWebhook(ctx.services, ctx.actor, input)),
});

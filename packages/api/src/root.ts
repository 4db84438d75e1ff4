import { createCallerFactory, router } from './trpc.js';
import { systemRouter } from './routers/system.js';
import { auditRouter } from './routers/audit.js';
import { authRouter } from './routers/auth.js';
import { sessionRouter } from './routers/session.js';
import { userRouter } from './routers/user.js';
// ---- email flows ----
import { mailRouter } from './routers/mail.js';
import { mfaRouter } from './routers/mfa.js'; // issue 15
// #16 bridges
import { apiKeyRouter } from './routers/api-key.js';
import { serviceAccountRouter } from './routers/service-account.js';
// #19 webhooks
import { webhookRouter } from './routers/webhook.js';

/** The whole API. One line per router; each router lives in its own file under routers/. */
export const appRouter = router({
  system: systemRouter,
  audit: auditRouter,
  auth: authRouter,
  session: sessionRouter,
  user: userRouter,
  // ---- email flows ----
  mail: mailRouter,
  mfa: mfaRouter, // issue 15
  // #16 bridges
  apiKey: apiKeyRouter,
  serviceAccount: serviceAccountRouter,
  // #19 webhooks
  webhook: webhookRouter,
});

export type AppRouter = typeof appRouter;

/** Calls procedures without HTTP: `createCaller(createContext(services, req))`. */
export const createCaller = createCallerFactory(appRouter);

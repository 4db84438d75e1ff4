import { publicProcedure, router } from '../trpc.js';

const GATEHOUSE_VERSION = '0.1.0';

export const systemRouter = router({
  /** The server's version, for clients checking compatibility. */
  version: publicProcedure.query(() => ({ version: GATEHOUSE_VERSION })),
});

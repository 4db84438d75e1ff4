/**
 * The webhook service as the rest of Gatehouse holds it (`services.webhooks`). Apart from
 * service.ts so that services.ts can name it without importing the use cases, which import
 * services.ts (no import cycles: `pnpm lint:cycles`).
 */
import type { WebhookRound, WebhookWorker } from './worker.js';

export interface WebhookService {
  readonly worker: WebhookWorker;
  /** The SSRF check with the current WEBHOOK_ALLOWED_HOSTS / WEBHOOK_ALLOW_HTTP. */
  checkUrl(url: string): Promise<void>;
  /** Delivers every due message now and waits (tests; the server relies on the worker). */
  deliverDue(): Promise<WebhookRound>;
  close(): Promise<void>;
}

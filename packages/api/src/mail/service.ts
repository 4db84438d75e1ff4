/**
 * Mail as the other services use it (`services.mail`): whether mail is configured, `enqueue`
 * inside a unit of work (the outbox row commits with the change; the worker is kicked after the
 * commit, never awaited), and the delivery state for administrators (`mail.status`).
 */
import type { Db } from '@gatehouse/db';
import type { Actor } from '../actor.js';
import type { Clock } from '../clock.js';
import type { ApiConfig } from '../config.js';
import { DomainError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Work } from '../unit-of-work.js';
import { requireAdmin } from '../users/authorize.js';
import { insertMail, summarize, type OutboxSummary } from './outbox.js';
import type { TemplatedMail } from './templates.js';
import { createMailTransport, type MailTransport } from './transport.js';
import { MailWorker, type DeliveryRound, type WorkerOptions } from './worker.js';

export interface MailService {
  /** SMTP_URL or MAIL_TRANSPORT=log is set. */
  readonly configured: boolean;
  readonly transport: 'smtp' | 'log' | null;
  /** Writes `mail` to the outbox in `work`'s transaction; the worker is kicked after the commit. */
  enqueue(work: Work, mail: TemplatedMail): Promise<void>;
  /** Sends every due mail now and waits for the round (tests; the server relies on the worker). */
  deliverDue(): Promise<DeliveryRound>;
  summary(recentLimit?: number): Promise<OutboxSummary>;
  close(): Promise<void>;
}

export const mailNotConfigured = () =>
  new DomainError(
    'PRECONDITION_FAILED',
    'mail_not_configured',
    'Mail is not configured (SMTP_URL): ask an administrator for a one-time link',
  );

export function createMailService(deps: {
  db: Db;
  clock: Clock;
  config: ApiConfig;
  logger: Logger;
  background: boolean;
  transport?: MailTransport;
  worker?: Partial<WorkerOptions>;
}): MailService {
  const transport = deps.transport ?? (deps.config.mail ? createMailTransport(deps.config.mail, deps.logger) : null);
  const worker = transport
    ? new MailWorker({
        db: deps.db,
        clock: deps.clock,
        transport,
        logger: deps.logger,
        ...(deps.worker ? { options: deps.worker } : {}),
      })
    : null;
  if (worker && deps.background) worker.start();
  return {
    configured: worker !== null,
    transport: transport?.kind ?? null,
    async enqueue(work, mail) {
      if (!worker) throw mailNotConfigured();
      await insertMail(work.trx, mail, deps.clock.now());
      if (deps.background) work.afterCommit(() => worker.kick());
    },
    deliverDue: () => (worker ? worker.deliverDue() : Promise.resolve({ sent: 0, failed: 0 })),
    summary: (recentLimit = 20) => summarize(deps.db, recentLimit),
    close: async () => {
      await worker?.close();
    },
  };
}

export interface MailStatus extends OutboxSummary {
  configured: boolean;
  transport: 'smtp' | 'log' | null;
}

/** `mail.status` and `gatehouse mail status`: administrators only. */
export async function mailStatus(
  deps: { db: Db; mail: MailService },
  actor: Actor,
  input: { limit?: number | undefined } = {},
): Promise<MailStatus> {
  await requireAdmin(deps, actor);
  const summary = await deps.mail.summary(input.limit ?? 20);
  return { configured: deps.mail.configured, transport: deps.mail.transport, ...summary };
}

/**
 * The mail worker: sends what the outbox holds, off every request. `kick()` (after a commit that
 * wrote a mail) and a poll timer start a round; a round claims due mails, sends each, and records
 * the outcome. A failed attempt is retried after an exponential backoff (30 s, 1 min, 2 min, …,
 * at most 1 h) until MAX_ATTEMPTS, then the mail is marked failed. An SMTP outage therefore loses
 * nothing: the mails wait in the outbox and go once the server answers again.
 */
import type { Db } from '@gatehouse/db';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import { claimDue, markFailed, markSent } from './outbox.js';
import { describeDeliveryError, type MailTransport } from './transport.js';

export interface WorkerOptions {
  /** First retry delay (doubles each attempt). */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Attempts before a mail is given up and marked failed. */
  maxAttempts: number;
  /** How often the timer looks for due mails (retries, mails written by other instances). */
  pollIntervalMs: number;
  /** How long a claimed mail is held before another worker may try it. */
  leaseMs: number;
  batchSize: number;
}

const defaultWorkerOptions: Readonly<WorkerOptions> = Object.freeze({
  baseDelayMs: 30_000,
  maxDelayMs: 3_600_000,
  maxAttempts: 12,
  pollIntervalMs: 5_000,
  // Longer than a batch can take (20 mails, each bounded by the SMTP timeouts), so no mail is sent twice.
  leaseMs: 900_000,
  batchSize: 20,
});

/** The delay before attempt `attempts + 1`, after `attempts` failed ones. */
function retryDelayMs(attempts: number, options: Pick<WorkerOptions, 'baseDelayMs' | 'maxDelayMs'>): number {
  return Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** Math.max(0, attempts - 1));
}

export interface DeliveryRound {
  sent: number;
  failed: number;
}

export class MailWorker {
  readonly #db: Db;
  readonly #clock: Clock;
  readonly #transport: MailTransport;
  readonly #logger: Logger;
  readonly #options: WorkerOptions;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<DeliveryRound> | null = null;
  #again = false;
  #closed = false;

  constructor(deps: {
    db: Db;
    clock: Clock;
    transport: MailTransport;
    logger: Logger;
    options?: Partial<WorkerOptions>;
  }) {
    this.#db = deps.db;
    this.#clock = deps.clock;
    this.#transport = deps.transport;
    this.#logger = deps.logger;
    this.#options = { ...defaultWorkerOptions, ...deps.options };
  }

  /** Starts the poll timer (the server does; tests call `deliverDue` themselves). */
  start(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setInterval(() => this.kick(), this.#options.pollIntervalMs);
    this.#timer.unref();
    this.kick();
  }

  /** Starts a round now without waiting for it (after a commit that wrote a mail). */
  kick(): void {
    if (this.#closed) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.deliverDue().catch((error: unknown) =>
      this.#logger.error({ err: error, task: 'mail delivery' }, 'mail delivery failed'),
    );
  }

  /** One round (joined if one is running), repeated while kicks arrived during it. */
  deliverDue(): Promise<DeliveryRound> {
    if (this.#running) return this.#running;
    const run = (async () => {
      const total: DeliveryRound = { sent: 0, failed: 0 };
      do {
        this.#again = false;
        const round = await this.#round();
        total.sent += round.sent;
        total.failed += round.failed;
      } while (this.#again && !this.#closed);
      return total;
    })();
    this.#running = run;
    return run.finally(() => {
      this.#running = null;
    });
  }

  async #round(): Promise<DeliveryRound> {
    const result: DeliveryRound = { sent: 0, failed: 0 };
    for (;;) {
      const now = this.#clock.now();
      const batch = await claimDue(this.#db, now, this.#options.leaseMs, this.#options.batchSize);
      if (batch.length === 0) return result;
      for (const row of batch) {
        const attempts = row.attempts + 1;
        try {
          await this.#transport.send({
            to: row.to_address,
            subject: row.subject,
            text: row.text_body ?? '',
            html: row.html_body ?? '',
          });
          await markSent(this.#db, row.id, this.#clock.now(), attempts);
          result.sent += 1;
        } catch (error) {
          const message = describeDeliveryError(error);
          const giveUp = attempts >= this.#options.maxAttempts;
          const retryAt = giveUp ? null : new Date(this.#clock.now().getTime() + retryDelayMs(attempts, this.#options));
          await markFailed(this.#db, row.id, attempts, message, retryAt);
          result.failed += 1;
          this.#logger.warn(
            { mailId: row.id, kind: row.kind, attempts, error: message, retryAt },
            giveUp ? 'mail given up after the last attempt' : 'mail delivery failed; will retry',
          );
        }
      }
      if (batch.length < this.#options.batchSize) return result;
    }
  }

  /** Stops the timer and waits for the round in flight; the transport closes with it. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#running?.catch(() => {});
    this.#transport.close();
  }
}

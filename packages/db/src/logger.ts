/**
 * Where the database's background work reports (the LISTEN connection's outages). The shape is
 * pino's, structurally the same as `Logger` in @gatehouse/api, so the server passes `app.log`.
 * Never put secrets (DATABASE_URL credentials, tokens) in the object or the message.
 */
export interface Logger {
  error(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/** Reconnect delays: doubling from `initialDelayMs` up to `maxDelayMs`. */
export interface ReconnectOptions {
  /** The delay before the first retry (default 100 ms). */
  initialDelayMs?: number;
  /** The longest delay between two attempts (default 30 s). */
  maxDelayMs?: number;
}

/**
 * The delay before retry number `attempt` (1, 2, …): doubling, capped, minus up to a quarter at
 * random so that instances that lost the same server do not all come back in step.
 */
export function exponentialBackoff(options: ReconnectOptions = {}): (attempt: number) => number {
  const initial = options.initialDelayMs ?? 100;
  const max = options.maxDelayMs ?? 30_000;
  return (attempt) => {
    const delay = Math.min(max, initial * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
    return Math.round(delay * (0.75 + Math.random() * 0.25));
  };
}

/**
 * Logs a connection's outage once and its recovery once, however many attempts fail between:
 * `down(err)` on every failure, `up()` on every success.
 */
export class OutageLog {
  readonly #logger: Logger;
  readonly #what: string;
  readonly #context: object;
  #downSince: number | null = null;
  #failures = 0;

  /** `what` names the connection in the messages ("PostgreSQL LISTEN connection"). */
  constructor(logger: Logger, what: string, context: object = {}) {
    this.#logger = logger;
    this.#what = what;
    this.#context = context;
  }

  /** True between a failure and the next success. */
  get down(): boolean {
    return this.#downSince !== null;
  }

  failed(error: unknown): void {
    this.#failures += 1;
    if (this.#downSince !== null) return;
    this.#downSince = Date.now();
    this.#logger.error({ ...this.#context, err: error }, `${this.#what} lost; reconnecting with backoff`);
  }

  recovered(): void {
    if (this.#downSince === null) return;
    this.#logger.info(
      { ...this.#context, downtimeMs: Date.now() - this.#downSince, failedAttempts: this.#failures },
      `${this.#what} restored`,
    );
    this.#downSince = null;
    this.#failures = 0;
  }
}

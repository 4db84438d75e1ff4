/**
 * Driver errors are translated here so no raw SQLite/PostgreSQL error reaches an API client.
 * The API maps these to CONFLICT / NOT_FOUND.
 */
export class UniqueViolationError extends Error {
  override readonly name = 'UniqueViolationError';
  /** The violated constraint or index name as the database reports it (e.g. `users_email_unique`). */
  constructor(
    readonly constraint: string,
    options?: ErrorOptions,
  ) {
    super(`Unique constraint violated: ${constraint}`, options);
  }
  /** Which user-facing field is taken, derived from the constraint name. */
  get field(): 'email' | 'username' | null {
    if (this.constraint.includes('email')) return 'email';
    if (this.constraint.includes('username')) return 'username';
    return null;
  }
}

export class ForeignKeyViolationError extends Error {
  override readonly name = 'ForeignKeyViolationError';
  constructor(
    readonly constraint: string,
    options?: ErrorOptions,
  ) {
    super(`Foreign key constraint violated: ${constraint}`, options);
  }
}

interface DriverError {
  code?: unknown;
  constraint?: unknown;
  message?: unknown;
}

/** Returns a typed error for constraint violations, or the error unchanged. */
export function translateDbError(error: unknown): unknown {
  if (typeof error !== 'object' || error === null) return error;
  const e = error as DriverError;
  const message = typeof e.message === 'string' ? e.message : '';
  // PostgreSQL (pg): SQLSTATE codes and the constraint name.
  if (e.code === '23505')
    return new UniqueViolationError(typeof e.constraint === 'string' ? e.constraint : 'unknown', { cause: error });
  if (e.code === '23503')
    return new ForeignKeyViolationError(typeof e.constraint === 'string' ? e.constraint : 'unknown', { cause: error });
  // SQLite (better-sqlite3): extended result codes; the message names the index or columns.
  if (e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    const match = /UNIQUE constraint failed: (?:index '([^']+)'|(.+))$/.exec(message);
    const name = match?.[1] ?? match?.[2]?.replaceAll('.', '_') ?? 'unknown';
    return new UniqueViolationError(name, { cause: error });
  }
  if (e.code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return new ForeignKeyViolationError('foreign_key', { cause: error });
  return error;
}

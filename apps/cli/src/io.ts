/** Where the CLI reads and writes: the process's streams, or test doubles. */
export interface CliIO {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

/** Wrong usage: a missing option or variable, a malformed value. Exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A failure the CLI explains itself (no stack): exit code 1. */
export class CliError extends Error {
  override readonly name = 'CliError';
}

export function print(io: CliIO, text: string): void {
  io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function printJson(io: CliIO, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Progress and notes for people go to stderr, so stdout stays clean for pipes and --json. */
export function note(io: CliIO, text: string): void {
  io.stderr.write(`${text}\n`);
}

/**
 * Reports how long a step has been running, every `everyMs`, until stopped. Long operations
 * without their own counter (a server-side verify, an offline verify) use it.
 */
export function ticker(io: CliIO, label: string, everyMs = 2_000): () => void {
  const started = Date.now();
  const timer = setInterval(() => note(io, `${label}… ${Math.round((Date.now() - started) / 1000)} s`), everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * The services' background logger for a CLI run: warnings and errors (a Redis or PostgreSQL
 * outage, a failed after-commit task) as one line on stderr; info is dropped.
 */
export function stderrLogger(io: CliIO) {
  const line = (level: string) => (obj: object, msg: string) => {
    const err = (obj as { err?: unknown }).err;
    const detail = err instanceof Error ? `: ${err.message}` : '';
    note(io, `gatehouse: ${level}: ${msg}${detail}`);
  };
  return { error: line('error'), warn: line('warning'), info: () => {} };
}

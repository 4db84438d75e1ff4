/**
 * Where background work reports: the server passes its pino logger (`app.log`), so session
 * sweeps, checkpointing, bus reconnects and after-commit tasks log like requests do. The shape is
 * pino's (`log.warn({ err }, 'message')`); tests pass `silentLogger` or a recording one.
 * Never put secrets (tokens, passwords, DATABASE_URL credentials) in the object or message.
 */
export interface Logger {
  error(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export const silentLogger: Logger = { error() {}, warn() {}, info() {} };

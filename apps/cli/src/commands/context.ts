import { InvalidArgumentError, Option, type Command } from 'commander';
import type { GatehouseClient } from '@gatehouse/client';
import type * as Backup from '../backup.js';
import type { CliIO } from '../io.js';
import type * as Local from '../local.js';
import type * as Remote from '../remote.js';

/**
 * What every command group is given: the streams, `--json`, and the two halves of the CLI, loaded
 * on use so `--help` and remote commands don't load the database drivers.
 */
export interface CommandContext {
  io: CliIO;
  /** The global `--json` flag. */
  json: () => boolean;
  /** Commands on DATABASE_URL directly (loads the drivers). */
  local: () => Promise<typeof Local>;
  /** Commands on a running server through the typed client. */
  remote: () => Promise<typeof Remote>;
  /** Backup and restore of a SQLite database file (loads the driver). */
  backup: () => Promise<typeof Backup>;
  /** The client for the server named by `--url` on `cmd`, else GATEHOUSE_URL. */
  client: (cmd: Command) => Promise<GatehouseClient>;
}

export function createContext(program: Command, io: CliIO): CommandContext {
  const remote = () => import('../remote.js');
  return {
    io,
    json: () => program.opts<{ json?: boolean }>().json === true,
    local: () => import('../local.js'),
    remote,
    backup: () => import('../backup.js'),
    client: async (cmd) => (await remote()).remoteClient(io, cmd.optsWithGlobals<{ url?: string }>().url),
  };
}

/** A command group: adds its commands to the program. */
export type Register = (program: Command, context: CommandContext) => void;

/** `--url`, on every remote command. */
export const urlOption = () => new Option('--url <url>', 'the server (overrides GATEHOUSE_URL)');

/** Option parser for counts and sequence numbers. */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number');
  return n;
}

export const REMOTE_HELP = `
Environment:
  GATEHOUSE_URL     the server, e.g. http://localhost:3000
  GATEHOUSE_TOKEN   an admin's session token, or an API key gh_… with the scopes the command needs
                    (sent as Authorization: Bearer)`;

export const LOCAL_HELP = `
Environment:
  DATABASE_URL      file:<path> (SQLite) or postgres://… (default file:./data/gatehouse.db)
  AUDIT_KEY_FILE, PUBLIC_ORIGIN, REDIS_URL   as for the server (so running servers see revocations)`;

export const PASSWORD_HELP = `
The password is never taken from the command line: --password-stdin reads it from standard input,
else GATEHOUSE_PASSWORD is used, else it is asked for (hidden) on a terminal.`;

import { Command, CommanderError } from 'commander';
import { isGatehouseError } from '@gatehouse/client';
import { register as audit } from './commands/audit.js';
import { register as backup } from './commands/backup.js';
import { createContext, type Register } from './commands/context.js';
import { register as sessions } from './commands/sessions.js';
import { register as setup } from './commands/setup.js';
import { register as users } from './commands/users.js';
// #17 user import
import { EXIT_ROWS_REJECTED, register as importUsers, RowsRejected } from './commands/import.js';
// ---- email flows ----
import { register as mail } from './commands/mail.js';
// #16 bridges
import { register as jwt } from './commands/jwt.js';
// #19 audit witnesses
import { register as witness } from './commands/witness.js';
// #19 webhooks
import { register as webhooks } from './commands/webhooks.js';
import { CliError, note, UsageError, type CliIO } from './io.js';

const VERSION = '0.1.0';

/** The command groups, in the order `--help` lists them. Each lives in src/commands/<group>.ts. */
const groups: readonly Register[] = [
  setup,
  backup,
  users,
  sessions,
  audit,
  /* #17 */ importUsers,
  mail,
  jwt,
  /* #19 */ witness,
  /* #19 webhooks */ webhooks,
];

/** The `gatehouse` command. Actions throw; `run` turns what they throw into an exit code. */
function createProgram(io: CliIO): Command {
  const program = new Command('gatehouse')
    .description('Operate a Gatehouse installation: database setup and recovery, users, sessions and the audit log.')
    .version(VERSION)
    .option('--json', 'print machine-readable JSON on stdout')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .addHelpText(
      'after',
      `
Exit codes: 0 success, 1 failure, 2 wrong usage, 3 import rows rejected (gatehouse import users).
Local commands (migrate, create-admin, reset-password, backup, restore, import users) work on DATABASE_URL directly;
the others call a running server with GATEHOUSE_URL and GATEHOUSE_TOKEN.`,
    );
  const context = createContext(program, io);
  for (const register of groups) register(program, context);
  return program;
}

/** Runs the CLI; resolves to the exit code (0 ok, 1 failure, 2 usage, 3 import rows rejected). */
export async function run(argv: readonly string[], io: CliIO): Promise<number> {
  const program = createProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version exit 0; a bad option, a missing argument or a bare group is usage.
      return error.exitCode === 0 ? 0 : 2;
    }
    // #17 user import: the report (printed) lists the rejected rows.
    if (error instanceof RowsRejected) {
      note(io, `gatehouse: ${error.message}`);
      return EXIT_ROWS_REJECTED;
    }
    if (error instanceof UsageError) {
      note(io, `gatehouse: ${error.message}`);
      return 2;
    }
    if (error instanceof CliError) {
      if (error.cause !== 'reported') note(io, `gatehouse: ${error.message}`);
      return 1;
    }
    if (isGatehouseError(error)) {
      const details = error.data.zodError
        ? Object.entries(error.data.zodError.fieldErrors).map(([field, messages]) => `${field}: ${messages.join(', ')}`)
        : [];
      note(
        io,
        `gatehouse: ${error.message} (${error.data.code})${details.length ? `\n  ${details.join('\n  ')}` : ''}`,
      );
      return 1;
    }
    const message = error instanceof Error ? error.message : String(error);
    note(io, `gatehouse: ${message}`);
    return 1;
  }
}

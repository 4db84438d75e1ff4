/**
 * Installation and recovery on the database itself (DATABASE_URL): `migrate`, `create-admin`,
 * `reset-password`. They work when no server runs and nobody can sign in.
 */
import { print, printJson } from '../io.js';
import { readPassword } from '../password.js';
import { LOCAL_HELP, PASSWORD_HELP, type Register } from './context.js';

export const register: Register = (program, { io, json, local }) => {
  program
    .command('migrate')
    .description('apply pending database migrations')
    .addHelpText('after', LOCAL_HELP)
    .action(async () => {
      const result = await (await local()).migrate(io);
      if (json()) printJson(io, result);
      else print(io, result.applied.length === 0 ? 'database is up to date' : `applied: ${result.applied.join(', ')}`);
    });

  program
    .command('create-admin')
    .description('create an administrator account (migrates the database first)')
    .requiredOption('--email <email>', 'email address')
    .requiredOption('--name <name>', 'display name')
    .option('--username <username>', 'optional username')
    .option('--password-stdin', 'read the password from standard input')
    .addHelpText('after', `${LOCAL_HELP}\n${PASSWORD_HELP}`)
    .action(async (opts: { email: string; name: string; username?: string; passwordStdin?: boolean }) => {
      const password = await readPassword(io, opts);
      const { user, setup } = await (await local()).createAdmin(io, { ...opts, password });
      if (json()) printJson(io, { user, setup });
      else print(io, `created admin ${user.email} (${user.id})${setup ? ': Gatehouse is set up' : ''}`);
    });

  program
    .command('reset-password')
    .description("set a user's password and revoke all their sessions (recovery when nobody can sign in)")
    .argument('<user>', 'email, username or id')
    .option('--password-stdin', 'read the new password from standard input')
    .addHelpText('after', `${LOCAL_HELP}\n${PASSWORD_HELP}`)
    .action(async (user: string, opts: { passwordStdin?: boolean }) => {
      const password = await readPassword(io, opts, 'New password');
      const result = await (await local()).resetPassword(io, user, password);
      if (json()) printJson(io, result);
      else print(io, `password of ${result.user.email} set; ${result.revokedSessions} session(s) revoked`);
    });
};

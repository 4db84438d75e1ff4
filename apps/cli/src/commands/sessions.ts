/** `gatehouse sessions …`: list and revoke sessions on a running server. */
import type { Command } from 'commander';
import { printTable, sessionColumns, sessionRow } from '../format.js';
import { print, printJson, UsageError } from '../io.js';
import { REMOTE_HELP, urlOption, type Register } from './context.js';

export const register: Register = (program, { io, json, remote, client }) => {
  const sessions = program
    .command('sessions')
    .description('inspect and revoke sessions on a running server')
    .addHelpText('after', REMOTE_HELP);

  sessions
    .command('list')
    .description("list your sessions, or a user's with --user")
    .option('--user <user>', 'email, username or id')
    .addOption(urlOption())
    .action(async (opts: { user?: string }, cmd: Command) => {
      const list = await (await remote()).listSessions(await client(cmd), opts.user);
      if (json()) return printJson(io, list);
      printTable(io, sessionColumns, list.map(sessionRow));
    });

  sessions
    .command('revoke')
    .description("revoke one session by id, or all of a user's with --user")
    .argument('[id]', 'session id')
    .option('--user <user>', 'revoke every session of this user (email, username or id)')
    .addOption(urlOption())
    .action(async (id: string | undefined, opts: { user?: string }, cmd: Command) => {
      if ((id === undefined) === (opts.user === undefined)) throw new UsageError('give either a session id or --user');
      const gh = await client(cmd);
      if (opts.user) {
        const target = await (await remote()).findUser(gh, opts.user);
        const result = await gh.session.revokeAllForUser.mutate({ userId: target.id });
        if (json()) printJson(io, result);
        else print(io, `${result.revoked} session(s) of ${target.email} revoked`);
      } else if (id) {
        const result = await gh.session.revoke.mutate({ id });
        if (json()) printJson(io, result);
        else print(io, `session ${id} revoked`);
      }
    });
};

/** `gatehouse users …`: list, create, deactivate and activate users on a running server. */
import { Option, type Command } from 'commander';
import { userColumns, userRow, printTable } from '../format.js';
import { note, print, printJson } from '../io.js';
import { readPassword } from '../password.js';
import { LOCAL_HELP, PASSWORD_HELP, positiveInt, REMOTE_HELP, urlOption, type Register } from './context.js';

type Role = 'admin' | 'member';

export const register: Register = (program, { io, json, remote, client, local }) => {
  const users = program
    .command('users')
    .description('manage users on a running server')
    .addHelpText('after', REMOTE_HELP);

  users
    .command('list')
    .description('list users (newest first)')
    .option('--search <text>', 'match email, username or name')
    .addOption(new Option('--role <role>', 'only this role').choices(['admin', 'member']))
    .addOption(new Option('--status <status>', 'only active or inactive users').choices(['active', 'inactive']))
    .option('--limit <n>', 'page size (1-100)', positiveInt, 20)
    .option('--all', 'follow every page')
    .addOption(urlOption())
    .action(
      async (
        opts: { search?: string; role?: Role; status?: 'active' | 'inactive'; limit: number; all?: boolean },
        cmd: Command,
      ) => {
        const gh = await client(cmd);
        const filter = {
          limit: opts.limit,
          ...(opts.search ? { search: opts.search } : {}),
          ...(opts.role ? { role: opts.role } : {}),
          ...(opts.status ? { status: opts.status } : {}),
        };
        const page = await (await remote()).listUsers(io, gh, filter, opts.all === true);
        if (json()) return printJson(io, page);
        printTable(io, userColumns, page.items.map(userRow));
        note(io, `${page.items.length} of ${page.total} user(s)${page.nextCursor ? ' (more: --all)' : ''}`);
      },
    );

  users
    .command('create')
    .description('create a user')
    .requiredOption('--email <email>', 'email address')
    .requiredOption('--name <name>', 'display name')
    .option('--username <username>', 'optional username')
    .addOption(new Option('--role <role>', 'role').choices(['admin', 'member']).default('member'))
    .option('--password-stdin', 'read the password from standard input')
    .addOption(urlOption())
    .addHelpText('after', PASSWORD_HELP)
    .action(
      async (
        opts: { email: string; name: string; username?: string; role: Role; passwordStdin?: boolean },
        cmd: Command,
      ) => {
        const gh = await client(cmd);
        const password = await readPassword(io, opts);
        const user = await gh.user.create.mutate({
          email: opts.email,
          name: opts.name,
          role: opts.role,
          password,
          ...(opts.username ? { username: opts.username } : {}),
        });
        if (json()) printJson(io, user);
        else print(io, `created ${user.role} ${user.email} (${user.id})`);
      },
    );

  for (const [name, isActive] of [
    ['deactivate', false],
    ['activate', true],
  ] as const) {
    users
      .command(name)
      .description(isActive ? 'reactivate a user' : 'deactivate a user (their sessions are revoked)')
      .argument('<user>', 'email, username or id')
      .addOption(urlOption())
      .action(async (identifier: string, _opts: unknown, cmd: Command) => {
        const gh = await client(cmd);
        const target = await (await remote()).findUser(gh, identifier);
        const user = await gh.user.update.mutate({ id: target.id, isActive });
        if (json()) printJson(io, user);
        else print(io, `${user.email} is ${user.isActive ? 'active' : 'deactivated'}`);
      });
  }

  // ---- email flows: invitations and one-time reset links ----
  users
    .command('invite')
    .description('invite a user by mail (or, with --link, print a one-time link to hand over)')
    .requiredOption('--email <email>', 'email address')
    .requiredOption('--name <name>', 'display name')
    .addOption(new Option('--role <role>', 'role').choices(['admin', 'member']).default('member'))
    .option('--link', 'print the invitation link instead of mailing it (for servers without SMTP_URL)')
    .addOption(urlOption())
    .action(async (opts: { email: string; name: string; role: Role; link?: boolean }, cmd: Command) => {
      const gh = await client(cmd);
      const input = { email: opts.email, name: opts.name, role: opts.role };
      if (opts.link) {
        const { invitation, url } = await gh.user.createInvitationLink.mutate(input);
        if (json()) return printJson(io, { invitation, url });
        print(io, url);
        note(io, `invitation for ${invitation.email}: works once, until ${invitation.expiresAt.toISOString()}`);
        return;
      }
      const invitation = await gh.user.invite.mutate(input);
      if (json()) printJson(io, invitation);
      else
        print(
          io,
          `invited ${invitation.role} ${invitation.email} (link mailed, valid until ${invitation.expiresAt.toISOString()})`,
        );
    });

  users
    .command('reset-link')
    .description('print a one-time password reset link for a user (30 minutes; audited, the link is not)')
    .argument('<user>', 'email, username or id')
    .addOption(urlOption())
    .action(async (identifier: string, _opts: unknown, cmd: Command) => {
      const gh = await client(cmd);
      const target = await (await remote()).findUser(gh, identifier);
      const link = await gh.user.createResetLink.mutate({ id: target.id });
      if (json()) return printJson(io, link);
      print(io, link.url);
      note(io, `reset link for ${target.email}: works once, until ${link.expiresAt.toISOString()}`);
    });

  // issue 15: recovery of second factors, on the database directly (like reset-password)
  users
    .command('reset-mfa')
    .description("remove a user's second factors (TOTP, recovery codes, passkeys) and revoke their sessions")
    .argument('<user>', 'email, username or id')
    .addHelpText('after', LOCAL_HELP)
    .action(async (identifier: string) => {
      const result = await (await local()).resetMfa(io, identifier);
      if (json()) return printJson(io, result);
      const { removed } = result;
      print(
        io,
        `second factors of ${result.user.email} removed (TOTP: ${removed.totp ? 'yes' : 'no'}, passkeys: ${removed.passkeys}, recovery codes: ${removed.recoveryCodes}); ${result.revokedSessions} session(s) revoked`,
      );
    });
};

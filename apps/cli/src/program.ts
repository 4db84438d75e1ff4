import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { isGatehouseError, type AuditEvent, type Session, type User } from '@gatehouse/client';
import { CliError, note, print, printJson, printTable, ticker, UsageError, type CliIO } from './io.js';
import { readPassword } from './password.js';

// Loaded on use, so `--help` and remote commands don't load the database drivers.
const local = () => import('./local.js');
const remoteModule = () => import('./remote.js');

export const VERSION = '0.1.0';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number');
  return n;
}

const userColumns = ['id', 'email', 'username', 'name', 'role', 'active', 'last sign-in'] as const;
const userRow = (u: User) => [u.id, u.email, u.username, u.name, u.role, u.isActive ? 'yes' : 'no', u.lastSignInAt];
const sessionColumns = ['id', 'created', 'expires', 'last seen', 'ip', 'user agent', 'current'] as const;
const sessionRow = (s: Session) => [
  s.id,
  s.createdAt,
  s.expiresAt,
  s.lastSeenAt,
  s.ip,
  s.userAgent,
  s.current ? 'yes' : '',
];
const eventLine = (e: AuditEvent) =>
  `${e.seq}\t${e.at.toISOString()}\t${e.type}\tactor=${e.actorId ?? '-'}\ttarget=${e.targetId ?? '-'}\t${JSON.stringify(e.data)}`;

const REMOTE_HELP = `
Environment:
  GATEHOUSE_URL     the server, e.g. http://localhost:3000
  GATEHOUSE_TOKEN   an admin's session token (sent as Authorization: Bearer)`;
const LOCAL_HELP = `
Environment:
  DATABASE_URL      file:<path> (SQLite) or postgres://… (default file:./data/gatehouse.db)
  AUDIT_KEY_FILE, PUBLIC_ORIGIN, REDIS_URL   as for the server (so running servers see revocations)`;
const PASSWORD_HELP = `
The password is never taken from the command line: --password-stdin reads it from standard input,
else GATEHOUSE_PASSWORD is used, else it is asked for (hidden) on a terminal.`;

/** The `gatehouse` command. Actions throw; `run` turns what they throw into an exit code. */
export function createProgram(io: CliIO): Command {
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
Exit codes: 0 success, 1 failure, 2 wrong usage.
Local commands (migrate, create-admin, reset-password) work on DATABASE_URL directly;
the others call a running server with GATEHOUSE_URL and GATEHOUSE_TOKEN.`,
    );
  const json = () => program.opts<{ json?: boolean }>().json === true;
  const remote = async (cmd: Command) =>
    (await remoteModule()).remoteClient(io, cmd.optsWithGlobals<{ url?: string }>().url);
  const urlOption = () => new Option('--url <url>', 'the server (overrides GATEHOUSE_URL)');

  // ---- local ------------------------------------------------------------------------------------
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

  // ---- users ------------------------------------------------------------------------------------
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
        opts: {
          search?: string;
          role?: 'admin' | 'member';
          status?: 'active' | 'inactive';
          limit: number;
          all?: boolean;
        },
        cmd: Command,
      ) => {
        const gh = await remote(cmd);
        const filter = {
          limit: opts.limit,
          ...(opts.search ? { search: opts.search } : {}),
          ...(opts.role ? { role: opts.role } : {}),
          ...(opts.status ? { status: opts.status } : {}),
        };
        const page = await (await remoteModule()).listUsers(io, gh, filter, opts.all === true);
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
        opts: { email: string; name: string; username?: string; role: 'admin' | 'member'; passwordStdin?: boolean },
        cmd: Command,
      ) => {
        const gh = await remote(cmd);
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
        const gh = await remote(cmd);
        const target = await (await remoteModule()).findUser(gh, identifier);
        const user = await gh.user.update.mutate({ id: target.id, isActive });
        if (json()) printJson(io, user);
        else print(io, `${user.email} is ${user.isActive ? 'active' : 'deactivated'}`);
      });
  }

  // ---- sessions ---------------------------------------------------------------------------------
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
      const list = await (await remoteModule()).listSessions(await remote(cmd), opts.user);
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
      const gh = await remote(cmd);
      if (opts.user) {
        const target = await (await remoteModule()).findUser(gh, opts.user);
        const result = await gh.session.revokeAllForUser.mutate({ userId: target.id });
        if (json()) printJson(io, result);
        else print(io, `${result.revoked} session(s) of ${target.email} revoked`);
      } else if (id) {
        const result = await gh.session.revoke.mutate({ id });
        if (json()) printJson(io, result);
        else print(io, `session ${id} revoked`);
      }
    });

  // ---- audit ------------------------------------------------------------------------------------
  const audit = program
    .command('audit')
    .description('verify, export and follow the audit log')
    .addHelpText('after', REMOTE_HELP);
  audit
    .command('verify')
    .description('verify the whole log on the server, or an export offline (no server) with --offline')
    .option('--offline <dir>', 'verify an export directory (from `audit export`) instead')
    .option('--public-key <key>', 'the signed-note verifier key (required with --offline)')
    .addOption(urlOption())
    .action(async (opts: { offline?: string; publicKey?: string }, cmd: Command) => {
      let ok: boolean;
      let result: object;
      let summary: string;
      if (opts.offline !== undefined) {
        if (!opts.publicKey)
          throw new UsageError('--offline needs --public-key <origin+keyid+key> (printed by `audit export`)');
        const stop = ticker(io, `verifying ${opts.offline}`);
        const offline = await (await remoteModule()).verifyOffline(opts.offline, opts.publicKey).finally(stop);
        ok = offline.ok;
        result = offline;
        summary = offline.ok
          ? `ok: ${offline.checked} events, checkpoint ${offline.checkpoint?.treeSize ?? 0} signed by ${offline.checkpoint?.origin ?? '?'}` +
            (offline.uncovered > 0 ? `, ${offline.uncovered} newer event(s) not yet covered by a signature` : '')
          : `FAILED${offline.firstInvalidSeq !== null ? ` at seq ${offline.firstInvalidSeq}` : ''}: ${offline.reason ?? 'unknown'}`;
      } else {
        if (opts.publicKey) throw new UsageError('--public-key goes with --offline');
        const gh = await remote(cmd);
        note(io, 'verifying the audit log on the server…');
        const stop = ticker(io, 'verifying');
        const online = await gh.audit.verify.query().finally(stop);
        ok = online.ok;
        result = online;
        summary = online.ok
          ? `ok: ${online.checked} events, tree size ${online.treeSize}, root ${online.rootHash}`
          : `FAILED${online.firstInvalidSeq !== null ? ` at seq ${online.firstInvalidSeq}` : ''}: ${online.reason ?? 'unknown'}`;
      }
      if (json()) printJson(io, result);
      else print(io, summary);
      if (!ok) throw new CliError('audit log verification failed', { cause: 'reported' });
    });

  audit
    .command('export')
    .description('write the events (events.jsonl) and the latest signed checkpoint into a directory')
    .argument('<dir>', 'output directory (created if missing)')
    .addOption(urlOption())
    .action(async (dir: string, _opts: unknown, cmd: Command) => {
      const result = await (await remoteModule()).exportAudit(io, await remote(cmd), dir);
      if (json()) return printJson(io, result);
      print(
        io,
        `exported ${result.events} events to ${dir} (checkpoint at ${result.treeSize}, root ${result.rootHash})`,
      );
      print(io, `verify offline with: gatehouse audit verify --offline ${dir} --public-key '${result.publicKey}'`);
    });

  audit
    .command('tail')
    .description('print audit events as they happen (Ctrl-C to stop)')
    .option('--after <seq>', 'start after this seq (default: from now on; 0 = from the beginning)', positiveInt)
    .option('--count <n>', 'stop after n events', positiveInt)
    .addOption(urlOption())
    .action(async (opts: { after?: number; count?: number }, cmd: Command) => {
      const gh = await remote(cmd);
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        await (
          await remoteModule()
        ).tailAudit(gh, { afterSeq: opts.after, count: opts.count, signal: stop.signal }, (event) =>
          print(io, json() ? JSON.stringify(event) : eventLine(event)),
        );
      } finally {
        process.removeListener('SIGINT', onSignal);
        process.removeListener('SIGTERM', onSignal);
      }
    });

  return program;
}

/** Runs the CLI; resolves to the exit code (0 ok, 1 failure, 2 usage). */
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

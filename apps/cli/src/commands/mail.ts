/** `gatehouse mail status`: what the outbox holds and what the worker did, on a running server. */
import type { Command } from 'commander';
import { printTable } from '../format.js';
import { note, print, printJson } from '../io.js';
import { positiveInt, REMOTE_HELP, urlOption, type Register } from './context.js';

export const register: Register = (program, { io, json, client }) => {
  const mail = program
    .command('mail')
    .description('mail delivery on a running server')
    .addHelpText('after', REMOTE_HELP);

  mail
    .command('status')
    .description('mail delivery: waiting, sent and given-up mails, and the latest ones')
    .option('--limit <n>', 'how many recent mails to list (1-100)', positiveInt, 20)
    .addOption(urlOption())
    .action(async (opts: { limit: number }, cmd: Command) => {
      const gh = await client(cmd);
      const status = await gh.mail.status.query({ limit: Math.min(Math.max(opts.limit, 1), 100) });
      if (json()) return printJson(io, status);
      if (!status.configured) {
        print(io, 'mail is not configured (SMTP_URL): use `gatehouse users invite --link` and `users reset-link`');
        return;
      }
      print(
        io,
        `transport ${status.transport}: ${status.pending} waiting, ${status.sent} sent, ${status.failed} given up` +
          (status.oldestPendingAt ? ` (oldest waiting since ${status.oldestPendingAt.toISOString()})` : ''),
      );
      printTable(
        io,
        ['created', 'status', 'attempts', 'kind', 'to', 'last error'],
        status.recent.map((m) => [
          m.createdAt.toISOString(),
          m.status,
          String(m.attempts),
          m.kind,
          m.to,
          m.lastError ?? '',
        ]),
      );
      note(io, `${status.recent.length} recent mail(s)`);
    });
};

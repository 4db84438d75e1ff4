/** #19 `gatehouse webhooks list`: the webhook endpoints of a running server and their state. */
import type { Command } from 'commander';
import { printTable } from '../format.js';
import { note, printJson } from '../io.js';
import { REMOTE_HELP, urlOption, type Register } from './context.js';

export const register: Register = (program, { io, json, client }) => {
  const webhooks = program
    .command('webhooks')
    .description('webhook endpoints on a running server (admin)')
    .addHelpText('after', REMOTE_HELP);

  webhooks
    .command('list')
    .description('every webhook endpoint: URL, events, state, delivered up to which audit seq')
    .addOption(urlOption())
    .action(async (_opts: object, cmd: Command) => {
      const gh = await client(cmd);
      const list = await gh.webhook.list.query();
      if (json()) return printJson(io, list);
      printTable(
        io,
        ['id', 'url', 'events', 'state', 'delivered to seq', 'last error'],
        list.map((w) => [
          w.id,
          w.url,
          w.events.join(' '),
          w.enabled ? (w.failures > 0 ? `failing (${w.failures})` : 'enabled') : `disabled: ${w.disabledReason ?? ''}`,
          String(w.cursorSeq),
          w.lastError ?? '',
        ]),
      );
      note(io, `${list.length} webhook(s)`);
    });
};

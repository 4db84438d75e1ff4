/** `gatehouse audit …`: verify (on the server or offline), export and follow the audit log. */
import type { Command } from 'commander';
import { eventLine } from '../format.js';
import { CliError, note, print, printJson, ticker, UsageError } from '../io.js';
import { positiveInt, REMOTE_HELP, urlOption, type Register } from './context.js';
// #19 receipts
import { readFile } from 'node:fs/promises';

export const register: Register = (program, { io, json, remote, local, client }) => {
  const audit = program
    .command('audit')
    .description('verify, export and follow the audit log')
    .addHelpText('after', REMOTE_HELP);

  audit
    .command('verify')
    .description('verify the whole log on the server, or an export offline (no server) with --offline')
    .option('--offline <dir>', 'verify an export directory (from `audit export`) instead')
    .option('--public-key <key>', 'the signed-note verifier key (required with --offline)')
    .option('--key-history <file>', 'with --offline: retired keys (<AUDIT_KEY_FILE>.history) for older checkpoints')
    // #19 audit witnesses
    .option(
      '--witness <key>',
      'with --offline: a witness verifier key whose cosignature counts (repeatable)',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option('--witness-policy <policy>', 'with --offline: <n> or <n>:<name>|<name> (default 1 of the --witness keys)')
    .addOption(urlOption())
    .action(
      async (
        opts: { offline?: string; publicKey?: string; keyHistory?: string; witness: string[]; witnessPolicy?: string },
        cmd: Command,
      ) => {
        let ok: boolean;
        let result: object;
        let summary: string;
        if (opts.offline !== undefined) {
          if (!opts.publicKey)
            throw new UsageError('--offline needs --public-key <origin+keyid+key> (printed by `audit export`)');
          const stop = ticker(io, `verifying ${opts.offline}`);
          const offline = await (
            await remote()
          )
            .verifyOffline(opts.offline, opts.publicKey, opts.keyHistory, {
              keys: opts.witness,
              ...(opts.witnessPolicy !== undefined ? { policy: opts.witnessPolicy } : {}),
            })
            .finally(stop);
          ok = offline.ok;
          result = offline;
          summary = offline.ok
            ? `ok: ${offline.checked} events, checkpoint ${offline.checkpoint?.treeSize ?? 0} signed by ${offline.checkpoint?.origin ?? '?'}` +
              (offline.uncovered > 0 ? `, ${offline.uncovered} newer event(s) not yet covered by a signature` : '')
            : `FAILED${offline.firstInvalidSeq !== null ? ` at seq ${offline.firstInvalidSeq}` : ''}: ${offline.reason ?? 'unknown'}`;
        } else {
          if (opts.publicKey || opts.keyHistory)
            throw new UsageError('--public-key and --key-history go with --offline');
          const gh = await client(cmd);
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
      },
    );

  // #19 receipts: a personal receipt (C2SP tlog-proof from "My security history"), offline
  audit
    .command('verify-proof')
    .description('verify a downloaded .tlog-proof receipt offline (no server): event, inclusion, signature, witnesses')
    .argument('<file>', 'the .tlog-proof file')
    .requiredOption('--key <vkey>', "the log's signed-note verifier key (compare with the one the operator publishes)")
    .option(
      '--witness <vkey>',
      'a witness verifier key whose cosignature counts (repeatable)',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option('--quorum <n>', 'how many of the --witness keys must have cosigned (default 1 when any is given)', (v) => {
      if (!/^(0|[1-9][0-9]{0,2})$/.test(v)) throw new UsageError('--quorum must be a small non-negative integer');
      return Number(v);
    })
    .option('--event <file>', 'the event JSON downloaded next to the proof: must be the event inside the proof')
    .action(async (file: string, opts: { key: string; witness: string[]; quorum?: number; event?: string }) => {
      const { verifyReceipt } = await import('@gatehouse/api/receipts');
      const read = async (path: string) => {
        try {
          return await readFile(path, 'utf8');
        } catch (error) {
          throw new UsageError(`cannot read ${path}: ${(error as Error).message}`);
        }
      };
      const result = await verifyReceipt(await read(file), {
        logKey: opts.key,
        witnessKeys: opts.witness,
        ...(opts.quorum !== undefined ? { quorum: opts.quorum } : {}),
        ...(opts.event !== undefined ? { eventJson: await read(opts.event) } : {}),
      });
      if (json()) printJson(io, result);
      else {
        for (const check of result.checks) print(io, `${check.ok ? 'ok  ' : 'FAIL'} ${check.step}: ${check.detail}`);
        print(
          io,
          result.ok
            ? `verified: event ${result.seq} is in the log ${result.checkpoint?.origin ?? ''} at tree size ${result.checkpoint?.treeSize ?? 0}`
            : `FAILED: ${result.reason ?? 'unknown'}`,
        );
      }
      if (!result.ok) throw new CliError('receipt verification failed', { cause: 'reported' });
    });

  audit
    .command('export')
    .description('write the events (events.jsonl) and the latest signed checkpoint into a directory')
    .argument('<dir>', 'output directory (created if missing)')
    // #19 audit tiles
    .option('--tiles', 'write the log as C2SP tlog-tiles (checkpoint, tile/…) for any static web server instead')
    .addOption(urlOption())
    .action(async (dir: string, opts: { tiles?: boolean; url?: string }, cmd: Command) => {
      if (opts.tiles === true) {
        const tiles = await (await remote()).exportTiles(io, dir, cmd.optsWithGlobals<{ url?: string }>().url);
        if (json()) return printJson(io, tiles);
        return print(
          io,
          `exported tree size ${tiles.treeSize} as ${tiles.tiles} tiles and ${tiles.bundles} entry bundles to ${dir}`,
        );
      }
      const result = await (await remote()).exportAudit(io, await client(cmd), dir);
      if (json()) return printJson(io, result);
      print(
        io,
        `exported ${result.events} events to ${dir} (checkpoint at ${result.treeSize}, root ${result.rootHash})`,
      );
      print(io, `verify offline with: gatehouse audit verify --offline ${dir} --public-key '${result.publicKey}'`);
    });

  audit
    .command('rotate-key')
    .description(
      'sign the head, retire the signing key (AUDIT_KEY_FILE) into <AUDIT_KEY_FILE>.history and create a new one; stop the servers first, start them after',
    )
    .action(async () => {
      const result = await (await local()).rotateAuditKey(io);
      if (json()) return printJson(io, result);
      print(io, `retired ${result.retiredKey} (checkpoints ${result.from}..${result.to}) into ${result.history}`);
      print(io, `new verifier key: ${result.publicKey}`);
      print(io, 'restart every server sharing the key file; device cookies signed with the old key are void');
    });

  audit
    .command('tail')
    .description('print audit events as they happen (Ctrl-C to stop)')
    .option('--after <seq>', 'start after this seq (default: from now on; 0 = from the beginning)', positiveInt)
    .option('--count <n>', 'stop after n events', positiveInt)
    .addOption(urlOption())
    .action(async (opts: { after?: number; count?: number }, cmd: Command) => {
      const gh = await client(cmd);
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        await (
          await remote()
        ).tailAudit(gh, { afterSeq: opts.after, count: opts.count, signal: stop.signal }, (event) =>
          print(io, json() ? JSON.stringify(event) : eventLine(event)),
        );
      } finally {
        process.removeListener('SIGINT', onSignal);
        process.removeListener('SIGTERM', onSignal);
      }
    });
};

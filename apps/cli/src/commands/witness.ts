/** `gatehouse witness serve`: a C2SP tlog-witness other teams or machines can run (#19). */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { Verifier } from '@gatehouse/api';
import { note, print, printJson, UsageError } from '../io.js';
import type { Register } from './context.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export const register: Register = (program, { io, json }) => {
  const witness = program.command('witness').description('run a transparency-log witness (C2SP tlog-witness)');

  witness
    .command('serve')
    .description(
      'cosign checkpoints of the given logs (POST /add-checkpoint), refusing rollbacks and forks; runs until Ctrl-C',
    )
    .requiredOption('--key-file <file>', 'its Ed25519 key (PKCS#8 PEM, mode 0600; created on first start)')
    .requiredOption('--data <dir>', 'where it keeps the latest checkpoint of each log')
    .option('--log <verifier-key>', 'a log to witness: its signed-note verifier key (repeatable)', collect, [])
    .option('--name <name>', 'the witness key name', `witness/${hostname()}`)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 picks a free one)', '7380')
    .action(
      async (opts: { keyFile: string; data: string; log: string[]; name: string; host: string; port: string }) => {
        if (opts.log.length === 0) throw new UsageError('--log <verifier key> is required (the log to witness)');
        const port = Number(opts.port);
        if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--port must be 0..65535');
        // Loaded on use: --help must not load the API package (and the database drivers).
        const { createWitnessServer, loadOrCreateWitnessKey, parseVerifierKey, Witness } =
          await import('@gatehouse/api');
        let logs: Verifier[];
        try {
          logs = opts.log.map((k) => parseVerifierKey(k));
        } catch (error) {
          throw new UsageError(`--log: ${(error as Error).message}`);
        }
        const signer = loadOrCreateWitnessKey(resolve(opts.keyFile), opts.name);
        const w = new Witness({
          signer,
          logs,
          dataDir: resolve(opts.data),
          onEvent: (e) => {
            if (e.status !== 200) note(io, `witness: ${e.status} ${e.message}`);
          },
        });
        const server = createWitnessServer(w);
        await new Promise<void>((ok, fail) => {
          server.once('error', fail);
          server.listen(port, opts.host, ok);
        });
        const address = server.address();
        const url = typeof address === 'object' && address !== null ? `http://${opts.host}:${address.port}` : '';
        if (json()) printJson(io, { url, verifierKey: signer.text, logs: logs.map((l) => l.name) });
        else {
          print(io, `witness ${signer.name} listening on ${url}`);
          print(io, `verifier key: ${signer.text}`);
          print(io, `AUDIT_WITNESSES entry: url=${url};key=${signer.text}`);
        }
        await new Promise<void>((done) => {
          const stop = () => server.close(() => done());
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
      },
    );
};

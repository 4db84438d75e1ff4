/**
 * The Argon2id ceiling: how many verifications per second @node-rs/argon2 does on this machine
 * with Gatehouse's parameters (m = 19456 KiB, t = 2, p = 1), with as many in flight as the
 * thread pool can take, in a process of its own (UV_THREADPOOL_SIZE as given to it).
 *
 * Env: DURATION (seconds), CONCURRENCY. Prints `RESULT <verifies per second> <CPU ms per verify>`.
 */
import { hash, verify } from '@node-rs/argon2';
import { ARGON2ID as options } from '../lib/argon2.js';

const duration = Number(process.env.DURATION ?? 5) * 1000;
const concurrency = Number(process.env.CONCURRENCY ?? 8);
const password = 'bench-User-pass-3141';
const stored = await hash(password, options);

// Warm-up: one round on every worker.
await Promise.all(Array.from({ length: concurrency }, () => verify(stored, password)));

let done = 0;
const started = performance.now();
const cpuBefore = process.cpuUsage();
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (performance.now() - started < duration) {
      if (!(await verify(stored, password))) throw new Error('verify failed');
      done++;
    }
  }),
);
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuBefore);
// Verifications per second, and CPU milliseconds (all threads) per verification.
process.stdout.write(`RESULT ${(done / seconds).toFixed(2)} ${((cpu.user + cpu.system) / 1000 / done).toFixed(3)}\n`);

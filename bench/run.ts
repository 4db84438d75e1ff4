/**
 * `pnpm bench` (issue 8): HTTP throughput against peers, sign-in against the Argon2id ceiling,
 * and footprint. Results go to docs/benchmarks.md (only the sections named below are
 * rewritten). Needs a build first (`pnpm build`): Gatehouse runs as apps/server/dist/main.js.
 *
 *   pnpm bench                          everything (≈ 8 minutes on 2 cores)
 *   pnpm bench --only http,signin       some parts
 *   pnpm bench --quick                  shorter runs, for checking the harness
 *   pnpm bench --no-write               print only
 *   pnpm bench --only http --targets B,B0,C,C0 --rounds 5 --no-write
 *                                       an A/B of a few targets (C0: BENCH_BASELINE_SERVER=<main.js>)
 *
 * The audit log benchmark is separate: `pnpm --filter @gatehouse/bench exec tsx audit/run.ts`.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { runFootprintBench } from './footprint.js';
import { runHttpBench } from './http.js';
import { assertBuilt } from './lib/gatehouse.js';
import { environmentLine, loadAverage, writeSection } from './lib/report.js';
import { runSignInBench } from './signin.js';

const { values } = parseArgs({
  // `pnpm bench -- --only http` hands the separator through: ignore it.
  args: process.argv.slice(2).filter((arg) => arg !== '--'),
  options: {
    only: { type: 'string', default: 'http,signin,footprint' },
    quick: { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
    targets: { type: 'string' },
    rounds: { type: 'string' },
    duration: { type: 'string' },
  },
});
const parts = new Set(values.only.split(',').map((s) => s.trim()));
const quick = values.quick;
const log = (line: string) => process.stdout.write(`${line}\n`);

assertBuilt();
const output = (name: string, title: string, body: string) => {
  log(`\n## ${title}\n\n${body}\n`);
  if (!values['no-write']) writeSection(name, title, body);
};

/** Every section says how busy the machine was (1-minute load average) before and after it ran. */
const measured = async (run: () => Promise<string>): Promise<string> => {
  const before = loadAverage();
  const body = await run();
  return `${environmentLine([`load average ${before} before / ${loadAverage()} after (${os.cpus().length} cores)`])}\n\n${body}`;
};

if (parts.has('http')) {
  const body = await measured(
    async () =>
      (
        await runHttpBench({
          rounds: values.rounds ? Number(values.rounds) : quick ? 1 : 3,
          duration: values.duration ? Number(values.duration) : quick ? 3 : 8,
          connections: 20,
          log,
          ...(values.targets ? { targets: values.targets.split(',').map((s) => s.trim()) } : {}),
        })
      ).markdown,
  );
  output('http', 'HTTP: Gatehouse auth.me against the ceiling and better-auth (issue 8)', body);
}
if (parts.has('signin')) {
  const body = await measured(() => runSignInBench({ quick, log }));
  output('signin', 'Sign-in against the Argon2id ceiling (issue 8)', body);
}
if (parts.has('footprint')) {
  const body = await measured(() => runFootprintBench({ quick, log }));
  output('footprint', 'Footprint: start time and memory (issue 8)', body);
}

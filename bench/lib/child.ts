/**
 * Child processes for the benchmarks: every server under test runs in its own process, started
 * the same way, and is found by the URL it prints (`READY <url>` or Gatehouse's
 * `Gatehouse listening on <url>`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Node arguments that run a TypeScript file in the child itself (no tsx CLI wrapper), so pid and RSS are the server's. */
export const TSX = [
  '--import',
  pathToFileURL(fileURLToPath(new URL('../node_modules/tsx/dist/loader.mjs', import.meta.url))).href,
];

export interface Child {
  name: string;
  url: string;
  pid: number;
  process: ChildProcess;
  /** Milliseconds from spawn to the ready line. */
  readyMs: number;
  /** Resident set size in bytes, read from /proc (Linux). */
  rss(): number;
  /** CPU seconds used so far (user + system, all threads). */
  cpuSeconds(): number;
  stop(): Promise<void>;
  /** Last lines of stderr (for error messages). */
  stderrTail(): string;
}

const READY = /(?:READY|Gatehouse listening on) (http:\/\/\S+)/;

/** CPU time (user + system, all threads) the process has used so far, in seconds (Linux /proc). */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15 (clock ticks of 1/100 s).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return match ? Number(match[1]) * 1024 : Number.NaN;
}

export interface StartOptions {
  name: string;
  command?: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
  timeoutMs?: number;
  /** The line that means ready; its first group becomes `url`. */
  readyPattern?: RegExp;
}

export function startChild(options: StartOptions): Promise<Child> {
  const started = performance.now();
  const child = spawn(options.command ?? process.execPath, options.args, {
    cwd: options.cwd,
    env: { ...process.env, NODE_ENV: 'production', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr.push(chunk);
    if (stderr.length > 50) stderr.shift();
  });
  const tail = () => stderr.join('').slice(-2000);
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );

  return new Promise<Child>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${options.name}: not ready after ${options.timeoutMs ?? 30_000} ms\n${tail()}`));
    }, options.timeoutMs ?? 30_000);
    // 'close' comes after stdout has ended, so a ready line printed just before exiting is seen first.
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${options.name}: exited before ready (code ${code}, signal ${signal})\n${tail()}`));
    });
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const url = (options.readyPattern ?? READY).exec(line)?.[1];
      if (url === undefined) return;
      clearTimeout(timer);
      // A child that printed a line has been spawned, so it has a pid.
      const pid = child.pid ?? 0;
      const readyMs = performance.now() - started;
      lines.removeAllListeners('line');
      // Keep draining stdout so the child never blocks on a full pipe.
      child.stdout.resume();
      resolve({
        name: options.name,
        url,
        pid,
        process: child,
        readyMs,
        rss: () => rssOf(pid),
        cpuSeconds: () => cpuSecondsOf(pid),
        stderrTail: tail,
        async stop() {
          if (exited) return;
          child.kill('SIGTERM');
          const forced = setTimeout(() => child.kill('SIGKILL'), 5_000);
          await exit;
          clearTimeout(forced);
        },
      });
    });
  });
}

/** A free TCP port on 127.0.0.1 (for servers whose start time is measured by polling). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * What every e2e file sets up the same way: the dashboard's production build served by the real
 * server (a temporary SQLite file, a free loopback port), Debian's Chromium through
 * playwright-core, the sign-in form, the accessibility check (axe-core) and the page's own error
 * reports. Each test file keeps its own flows and assertions; this only spares it the set-up.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { buildServer, loadConfig, type BuildServerOptions, type GatehouseServer } from '@gatehouse/server';

const here = dirname(fileURLToPath(import.meta.url));
/** The dashboard's production build (`pnpm --filter @gatehouse/dashboard build`). */
const DIST = resolve(here, '../dist');
/** Debian's Chromium, or the one CHROMIUM_PATH names. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Where a file's screenshots go: test-results/<name>/ at the repository root. */
export const shotsDir = (name: string): string => resolve(here, '../../../test-results', name);

/** A port nobody listens on at the moment, on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const probe = createServer();
    probe.once('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => ok(port));
    });
  });
}

/** Where the server is about to run, for settings that depend on it (files in `dir`, the port). */
export interface DashboardServerPlace {
  /** The temporary directory (the database, the audit key); removed by `stop()`. */
  dir: string;
  port: number;
  /** The public origin the dashboard is served at. */
  url: string;
}

export interface DashboardServer extends DashboardServerPlace {
  server: GatehouseServer;
  /** The same server by IP (http://127.0.0.1:<port>), for API clients when `url` is a name. */
  apiUrl: string;
  /** Closes the server and removes the temporary directory. */
  stop(): Promise<void>;
}

export interface DashboardServerOptions {
  /** Names the temporary directory (`<prefix>XXXXXX` in the OS temp dir). */
  tmpPrefix: string;
  /** The host name in the public origin; `localhost` where WebAuthn wants a domain. */
  hostname?: '127.0.0.1' | 'localhost';
  /** More settings (or other values for the defaults), given where the server will run. */
  env?: (place: DashboardServerPlace) => Record<string, string> | Promise<Record<string, string>>;
  /** `buildServer`'s options besides the logger (silenced), e.g. a clock. */
  build?: Omit<BuildServerOptions, 'logger'>;
}

/** The dashboard build on the real server, listening on a free port of 127.0.0.1. */
export async function startDashboardServer(options: DashboardServerOptions): Promise<DashboardServer> {
  if (!existsSync(join(DIST, 'index.html'))) {
    throw new Error(
      `The dashboard build is missing (${DIST}). Run \`pnpm --filter @gatehouse/dashboard build\` (the root \`pnpm test\` does it).`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), options.tmpPrefix));
  try {
    const port = await freePort();
    const url = `http://${options.hostname ?? '127.0.0.1'}:${port}`;
    const config = loadConfig({
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: `file:${join(dir, 'gatehouse.db')}`,
      AUDIT_KEY_FILE: join(dir, 'audit.key'),
      PUBLIC_ORIGIN: url,
      DASHBOARD_DIR: DIST,
      LOG_LEVEL: 'silent',
      ...(await options.env?.({ dir, port, url })),
    });
    const server = await buildServer(config, { ...options.build, logger: false });
    await server.app.listen({ port, host: '127.0.0.1' });
    return {
      dir,
      port,
      url,
      apiUrl: `http://127.0.0.1:${port}`,
      server,
      async stop() {
        await server.app.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Headless Chromium with `--no-sandbox --disable-gpu` and the file's `extraArgs`. */
export async function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is not installed at ${CHROMIUM}. Install Debian's package: apt-get install -y chromium (nothing downloads a browser).`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', ...extraArgs],
  });
}

/** Waits for the screen's level-1 heading. */
export async function heading(page: Page, name: string | RegExp): Promise<void> {
  await page.getByRole('heading', { level: 1, name }).waitFor();
}

/** On the sign-in screen: fills the form and submits it (what follows is the caller's to await). */
export async function signIn(
  page: Page,
  { identifier, password, rememberMe = false }: { identifier: string; password: string; rememberMe?: boolean },
): Promise<void> {
  await heading(page, 'Sign in');
  await page.getByLabel('Email or username').fill(identifier);
  await page.getByLabel('Password', { exact: true }).fill(password);
  if (rememberMe) await page.getByLabel('Keep me signed in on this device').check();
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

/** Problems the page reports by itself: uncaught errors and console errors (CSP violations among them). */
export function watchForErrors(page: Page, into: string[]): void {
  page.on('pageerror', (error) => into.push(`${page.url()} pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const text = message.text();
    // The browser logs every 4xx answer; those are expected here (wrong password, revoked session).
    if (/Failed to load resource: the server responded with a status of 4\d\d/.test(text)) return;
    into.push(`${page.url()} console: ${text}`);
  });
}

/** axe-core, evaluated into a screen to check it (DevTools evaluation is not bound by the page's CSP). */
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface AxeResult {
  violations: Array<{ id: string; impact?: string | null; help: string; nodes: Array<{ target: unknown[] }> }>;
}

/**
 * The screen's accessibility violations (axe-core, WCAG 2 A/AA and best-practice rules), one line
 * each, `label: [impact] rule — help (nodes)`; none is `[]`.
 */
export async function axeViolations(page: Page, label?: string): Promise<string[]> {
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(() =>
    (window as unknown as { axe: { run(context: Document, options: object): Promise<AxeResult> } }).axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
      resultTypes: ['violations'],
    }),
  );
  return result.violations.map(
    (v) =>
      `${label ? `${label}: ` : ''}[${v.impact}] ${v.id} — ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`,
  );
}

/** The accessibility check of a screen, then its full-page screenshot `<dir>/<name>.png`. */
export async function checkAndShoot(page: Page, dir: string, name: string): Promise<string[]> {
  const violations = await axeViolations(page, name);
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
  return violations;
}

/**
 * issue 15: passkeys end to end in Debian's Chromium with a virtual authenticator (Chrome DevTools
 * Protocol `WebAuthn.addVirtualAuthenticator`: CTAP2, resident keys, user verification), against
 * the real server and the dashboard's production build. WebAuthn needs a secure context and a
 * domain as RP ID: the page is served as http://localhost:<port> (PUBLIC_ORIGIN), which is one.
 *
 * Register a passkey on the Security screen, sign out, sign in with the passkey alone
 * (discoverable credential), sign out, then sign in with the password and the passkey as the
 * second factor.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGatehouseClient } from '@gatehouse/client';
import { buildServer, loadConfig, type GatehouseServer } from '@gatehouse/server';

const here = dirname(fileURLToPath(import.meta.url));
const DIST = resolve(here, '../dist');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ADMIN = { name: 'Pat Passkey', email: 'pat@example.test', password: 'correct horse battery staple' };

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

describe('passkeys in Chromium (virtual authenticator)', () => {
  let dir: string;
  let server: GatehouseServer;
  let url: string;
  let browser: Browser;
  const problems: string[] = [];

  beforeAll(async () => {
    if (!existsSync(join(DIST, 'index.html'))) throw new Error(`The dashboard build is missing (${DIST}).`);
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM}.`);
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-passkeys-e2e-'));
    const port = await freePort();
    url = `http://localhost:${port}`;
    const config = loadConfig({
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: `file:${join(dir, 'gatehouse.db')}`,
      AUDIT_KEY_FILE: join(dir, 'audit.key'),
      PUBLIC_ORIGIN: url,
      DASHBOARD_DIR: DIST,
      LOG_LEVEL: 'silent',
    });
    server = await buildServer(config, { logger: false });
    await server.app.listen({ port, host: '127.0.0.1' });
    await createGatehouseClient({ url: `http://127.0.0.1:${port}` }).auth.createFirstUser.mutate(ADMIN);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--host-resolver-rules=MAP localhost 127.0.0.1',
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.app.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function heading(page: Page, name: string | RegExp) {
    await page.getByRole('heading', { level: 1, name }).waitFor();
  }

  async function signOut(page: Page) {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await heading(page, 'Sign in');
  }

  it('registers a passkey, signs in with it alone, and uses it as the second factor', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-GB' });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });

    // Password sign-in, then a passkey on the Security screen.
    await page.goto(url);
    await heading(page, 'Sign in');
    await page.getByLabel('Email or username').fill(ADMIN.email);
    await page.getByLabel('Password', { exact: true }).fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await heading(page, `Welcome, ${ADMIN.name}`);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Security' }).click();
    await heading(page, 'Security');
    await page.getByLabel('Passkey name').fill('Test laptop');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    const list = page.getByRole('list', { name: 'Your passkeys' });
    await list.getByText('Test laptop', { exact: true }).waitFor();
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    expect(credentials).toHaveLength(1);
    expect(credentials[0]?.isResidentCredential).toBe(true);

    // Rename it.
    await list.getByRole('button', { name: 'Rename' }).click();
    await page.getByLabel('New name').fill('Work laptop');
    await page.getByRole('button', { name: 'Save name' }).click();
    await list.getByText('Work laptop', { exact: true }).waitFor();

    // Passwordless: the discoverable credential names the account.
    await signOut(page);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await heading(page, `Welcome, ${ADMIN.name}`);
    await signOut(page);

    // The password is now followed by a second step, answered by the same passkey.
    await page.getByLabel('Email or username').fill(ADMIN.email);
    await page.getByLabel('Password', { exact: true }).fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Confirm it is you' }).waitFor();
    await page.getByRole('button', { name: 'Use passkey' }).click();
    await heading(page, `Welcome, ${ADMIN.name}`);

    // The signature counter moved with each use, and the server agrees on what happened.
    const after = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    expect(after.credentials[0]?.signCount).toBeGreaterThanOrEqual(2);
    const admin = await createGatehouseClient({ url: `http://127.0.0.1:${new URL(url).port}` }).auth.signIn.mutate({
      identifier: ADMIN.email,
      password: ADMIN.password,
    });
    expect(admin).toMatchObject({ status: 'mfa-required', methods: ['passkey'] });
    await context.close();
    expect(problems).toEqual([]);
  });
});

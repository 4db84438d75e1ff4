/**
 * Issue 16 in Chromium: the API keys screen (create, shown once, works as a bearer key, rotate,
 * revoke) and the forward-auth sign-in round trip (signed out → sign-in screen → back to the
 * allow-listed URL). The dashboard's production build on the real server, Debian's Chromium.
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
const ADMIN = { name: 'Kay Keys', email: 'kay@example.test', password: 'correct horse battery staple' };

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

describe('API keys and the forward-auth return in Chromium', () => {
  let dir: string;
  let server: GatehouseServer;
  let url: string;
  let browser: Browser;

  beforeAll(async () => {
    if (!existsSync(join(DIST, 'index.html'))) throw new Error(`The dashboard build is missing (${DIST}).`);
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-dashboard-keys-'));
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
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
    await createGatehouseClient({ url, token: 'none' }).auth.createFirstUser.mutate(ADMIN);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.app.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function signIn(page: Page): Promise<void> {
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    await page.getByLabel('Email or username').fill(ADMIN.email);
    await page.getByLabel('Password', { exact: true }).fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  }

  it('a signed-out visitor sent by forward auth signs in and lands back on the URL they asked for', async () => {
    const page = await (await browser.newContext()).newPage();
    const wanted = `${url}/health?from=proxy`;
    await page.goto(`${url}/auth/sign-in?rd=${encodeURIComponent(wanted)}`);
    await signIn(page);
    await page.waitForURL(wanted);
    expect(await page.textContent('body')).toContain('ok');
    await page.context().close();
  });

  it('creates a key shown once that works as a bearer key, rotates and revokes it', async () => {
    const page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(15_000);
    await page.goto(`${url}/#/api-keys`);
    await signIn(page);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'API keys' }).click();
    await page.getByRole('heading', { level: 1, name: 'API keys' }).waitFor();
    await page.getByLabel('Name').fill('reporting script');
    await page.getByLabel(/^users:read/).check();
    await page.getByRole('button', { name: 'Create key' }).click();
    const key = (await page.getByTestId('new-api-key').textContent()) ?? '';
    expect(key).toMatch(/^gh_[a-z2-7]{16}_[a-z2-7]{52}$/);
    await page.getByRole('button', { name: 'I have copied it' }).click();
    await expect.poll(() => page.getByTestId('new-api-key').count()).toBe(0);
    const row = page.getByRole('row', { name: /reporting script/ });
    await row.waitFor();
    expect(await row.textContent()).toContain(key.slice(0, 19)); // the gh_<id> prefix, never the secret
    expect(await page.content()).not.toContain(key);

    const client = createGatehouseClient({ url, token: key });
    expect((await client.user.list.query({})).items.map((u) => u.email)).toContain(ADMIN.email);

    await row.getByRole('button', { name: 'Rotate the key reporting script' }).click();
    const rotated = (await page.getByTestId('new-api-key').textContent()) ?? '';
    expect(rotated).not.toBe(key);
    await page.getByRole('button', { name: 'I have copied it' }).click();
    await expect.poll(() => page.getByRole('row', { name: /reporting script/ }).count()).toBe(2);

    for (let i = 0; i < 2; i++) {
      const first = page.getByRole('row', { name: /reporting script/ }).first();
      await first.getByRole('button', { name: 'Revoke' }).click();
      await first.getByRole('button', { name: 'Revoke it' }).click();
      await expect.poll(() => page.getByRole('row', { name: /reporting script/ }).count()).toBe(1 - i);
    }
    await expect(client.user.list.query({})).rejects.toThrow();
    await page.context().close();
  });
});

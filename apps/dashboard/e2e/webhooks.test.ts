/**
 * Webhooks (#19) in Chromium: an administrator creates an endpoint on the Webhooks screen (the
 * secret shown once), a sign-in reaches the loopback receiver (allowed with WEBHOOK_ALLOWED_HOSTS),
 * the delivery log on the screen shows it delivered, and disabling shows why. axe-core checks the
 * screen. The dashboard's production build on the real server, Debian's Chromium.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGatehouseClient } from '@gatehouse/client';
import { startTestWebhookReceiver, type TestWebhookReceiver } from '@gatehouse/api/testing';
import { buildServer, loadConfig, type GatehouseServer } from '@gatehouse/server';

const here = dirname(fileURLToPath(import.meta.url));
const DIST = resolve(here, '../dist');
const SHOTS = resolve(here, '../../../test-results/dashboard-webhooks');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const ADMIN = { name: 'Wes Hooks', email: 'wes@example.test', password: 'correct horse battery staple' };

interface AxeResult {
  violations: Array<{ id: string; impact?: string | null; help: string; nodes: Array<{ target: unknown[] }> }>;
}

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

describe('the Webhooks screen in Chromium', () => {
  let dir: string;
  let server: GatehouseServer;
  let receiver: TestWebhookReceiver;
  let url: string;
  let browser: Browser;
  const problems: string[] = [];

  async function axe(page: Page, name: string): Promise<string[]> {
    await page.evaluate(AXE_SOURCE);
    const result = await page.evaluate(() =>
      (window as unknown as { axe: { run(context: Document, options: object): Promise<AxeResult> } }).axe.run(
        document,
        {
          runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
          resultTypes: ['violations'],
        },
      ),
    );
    await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
    return result.violations.map(
      (v) => `${name}: [${v.impact}] ${v.id} — ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`,
    );
  }

  beforeAll(async () => {
    if (!existsSync(join(DIST, 'index.html'))) throw new Error(`The dashboard build is missing (${DIST}).`);
    mkdirSync(SHOTS, { recursive: true });
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-dashboard-webhooks-'));
    receiver = await startTestWebhookReceiver();
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
      WEBHOOK_ALLOWED_HOSTS: `127.0.0.1:${receiver.port}`,
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
    await receiver?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('creates a webhook (secret shown once), delivers a sign-in to it and shows the delivery', async () => {
    const context = await browser.newContext({
      viewport: { width: 1280, height: 900 },
      locale: 'en-GB',
      timezoneId: 'UTC',
    });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    await page.goto(`${url}/#/webhooks`);
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    await page.getByLabel('Email or username').fill(ADMIN.email);
    await page.getByLabel('Password', { exact: true }).fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Webhooks' }).click();
    await page.getByRole('heading', { level: 1, name: 'Webhooks' }).waitFor();

    // Refused first: a loopback name WEBHOOK_ALLOWED_HOSTS does not name.
    await page.getByLabel('URL').fill(`http://localhost:${receiver.port}/hook`);
    await page.getByLabel('All auth.* events').check();
    await page.getByRole('button', { name: 'Create webhook' }).click();
    await page.getByText('That URL cannot receive webhooks').waitFor();

    await page.getByLabel('URL').fill(`${receiver.origin}/hook`);
    await page.getByLabel('Description').fill('SIEM');
    await page.getByRole('button', { name: 'Create webhook' }).click();
    const secret = (await page.getByTestId('new-webhook-secret').textContent()) ?? '';
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    const violations = await axe(page, 'webhooks-created');
    await page.getByRole('button', { name: 'I have copied it' }).click();
    await expect.poll(() => page.getByTestId('new-webhook-secret').count()).toBe(0);
    expect(await page.content()).not.toContain(secret);

    await createGatehouseClient({ url }).auth.signIn.mutate({ identifier: ADMIN.email, password: ADMIN.password });
    const got = await receiver.next((r) => r.json.type === 'auth.sign_in');
    expect(got.headers['webhook-signature']).toMatch(/^v1,/);

    await page.getByRole('button', { name: 'Show deliveries' }).click();
    const row = page.getByRole('row', { name: /auth\.sign_in/ }).first();
    await row.waitFor();
    expect(await row.textContent()).toContain('HTTP 200');
    violations.push(...(await axe(page, 'webhooks-deliveries')));

    await page.getByRole('button', { name: 'Disable' }).click();
    await page.getByTestId('disabled-reason').waitFor();
    expect(await page.getByTestId('disabled-reason').textContent()).toContain('Disabled by an administrator');
    expect(violations).toEqual([]);
    expect(problems).toEqual([]);
    await context.close();
  });
});

/**
 * Webhooks (#19) in Chromium: an administrator creates an endpoint on the Webhooks screen (the
 * secret shown once), a sign-in reaches the loopback receiver (allowed with WEBHOOK_ALLOWED_HOSTS),
 * the delivery log on the screen shows it delivered, and disabling shows why. axe-core checks the
 * screen. The dashboard's production build on the real server, Debian's Chromium.
 */
import { mkdirSync } from 'node:fs';
import { type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGatehouseClient } from '@gatehouse/client';
import { startTestWebhookReceiver, type TestWebhookReceiver } from '@gatehouse/api/testing';
import {
  checkAndShoot,
  launchChromium,
  shotsDir,
  signIn,
  startDashboardServer,
  type DashboardServer,
} from './harness.js';

const SHOTS = shotsDir('dashboard-webhooks');
const ADMIN = { name: 'Wes Hooks', email: 'wes@example.test', password: 'correct horse battery staple' };

describe('the Webhooks screen in Chromium', () => {
  let gatehouse: DashboardServer;
  let receiver: TestWebhookReceiver;
  let url: string;
  let browser: Browser;
  const problems: string[] = [];

  const axe = (page: Page, name: string): Promise<string[]> => checkAndShoot(page, SHOTS, name);

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    receiver = await startTestWebhookReceiver();
    gatehouse = await startDashboardServer({
      tmpPrefix: 'gatehouse-dashboard-webhooks-',
      env: () => ({ WEBHOOK_ALLOWED_HOSTS: `127.0.0.1:${receiver.port}` }),
    });
    url = gatehouse.url;
    await createGatehouseClient({ url, token: 'none' }).auth.createFirstUser.mutate(ADMIN);
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await gatehouse?.stop();
    await receiver?.stop();
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
    await signIn(page, { identifier: ADMIN.email, password: ADMIN.password });
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

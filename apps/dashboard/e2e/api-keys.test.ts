/**
 * Issue 16 in Chromium: the API keys screen (create, shown once, works as a bearer key, rotate,
 * revoke) and the forward-auth sign-in round trip (signed out → sign-in screen → back to the
 * allow-listed URL). The dashboard's production build on the real server, Debian's Chromium.
 */
import { type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGatehouseClient } from '@gatehouse/client';
import { launchChromium, signIn as submitSignIn, startDashboardServer, type DashboardServer } from './harness.js';

const ADMIN = { name: 'Kay Keys', email: 'kay@example.test', password: 'correct horse battery staple' };

describe('API keys and the forward-auth return in Chromium', () => {
  let gatehouse: DashboardServer;
  let url: string;
  let browser: Browser;

  beforeAll(async () => {
    gatehouse = await startDashboardServer({ tmpPrefix: 'gatehouse-dashboard-keys-' });
    url = gatehouse.url;
    await createGatehouseClient({ url, token: 'none' }).auth.createFirstUser.mutate(ADMIN);
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await gatehouse?.stop();
  });

  async function signIn(page: Page): Promise<void> {
    await submitSignIn(page, { identifier: ADMIN.email, password: ADMIN.password });
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

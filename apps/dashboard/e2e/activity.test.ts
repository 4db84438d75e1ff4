/**
 * #19 charts in Chromium: the admin home's activity charts count what the audit log holds, a bar
 * opens the audit screen filtered to exactly its events (filter in the URL hash, kept across a
 * reload, cleared in one click), and both screens pass axe. The dashboard's production build on
 * the real server, Debian's Chromium.
 */
import { type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGatehouseClient, type GatehouseClient } from '@gatehouse/client';
import { axeViolations as axe, launchChromium, signIn, startDashboardServer, type DashboardServer } from './harness.js';

const ADMIN = { name: 'Ada Activity', email: 'ada@example.test', password: 'correct horse battery staple' };

describe('activity charts in Chromium', () => {
  let gatehouse: DashboardServer;
  let url: string;
  let browser: Browser;
  let admin: GatehouseClient;

  beforeAll(async () => {
    gatehouse = await startDashboardServer({ tmpPrefix: 'gatehouse-dashboard-activity-' });
    url = gatehouse.url;
    await createGatehouseClient({ url, token: 'none' }).auth.createFirstUser.mutate(ADMIN);
    const signedIn = await createGatehouseClient({ url }).auth.signIn.mutate({
      identifier: ADMIN.email,
      password: ADMIN.password,
    });
    if (signedIn.status !== 'signed-in') throw new Error(`unexpected sign-in result ${signedIn.status}`);
    admin = createGatehouseClient({ url, token: signedIn.token });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await gatehouse?.stop();
  });

  it('counts 3 failed sign-ins, opens exactly them from their bar, and keeps the filter across a reload', async () => {
    const anonymous = createGatehouseClient({ url });
    for (let i = 0; i < 3; i++) {
      await expect(
        anonymous.auth.signIn.mutate({ identifier: ADMIN.email, password: `wrong password ${i}` }),
      ).rejects.toMatchObject({ data: { reason: 'invalid_credentials' } });
    }

    const page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(15_000);
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    await page.goto(url);
    await signIn(page, { identifier: ADMIN.email, password: ADMIN.password });
    await page.getByRole('heading', { level: 1, name: /Welcome/ }).waitFor();

    // The failed series says 3 over the last 24 hours (the chart module is loaded lazily).
    const failed = page.locator('figure[data-series="failedSignIns"]');
    await expect
      .poll(() => page.getByTestId('activity-summary-failedSignIns').textContent())
      .toMatch(/^3 in the last 24 hours, /);
    // Its table (for the keyboard and screen readers) has the bucket with the 3, as a link.
    await failed.getByText('Numbers').click();
    const link = failed.getByRole('link', { name: /^3 failed sign-ins, .*: show them in the audit log$/ });
    await link.waitFor();
    expect(await link.textContent()).toBe('3');
    expect(await axe(page)).toEqual([]);

    // The bar of that bucket (bars and table rows carry their bucket's start).
    const rows = await failed.locator('tbody tr').evaluateAll((trs) =>
      trs.map((tr) => ({
        start: tr.getAttribute('data-start'),
        count: tr.querySelector('td:last-child')?.textContent,
      })),
    );
    const bucket = rows.find((r) => r.count === '3');
    expect(bucket?.start).toBeTruthy();
    await failed.locator(`rect.activity-bar[data-start="${bucket?.start}"]`).click();

    await page.getByRole('heading', { level: 1, name: 'Audit log' }).waitFor();
    const hash = new URL(page.url()).hash;
    expect(hash).toMatch(/^#\/audit\?type=auth\.sign_in_failed%2Cauth\.mfa_failed&since=.+&until=.+$/);
    const params = new URLSearchParams(hash.slice(hash.indexOf('?') + 1));
    const since = new Date(params.get('since') as string);
    const until = new Date(params.get('until') as string);
    expect(since.toISOString()).toBe(bucket?.start);
    expect(until.getTime() - since.getTime()).toBe(3_600_000);

    // Exactly the events the API lists for that filter: the 3 failed sign-ins.
    const expected = await admin.audit.list.query({ type: ['auth.sign_in_failed', 'auth.mfa_failed'], since, until });
    expect(expected.items).toHaveLength(3);
    const shown = async () =>
      page
        .getByTestId('audit-table')
        .locator('tbody tr')
        .evaluateAll((trs) =>
          trs.map((tr) => `${tr.querySelector('td')?.textContent} ${tr.getAttribute('data-type')}`),
        );
    const want = expected.items.map((e) => `${e.seq} ${e.type}`);
    await expect.poll(shown).toEqual(want);
    await expect
      .poll(() => page.getByTestId('active-filter').textContent())
      .toContain('Failed sign-in or Wrong second factor');
    expect(await axe(page)).toEqual([]);

    // A reload (or a shared link) shows the same filtered view.
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Audit log' }).waitFor();
    expect(new URL(page.url()).hash).toBe(hash);
    await expect.poll(shown).toEqual(want);

    // "Show all events" clears the filter: the whole log again (the admin's own sign-in among it).
    await page.getByRole('button', { name: 'Show all events' }).click();
    await expect.poll(() => new URL(page.url()).hash).toBe('#/audit');
    await expect.poll(async () => (await shown()).some((row) => row.endsWith(' auth.sign_in'))).toBe(true);
    expect(await page.getByTestId('active-filter').count()).toBe(0);

    // Per day: the same 3, today.
    await page.goto(`${url}/#/`);
    await page.getByRole('button', { name: 'Per day' }).click();
    await expect
      .poll(() => page.getByTestId('activity-summary-failedSignIns').textContent())
      .toMatch(/^3 in the last 30 days, /);
    expect(await page.getByRole('button', { name: 'Per day' }).getAttribute('aria-pressed')).toBe('true');
    expect(problems).toEqual([]);
  });
});

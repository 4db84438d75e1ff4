/**
 * #19 charts in Chromium: the admin home's activity charts count what the audit log holds, a bar
 * opens the audit screen filtered to exactly its events (filter in the URL hash, kept across a
 * reload, cleared in one click), and both screens pass axe. The dashboard's production build on
 * the real server, Debian's Chromium.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGatehouseClient, type GatehouseClient } from '@gatehouse/client';
import { buildServer, loadConfig, type GatehouseServer } from '@gatehouse/server';

const here = dirname(fileURLToPath(import.meta.url));
const DIST = resolve(here, '../dist');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ADMIN = { name: 'Ada Activity', email: 'ada@example.test', password: 'correct horse battery staple' };
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface AxeResult {
  violations: { id: string; impact: string | null; help: string; nodes: { target: string[] }[] }[];
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

async function axe(page: Page): Promise<string[]> {
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(() =>
    (window as unknown as { axe: { run(context: Document, options: object): Promise<AxeResult> } }).axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
      resultTypes: ['violations'],
    }),
  );
  return result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
}

describe('activity charts in Chromium', () => {
  let dir: string;
  let server: GatehouseServer;
  let url: string;
  let browser: Browser;
  let admin: GatehouseClient;

  beforeAll(async () => {
    if (!existsSync(join(DIST, 'index.html'))) throw new Error(`The dashboard build is missing (${DIST}).`);
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-dashboard-activity-'));
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
    const signedIn = await createGatehouseClient({ url }).auth.signIn.mutate({
      identifier: ADMIN.email,
      password: ADMIN.password,
    });
    if (signedIn.status !== 'signed-in') throw new Error(`unexpected sign-in result ${signedIn.status}`);
    admin = createGatehouseClient({ url, token: signedIn.token });
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
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    await page.getByLabel('Email or username').fill(ADMIN.email);
    await page.getByLabel('Password', { exact: true }).fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
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

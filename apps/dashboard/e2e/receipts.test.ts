/**
 * #19 receipts in Chromium: a member signs in, opens My security history, verifies the receipt
 * of their sign-in IN THE PAGE (WebCrypto; a response tampered on the wire via page.route makes
 * the same check fail, so it really ran there), downloads the .tlog-proof, and the file verifies
 * offline with `gatehouse audit verify-proof` (no server). The log is witnessed by a real witness
 * over loopback HTTP. The dashboard's production build on the real server, Debian's Chromium.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWitnessServer, loadOrCreateSigningKey, loadOrCreateWitnessKey, Witness } from '@gatehouse/api';
import { createGatehouseClient } from '@gatehouse/client';
import { launchChromium, signIn as submitSignIn, startDashboardServer, type DashboardServer } from './harness.js';

const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../../cli/bin/gatehouse.js');
const ADMIN = { name: 'Ada Admin', email: 'ada@example.test', password: 'correct horse battery staple' };
const MEMBER = { name: 'Rita Receipt', email: 'rita@example.test', password: 'another horse battery staple' };

describe('My security history in Chromium', () => {
  let gatehouse: DashboardServer;
  let dir: string;
  let witnessServer: Server;
  let url: string;
  let browser: Browser;
  let logKey: string;
  let witnessKey: string;

  beforeAll(async () => {
    gatehouse = await startDashboardServer({
      tmpPrefix: 'gatehouse-dashboard-receipts-',
      env: async (place) => {
        const origin = `gatehouse/127.0.0.1:${place.port}`;
        const auditKey = join(place.dir, 'audit.key');
        const log = loadOrCreateSigningKey(auditKey, origin);
        logKey = log.text;
        const witnessSigner = loadOrCreateWitnessKey(join(place.dir, 'witness.key'), 'witness.e2e');
        witnessKey = witnessSigner.text;
        witnessServer = createWitnessServer(
          new Witness({ signer: witnessSigner, logs: [log], dataDir: join(place.dir, 'w') }),
        );
        await new Promise<void>((ok) => witnessServer.listen(0, '127.0.0.1', ok));
        const witnessPort = (witnessServer.address() as { port: number }).port;
        return {
          AUDIT_KEY_FILE: auditKey,
          AUDIT_WITNESSES: `url=http://127.0.0.1:${witnessPort};key=${witnessKey}`,
        };
      },
    });
    ({ dir, url } = gatehouse);
    const anonymous = createGatehouseClient({ url, token: 'none' });
    await anonymous.auth.createFirstUser.mutate(ADMIN);
    const signedIn = await anonymous.auth.signIn.mutate({ identifier: ADMIN.email, password: ADMIN.password });
    const token = (signedIn as { token?: string }).token;
    if (!token) throw new Error('admin sign-in returned no token');
    await createGatehouseClient({ url, token }).user.create.mutate({ ...MEMBER, role: 'member' });
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await gatehouse?.stop();
    await new Promise((ok) => witnessServer?.close(ok));
  });

  async function signIn(page: Page): Promise<void> {
    await submitSignIn(page, { identifier: MEMBER.email, password: MEMBER.password });
  }

  it('verifies the sign-in in the page, fails on a tampered receipt, and the download verifies offline', async () => {
    const context = await browser.newContext({ acceptDownloads: true });
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    await page.goto(`${url}/`);
    await signIn(page);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'My security history' }).click();
    await page.getByRole('heading', { level: 1, name: 'My security history' }).waitFor();
    const row = page.locator('tr[data-type="auth.sign_in"]').first();
    await row.waitFor();
    const seq = Number(await row.locator('td').first().textContent());
    expect(await page.getByTestId('security-history').textContent()).toContain('User created');

    // Verified in the browser.
    await row.getByRole('button', { name: `Verify event ${seq}` }).click();
    const status = page.getByTestId('receipt-status');
    await expect.poll(() => status.textContent()).toContain('Verified ✓ in your browser');
    expect(await status.textContent()).toContain('cosigned by witness.e2e');
    expect(await page.getByTestId('receipt-event').textContent()).toContain('"type":"auth.sign_in"');

    // Downloads: the proof and the event JSON.
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Download the proof (.tlog-proof)' }).click(),
    ]);
    expect(download.suggestedFilename()).toBe(`gatehouse-event-${seq}.tlog-proof`);
    const proofPath = join(dir, download.suggestedFilename());
    await download.saveAs(proofPath);
    const [eventDownload] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Download the event (JSON)' }).click(),
    ]);
    const eventPath = join(dir, eventDownload.suggestedFilename());
    await eventDownload.saveAs(eventPath);
    expect(readFileSync(proofPath, 'utf8')).toMatch(/^c2sp\.org\/tlog-proof@v1\nextra /);

    // The same receipt with its event altered on the wire: the page's own check fails.
    await page.route('**/trpc/audit.myReceipt**', async (route) => {
      const response = await route.fetch();
      const body = JSON.parse(await response.text()) as { result: { data: { json: Record<string, string> } } }[];
      const receipt = body[0]!.result.data.json;
      const forged = receipt.leaf!.replace('"type":"auth.sign_in"', '"type":"auth.sign_out"');
      receipt.leaf = forged;
      receipt.tlogProof = receipt.tlogProof!.replace(/^extra .*$/m, `extra ${Buffer.from(forged).toString('base64')}`);
      await route.fulfill({ response, body: JSON.stringify(body) });
    });
    await page.reload();
    await page.getByRole('button', { name: `Verify event ${seq}` }).click();
    await expect.poll(() => status.textContent()).toContain('Verification failed');
    expect(await status.textContent()).toContain('inclusion proof does not lead to the root');
    await page.unrouteAll();
    await context.close();

    // Offline, no browser and no server involved: the CLI verifies the downloaded file.
    await gatehouse.server.app.close();
    const run = promisify(execFile);
    const { stdout } = await run(process.execPath, [
      CLI,
      'audit',
      'verify-proof',
      proofPath,
      '--key',
      logKey,
      '--witness',
      witnessKey,
      '--event',
      eventPath,
      '--json',
    ]);
    expect(JSON.parse(stdout)).toMatchObject({ ok: true, seq, cosignedBy: ['witness.e2e'] });
  }, 120_000);
});

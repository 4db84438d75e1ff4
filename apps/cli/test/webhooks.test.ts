/** #19 `gatehouse webhooks list` against a real server, run in-process through the CLI's own `run`. */
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createGatehouseClient } from '@gatehouse/client';
import { run } from '../src/program.js';
// Test-only, reached by path: the server and the API's test helpers are not dependencies of the CLI.
import { startTestServer, type RunningServer } from '../../server/src/testing.js';
import { createTestUser } from '../../../packages/api/src/testing.js';

async function cli(args: string[], env: Record<string, string>) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const stdin = new PassThrough();
  stdin.end();
  const code = await run(args, { stdin, stdout, stderr, env });
  return { code, stdout: out, stderr: err };
}

describe('webhooks commands', () => {
  let server: RunningServer;
  let env: Record<string, string>;

  beforeAll(async () => {
    server = await startTestServer({ WEBHOOK_ALLOWED_HOSTS: '127.0.0.1:9' });
    const admin = await createTestUser(server.services, { role: 'admin' });
    env = { GATEHOUSE_URL: server.url, GATEHOUSE_TOKEN: admin.token ?? '' };
    await createGatehouseClient({ url: server.url, token: admin.token ?? '' }).webhook.create.mutate({
      url: 'http://127.0.0.1:9/hook',
      events: ['auth.*'],
    });
  });
  afterAll(async () => {
    await server.stop();
  });

  test('webhooks list shows each endpoint with its events and state, and --json the same', async () => {
    const human = await cli(['webhooks', 'list'], env);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('http://127.0.0.1:9/hook');
    expect(human.stdout).toContain('auth.*');
    expect(human.stderr).toContain('1 webhook(s)');
    const list = JSON.parse((await cli(['--json', 'webhooks', 'list'], env)).stdout) as { url: string }[];
    expect(list.map((w) => w.url)).toEqual(['http://127.0.0.1:9/hook']);
  });
});

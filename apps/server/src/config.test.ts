import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseDuration } from './config.js';

describe('configuration from the environment', () => {
  it('has working defaults for an empty environment', () => {
    const config = loadConfig({});
    expect(config.port).toBe(3000);
    expect(config.host).toBe('127.0.0.1');
    expect(config.databaseUrl).toBe('file:./data/gatehouse.db');
    expect(config.api.publicOrigin).toBe('http://localhost:3000');
    expect(config.api.allowSignup).toBe(false);
    expect(config.api.sessionTtlMs).toBe(24 * 3_600_000);
    expect(config.api.sessionRememberTtlMs).toBe(30 * 86_400_000);
    expect(config.api.sessionAbsoluteTtlMs).toBe(90 * 86_400_000);
    expect(config.api.sessionMaxPerUser).toBe(10);
    expect(config.api.sessionCleanupIntervalMs).toBe(5 * 60_000);
    expect(config.api.redisUrl).toBeNull();
    expect(config.trustProxy).toBe(false);
  });

  it('reads TRUST_PROXY as off, on, a hop count or proxy addresses', () => {
    expect(loadConfig({ TRUST_PROXY: 'false' }).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: '0' }).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 127.0.0.1,fd00::/8' }).trustProxy).toEqual([
      '10.0.0.0/8',
      '127.0.0.1',
      'fd00::/8',
    ]);
  });

  it('reads every variable', () => {
    const config = loadConfig({
      PORT: '0',
      HOST: '0.0.0.0',
      DATABASE_URL: 'postgres://u@db:5432/gh',
      PUBLIC_ORIGIN: 'https://auth.example.com/',
      TRUSTED_ORIGINS: 'https://a.example.com, https://b.example.com:8443',
      ALLOW_SIGNUP: 'true',
      SESSION_TTL: '2h',
      SESSION_REMEMBER_TTL: '14d',
      SESSION_ABSOLUTE_TTL: '30d',
      SESSION_MAX_PER_USER: '3',
      SESSION_CLEANUP_INTERVAL: '90s',
      REDIS_URL: 'redis://127.0.0.1:6379',
      LOG_LEVEL: 'warn',
    });
    expect(config).toMatchObject({
      port: 0,
      host: '0.0.0.0',
      databaseUrl: 'postgres://u@db:5432/gh',
      logLevel: 'warn',
    });
    expect(config.api).toMatchObject({
      publicOrigin: 'https://auth.example.com',
      trustedOrigins: ['https://a.example.com', 'https://b.example.com:8443'],
      allowSignup: true,
      sessionTtlMs: 2 * 3_600_000,
      sessionRememberTtlMs: 14 * 86_400_000,
      sessionAbsoluteTtlMs: 30 * 86_400_000,
      sessionMaxPerUser: 3,
      sessionCleanupIntervalMs: 90_000,
      redisUrl: 'redis://127.0.0.1:6379',
    });
  });

  it.each([
    [{ PORT: 'abc' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ PUBLIC_ORIGIN: 'not a url' }, 'PUBLIC_ORIGIN'],
    [{ TRUSTED_ORIGINS: 'https://ok.example.com,ftp://bad' }, 'TRUSTED_ORIGINS'],
    [{ ALLOW_SIGNUP: 'yes' }, 'ALLOW_SIGNUP'],
    [{ SESSION_TTL: '10 parsecs' }, 'SESSION_TTL'],
    [{ SESSION_MAX_PER_USER: '0' }, 'SESSION_MAX_PER_USER'],
    [{ REDIS_URL: 'localhost:6379' }, 'REDIS_URL'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ SESSION_TTL: '100d' }, 'SESSION_ABSOLUTE_TTL'],
    [{ TRUST_PROXY: 'yes' }, 'TRUST_PROXY'],
    [{ TRUST_PROXY: '10.0.0.0/33' }, 'TRUST_PROXY'],
    [{ TRUST_PROXY: '10.0.0.1, proxy.internal' }, 'TRUST_PROXY'],
  ])('rejects %o naming %s', (env, variable) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(new RegExp(`^Invalid ${variable}\\b`));
  });

  it('parses durations', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('forever')).toBeNull();
  });

  it('stops the process with one line naming the variable', () => {
    const main = fileURLToPath(new URL('./main.ts', import.meta.url));
    const tsx = fileURLToPath(new URL('../node_modules/.bin/tsx', import.meta.url));
    const run = spawnSync(tsx, [main], { env: { ...process.env, PORT: 'abc' }, encoding: 'utf8', timeout: 30_000 });
    expect(run.status).toBe(1);
    const lines = run.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^gatehouse: Invalid PORT \("abc"\): .+/);
  });
});

// #19 audit witnesses
describe('AUDIT_WITNESSES and AUDIT_WITNESS_POLICY', () => {
  const key = 'witness.example/w1+c6551c6b+BAJaI5PO0R27wevDC0QBTWY6331c97LxSUqZ5z7B7Yae';
  it('passes a well-formed witness list and policy through to the audit service', () => {
    const config = loadConfig({ AUDIT_WITNESSES: `url=https://w.example/;key=${key}`, AUDIT_WITNESS_POLICY: '1' });
    expect(config.api.auditWitnesses).toBe(`url=https://w.example/;key=${key}`);
    expect(config.api.auditWitnessPolicy).toBe('1');
  });
  it('refuses a malformed entry or an impossible policy, naming the variable', () => {
    expect(() => loadConfig({ AUDIT_WITNESSES: 'https://w.example/' })).toThrow(/Invalid AUDIT_WITNESSES entry/);
    expect(() =>
      loadConfig({ AUDIT_WITNESSES: `url=https://w.example/;key=${key}`, AUDIT_WITNESS_POLICY: '2' }),
    ).toThrow(/Invalid AUDIT_WITNESS_POLICY asks for 2 cosignatures of 1 witness/);
  });
});

// #19 webhooks
describe('WEBHOOK_ALLOWED_HOSTS and WEBHOOK_ALLOW_HTTP', () => {
  it('defaults to none and https only; passes hosts, host:port and CIDR ranges through', () => {
    expect(loadConfig({}).api).toMatchObject({ webhookAllowedHosts: [], webhookAllowHttp: false });
    const config = loadConfig({
      WEBHOOK_ALLOWED_HOSTS: 'hooks.internal, 127.0.0.1:8080,10.0.0.0/8',
      WEBHOOK_ALLOW_HTTP: 'true',
    });
    expect(config.api.webhookAllowedHosts).toEqual(['hooks.internal', '127.0.0.1:8080', '10.0.0.0/8']);
    expect(config.api.webhookAllowHttp).toBe(true);
  });
  it('refuses an entry that is no host, host:port or CIDR range, naming the variable', () => {
    expect(() => loadConfig({ WEBHOOK_ALLOWED_HOSTS: '10.0.0.0/99' })).toThrow(/^Invalid WEBHOOK_ALLOWED_HOSTS/);
    expect(() => loadConfig({ WEBHOOK_ALLOWED_HOSTS: 'http://x/' })).toThrow(/^Invalid WEBHOOK_ALLOWED_HOSTS/);
  });
});

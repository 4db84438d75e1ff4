import { isIP } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import type { ApiConfig } from '@gatehouse/api';
// ---- email flows ----
import { readFileSync } from 'node:fs';
import type { MailConfig } from '@gatehouse/api';
import { MFA_POLICIES } from '@gatehouse/api'; // issue 15
// #19 audit witnesses
import { parsePolicy, parseWitnesses } from '@gatehouse/api';
// #19 webhooks
import { parseAllowedHosts } from '@gatehouse/api';

/** `90s`, `5m`, `24h`, `30d`, `500ms` → milliseconds. */
export function parseDuration(text: string): number | null {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) return null;
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Math.round(Number(match[1]) * unit);
}

const duration = z.string().transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === null || ms <= 0) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration like 90s, 5m, 24h or 30d` });
    return z.NEVER;
  }
  return ms;
});

const origin = z.string().transform((value, ctx) => {
  try {
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('protocol');
    return url.origin;
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not an http(s) origin like https://auth.example.com` });
    return z.NEVER;
  }
});

const booleanFlag = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

/** An address or CIDR range: `10.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`. */
function isAddressOrRange(text: string): boolean {
  const [address = '', bits, ...rest] = text.split('/');
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (version === 4 ? 32 : 128);
}

/**
 * Which proxies may set `X-Forwarded-For` (the client address that throttling and the audit log
 * see): `false` (default: the socket's peer), `true` (any: only when nothing else can reach
 * the port), a hop count, or the proxies' addresses and CIDR ranges, comma-separated.
 */
const trustProxy = z.string().transform((value, ctx): boolean | number | string[] => {
  const text = value.trim();
  if (text === 'false') return false;
  if (text === 'true') return true;
  if (/^\d+$/.test(text)) return Number(text) === 0 ? false : Number(text);
  const entries = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = entries.find((entry) => !isAddressOrRange(entry));
  if (entries.length === 0 || bad !== undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `${bad === undefined ? 'empty' : `"${bad}" is not an IP address or CIDR range`}; use false, true, a hop count or addresses like 10.0.0.0/8`,
    });
    return z.NEVER;
  }
  return entries;
});

/** Design §2. Every variable has a default, so an empty environment is a working configuration. */
const envSchema = z.object({
  PORT: z.coerce.number().int().min(0, 'must be 0..65535').max(65_535, 'must be 0..65535').default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATABASE_URL: z
    .string()
    .regex(/^(file:.+|postgres(ql)?:\/\/.+)$/, 'must be file:<path> (SQLite) or postgres://… (PostgreSQL)')
    .default('file:./data/gatehouse.db'),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1, 'must be at least 1').max(200, 'must be at most 200').default(10),
  PUBLIC_ORIGIN: origin.default('http://localhost:3000'),
  TRUSTED_ORIGINS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(z.array(origin)),
  ALLOW_SIGNUP: booleanFlag.default(false),
  SESSION_TTL: duration.default(24 * 3_600_000),
  SESSION_REMEMBER_TTL: duration.default(30 * 86_400_000),
  SESSION_ABSOLUTE_TTL: duration.default(90 * 86_400_000),
  SESSION_MAX_PER_USER: z.coerce.number().int().min(1, 'must be at least 1').max(1000).default(10),
  SESSION_CLEANUP_INTERVAL: duration.default(5 * 60_000),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\/.+/, 'must be redis://… or rediss://…')
    .optional()
    .or(z.literal('').transform(() => undefined)),
  AUDIT_KEY_FILE: z.string().min(1).default('./data/audit-signing.key'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Where the dashboard's production build is (served at `/` when present). */
  DASHBOARD_DIR: z.string().optional(),
  BODY_LIMIT: z.coerce
    .number()
    .int()
    .min(1024)
    .max(10 * 1024 * 1024)
    .default(1024 * 1024),
  TRUST_PROXY: trustProxy.default(false),
  // ---- email flows ----
  SMTP_URL: z
    .string()
    .regex(/^smtps?:\/\/[^/]+/, 'must be smtp://[user:password@]host[:port] or smtps://…')
    .refine((v) => URL.canParse(v), 'must be a valid URL')
    .optional(),
  /** A file holding the SMTP password (a Docker/Kubernetes secret), instead of one in SMTP_URL. */
  SMTP_PASSWORD_FILE: z.string().min(1).optional(),
  MAIL_FROM: z
    .string()
    .trim()
    .regex(
      /^([^<>@\r\n]*<[^<>@\s]+@[^<>@\s]+>|[^<>@\s]+@[^<>@\s]+)$/,
      'must be an address like "Gatehouse <auth@example.com>"',
    )
    .optional(),
  /** `log`: print mails to the log instead of sending them (local development only). */
  MAIL_TRANSPORT: z.enum(['smtp', 'log']).optional(),
  REQUIRE_EMAIL_VERIFICATION: booleanFlag.default(false),
  SECURITY_NOTICES: booleanFlag.default(true),
  // issue 15: second factors
  /** Default: mfa-secret.key beside AUDIT_KEY_FILE. */
  MFA_KEY_FILE: z.string().min(1).optional(),
  MFA_REQUIRED: z.enum(MFA_POLICIES).default('none'),
  // #16 bridges
  FORWARD_AUTH_ORIGINS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(z.array(origin)),
  /** Default: jwt-signing.json beside AUDIT_KEY_FILE. */
  JWT_KEY_FILE: z.string().min(1).optional(),
  JWT_ISSUER: z.string().url('must be a URL').optional(),
  JWT_AUDIENCE: z
    .string()
    .default('gatehouse')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().max(200)).min(1, 'name at least one audience')),
  JWT_TTL: duration.default(5 * 60_000),
  // #19 audit witnesses (parsed and checked by the audit service at start)
  AUDIT_WITNESSES: z.string().optional(),
  AUDIT_WITNESS_POLICY: z.string().optional(),
  AUDIT_PUBLIC_TILES: booleanFlag.default(false),
  // #19 webhooks
  /** Hosts, host:port, addresses or CIDR ranges webhooks may reach although private or loopback. */
  WEBHOOK_ALLOWED_HOSTS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .superRefine((entries, ctx) => {
      try {
        parseAllowedHosts(entries);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message.replace(/^WEBHOOK_ALLOWED_HOSTS: /, '') });
      }
    }),
  /** Plain http to public hosts (default: https only, except hosts in WEBHOOK_ALLOWED_HOSTS). */
  WEBHOOK_ALLOW_HTTP: booleanFlag.default(false),
});

/** The mail settings (SMTP_URL, SMTP_PASSWORD_FILE, MAIL_FROM, MAIL_TRANSPORT) checked together. */
function mailConfig(e: z.infer<typeof envSchema>, publicOrigin: string): MailConfig | null {
  const from = e.MAIL_FROM ?? `Gatehouse <gatehouse@${new URL(publicOrigin).hostname}>`;
  if (e.MAIL_TRANSPORT === 'log') {
    if (e.SMTP_URL) throw new ConfigError('Invalid MAIL_TRANSPORT: log cannot be combined with SMTP_URL');
    return { transport: 'log', from };
  }
  if (!e.SMTP_URL) {
    if (e.MAIL_TRANSPORT === 'smtp') throw new ConfigError('Invalid MAIL_TRANSPORT: smtp needs SMTP_URL');
    if (e.SMTP_PASSWORD_FILE) throw new ConfigError('Invalid SMTP_PASSWORD_FILE: set SMTP_URL too');
    return null;
  }
  let password: string | null = null;
  if (e.SMTP_PASSWORD_FILE) {
    try {
      password = readFileSync(e.SMTP_PASSWORD_FILE, 'utf8').replace(/\r?\n$/, '');
    } catch {
      throw new ConfigError(`Invalid SMTP_PASSWORD_FILE (${JSON.stringify(e.SMTP_PASSWORD_FILE)}): cannot be read`);
    }
    if (password === '') throw new ConfigError('Invalid SMTP_PASSWORD_FILE: the file is empty');
    if (!new URL(e.SMTP_URL).username) throw new ConfigError('Invalid SMTP_URL: SMTP_PASSWORD_FILE needs a user in it');
  }
  return { transport: 'smtp', url: e.SMTP_URL, password, from };
}

export interface ServerConfig {
  port: number;
  host: string;
  databaseUrl: string;
  /** PostgreSQL connections per instance (ignored for SQLite). */
  databasePoolSize: number;
  logLevel: string;
  bodyLimit: number;
  /** Fastify's `trustProxy`: whose `X-Forwarded-For` decides the client address. */
  trustProxy: boolean | number | string[];
  /** Absolute path of the dashboard build, or null to serve the API only. */
  dashboardDir: string | null;
  api: ApiConfig;
  // #19 audit tiles
  /** AUDIT_PUBLIC_TILES: serve /audit/tlog/ without a session. */
  auditPublicTiles: boolean;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Reads and validates the environment; throws ConfigError naming the first bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): ServerConfig {
  // Empty strings mean "not set" for every variable, as in most deployment tools.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0] ?? { path: [], message: 'invalid' };
    const variable = String(issue.path[0] ?? 'environment');
    const shown = present[variable];
    throw new ConfigError(
      `Invalid ${variable}${shown !== undefined && !variable.includes('URL') ? ` (${JSON.stringify(shown)})` : ''}: ${issue.message}`,
    );
  }
  const e = parsed.data;
  if (e.SESSION_TTL > e.SESSION_ABSOLUTE_TTL || e.SESSION_REMEMBER_TTL > e.SESSION_ABSOLUTE_TTL) {
    throw new ConfigError('Invalid SESSION_ABSOLUTE_TTL: must be at least SESSION_TTL and SESSION_REMEMBER_TTL');
  }
  // #19 audit witnesses: refuse a bad witness list or policy at start, naming the variable.
  try {
    parsePolicy(
      e.AUDIT_WITNESS_POLICY,
      parseWitnesses(e.AUDIT_WITNESSES ?? '').map((w) => w.key),
    );
  } catch (error) {
    throw new ConfigError(`Invalid ${(error as Error).message}`);
  }
  return {
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    logLevel: e.LOG_LEVEL,
    bodyLimit: e.BODY_LIMIT,
    trustProxy: e.TRUST_PROXY,
    dashboardDir: e.DASHBOARD_DIR ? resolve(e.DASHBOARD_DIR) : null,
    api: {
      publicOrigin: e.PUBLIC_ORIGIN,
      trustedOrigins: e.TRUSTED_ORIGINS,
      allowSignup: e.ALLOW_SIGNUP,
      sessionTtlMs: e.SESSION_TTL,
      sessionRememberTtlMs: e.SESSION_REMEMBER_TTL,
      sessionAbsoluteTtlMs: e.SESSION_ABSOLUTE_TTL,
      sessionMaxPerUser: e.SESSION_MAX_PER_USER,
      sessionCleanupIntervalMs: e.SESSION_CLEANUP_INTERVAL,
      redisUrl: e.REDIS_URL ?? null,
      auditKeyFile: resolve(e.AUDIT_KEY_FILE),
      // ---- email flows ----
      mail: mailConfig(e, e.PUBLIC_ORIGIN),
      requireEmailVerification: e.REQUIRE_EMAIL_VERIFICATION,
      securityNotices: e.SECURITY_NOTICES,
      // issue 15
      mfaKeyFile: e.MFA_KEY_FILE ? resolve(e.MFA_KEY_FILE) : null,
      mfaRequired: e.MFA_REQUIRED,
      // #16 bridges
      forwardAuthOrigins: e.FORWARD_AUTH_ORIGINS,
      jwtKeyFile: e.JWT_KEY_FILE
        ? resolve(e.JWT_KEY_FILE)
        : join(dirname(resolve(e.AUDIT_KEY_FILE)), 'jwt-signing.json'),
      jwtIssuer: e.JWT_ISSUER ?? null,
      jwtAudiences: e.JWT_AUDIENCE,
      jwtTtlMs: e.JWT_TTL,
      // #19 audit witnesses
      ...(e.AUDIT_WITNESSES !== undefined ? { auditWitnesses: e.AUDIT_WITNESSES } : {}),
      ...(e.AUDIT_WITNESS_POLICY !== undefined ? { auditWitnessPolicy: e.AUDIT_WITNESS_POLICY } : {}),
      // #19 webhooks
      webhookAllowedHosts: e.WEBHOOK_ALLOWED_HOSTS,
      webhookAllowHttp: e.WEBHOOK_ALLOW_HTTP,
    },
    // #19 audit tiles
    auditPublicTiles: e.AUDIT_PUBLIC_TILES,
  };
}

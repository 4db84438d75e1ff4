/**
 * bench/jwt (issue 16): JWT verification in `@gatehouse/client/server` on one core, against the
 * raw Ed25519 verification of the same machine (the floor no library can beat). Tokens are minted
 * by Gatehouse's own TokenService; the verifier fetches the JWKS from a local HTTP server once
 * and then verifies in-process. Run: `pnpm --filter @gatehouse/bench exec tsx jwt/run.ts [--n 20000]`.
 */
import { createServer } from 'node:http';
import { createPublicKey, verify as edVerify, type JsonWebKey } from 'node:crypto';
import { cpuUsage } from 'node:process';
import { createVerifier } from '@gatehouse/client/server';
import { defaultApiConfig, systemClock } from '@gatehouse/api';
import { JwtKeys } from '@gatehouse/api/tokens';
import { TokenService } from '../../packages/api/src/tokens/service.js';

const n = Number(process.argv[process.argv.indexOf('--n') + 1]) || 20_000;

const keys = await JwtKeys.inMemory();
const server = createServer((_req, res) => {
  void keys.jwks().then((jwks) => res.end(JSON.stringify(jwks)));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const address = server.address();
if (address === null || typeof address === 'string') throw new Error('no port');
const issuer = `http://127.0.0.1:${address.port}`;
const tokens = new TokenService({ keys, config: { ...defaultApiConfig, jwtIssuer: issuer }, clock: systemClock });
const now = new Date();
const { token } = await tokens.mint({
  user: {
    id: crypto.randomUUID(),
    email: 'bench@example.com',
    username: null,
    name: 'Bench',
    role: 'member',
    isActive: true,
    createdAt: now,
    updatedAt: now,
    lastSignInAt: null,
    mfaEnabled: false,
    kind: 'person',
    externalId: null,
    emailVerifiedAt: null,
  },
  session: { id: 'a'.repeat(32) },

  apiKey: null,
});

const verifier = createVerifier({ issuer, cacheSize: 0 });
const cached = createVerifier({ issuer });
await cached.verify(token);
await verifier.verify(token); // fetches and caches the JWKS

function measure(label: string, run: () => void | Promise<void>) {
  return async () => {
    const cpu = cpuUsage();
    const started = performance.now();
    for (let i = 0; i < n; i++) await run();
    const wall = (performance.now() - started) / 1000;
    const used = cpuUsage(cpu);
    const cpuS = (used.user + used.system) / 1e6;
    console.log(
      `| ${label} | ${Math.round(n / wall).toLocaleString('en-US')} | ${Math.round(n / cpuS).toLocaleString('en-US')} |`,
    );
  };
}

const [header, payload, signature] = token.split('.') as [string, string, string];
const data = Buffer.from(`${header}.${payload}`);
const sig = Buffer.from(signature, 'base64url');
const jwk = (await keys.jwks()).keys[0];
const publicKey = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });

console.log(`${n} verifications each, one process (one core for the JS; node ${process.version})\n`);
console.log('| what | per second (wall) | per CPU-second |');
console.log('|---|---:|---:|');
await measure('@gatehouse/client/server verify(), cacheSize 0 (jose jwtVerify every time, cached JWKS)', () =>
  verifier.verify(token).then(() => {}),
)();
await measure('the same with its verified-token cache (the same token presented again)', () =>
  cached.verify(token).then(() => {}),
)();
await measure('raw Ed25519 signature check (node:crypto), the floor', () => {
  if (!edVerify(null, data, publicKey, sig)) throw new Error('bad signature');
})();
server.close();

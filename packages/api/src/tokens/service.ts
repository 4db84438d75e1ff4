/**
 * JWT access tokens for other services (issue 16), with `jose`: EdDSA (Ed25519), short-lived
 * (JWT_TTL, default 5 minutes), RFC 9068's `at+jwt` type, claims `iss`, `sub`, `aud`, `iat`,
 * `exp`, `jti`, `role`, `email`, `name`, and `sid` (the session) or `key` + `scope` (an API key).
 * Verified by anyone with the JWKS (`/.well-known/jwks.json`).
 *
 * Revocation: a JWT lives until its `exp` — signing out or revoking the session does not recall
 * tokens already handed out, which is why they live minutes. A service that must see revocation
 * at once asks `/auth/check` or `/oauth/introspect` instead (docs/integrations.md).
 *
 * Minting is not audited: it changes nothing, and happens as often as other services need tokens.
 */
import { jwtVerify, SignJWT, createLocalJWKSet, type JWTPayload } from 'jose';
import type { ApiConfig } from '../config.js';
import type { Clock } from '../clock.js';
import { DomainError } from '../errors.js';
import type { ApiKeyInfo } from '../api-keys/types.js';
import type { AuthUser, SessionInfo } from '../sessions/types.js';

/** Who a token is for: a validated session or API key (sessions/authenticate.ts `Authenticated`). */
interface TokenSubject {
  user: AuthUser;
  session: Pick<SessionInfo, 'id'>;
  apiKey: Pick<ApiKeyInfo, 'id' | 'scopes'> | null;
}
import type { JwtKeys } from './keys.js';

export type TokenConfig = Pick<ApiConfig, 'publicOrigin' | 'jwtIssuer' | 'jwtAudiences' | 'jwtTtlMs'>;

export interface AccessToken {
  /** The compact JWS. */
  token: string;
  expiresAt: Date;
  audience: string;
}

/** Claims Gatehouse puts in its access tokens, beyond the registered ones. */
export interface GatehouseClaims extends JWTPayload {
  sub: string;
  role: 'admin' | 'member';
  email: string;
  name: string;
  sid?: string;
  key?: string;
  scope?: string;
}

function issuerOf(config: TokenConfig): string {
  return config.jwtIssuer ?? new URL(config.publicOrigin).origin;
}

export class TokenService {
  readonly keys: JwtKeys;
  readonly #config: TokenConfig;
  readonly #clock: Clock;

  constructor(options: { keys: JwtKeys; config: TokenConfig; clock: Clock }) {
    this.keys = options.keys;
    this.#config = options.config;
    this.#clock = options.clock;
  }

  get issuer(): string {
    return issuerOf(this.#config);
  }

  /** A token for the caller (a session or an API key); `audience` must be a configured one. */
  async mint(auth: TokenSubject, options: { audience?: string | undefined } = {}): Promise<AccessToken> {
    const audiences = this.#config.jwtAudiences;
    const audience = options.audience ?? audiences[0];
    if (audience === undefined || !audiences.includes(audience)) {
      throw new DomainError('BAD_REQUEST', 'invalid_input', 'That audience is not configured (JWT_AUDIENCE)', {
        field: 'audience',
      });
    }
    const { kid, key } = await this.keys.current();
    const nowS = Math.floor(this.#clock.now().getTime() / 1000);
    const exp = nowS + Math.max(1, Math.floor(this.#config.jwtTtlMs / 1000));
    const { user } = auth;
    const claims: Omit<GatehouseClaims, 'sub'> = {
      role: user.role,
      email: user.email,
      name: user.name,
      ...(auth.apiKey ? { key: auth.apiKey.id, scope: auth.apiKey.scopes.join(' ') } : { sid: auth.session.id }),
    };
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'at+jwt' })
      .setIssuer(this.issuer)
      .setSubject(user.id)
      .setAudience(audience)
      .setIssuedAt(nowS)
      .setExpirationTime(exp)
      .setJti(crypto.randomUUID())
      .sign(key);
    return { token, expiresAt: new Date(exp * 1000), audience };
  }

  /** The claims of a token Gatehouse signed and that is still valid now; null otherwise (introspection). */
  async verify(token: string): Promise<GatehouseClaims | null> {
    try {
      const { payload } = await jwtVerify<GatehouseClaims>(token, createLocalJWKSet(await this.keys.jwks()), {
        issuer: this.issuer,
        audience: [...this.#config.jwtAudiences],
        algorithms: ['EdDSA'],
        typ: 'at+jwt',
        currentDate: this.#clock.now(),
      });
      return payload;
    } catch {
      return null;
    }
  }
}

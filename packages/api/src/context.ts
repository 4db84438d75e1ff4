import { apiActor, type Actor } from './actor.js';
import type { Services } from './services.js';
import type { Authenticated } from './sessions/authenticate.js';

/** What a procedure may know of the HTTP request. The server fills it; tests construct it. */
export interface RequestInfo {
  ip: string | null;
  userAgent: string | null;
  /** The `Origin` header, for the CSRF check on cookie-authenticated mutations. */
  origin: string | null;
  /** The session token or (#16) API key, from the `Authorization: Bearer` header or the session cookie. */
  token: string | null;
  tokenSource: 'cookie' | 'bearer' | null;
  /** The device cookie (throttle/device.ts): exempts its holder from the account-wide lockout. */
  deviceCookie?: string | null;
}

/** How a procedure changes the HTTP response: only the session cookie and extra headers. */
export interface ResponseControl {
  setSessionCookie(token: string, expiresAt: Date): void;
  clearSessionCookie(): void;
  /** Remembers this browser as one that signed in to the account (the device cookie). */
  setDeviceCookie?(value: string, expiresAt: Date): void;
}

export interface Context {
  services: Services;
  req: RequestInfo;
  res: ResponseControl;
  /** Who is asking, built once per request (userId filled in by protectedProcedure). */
  actor: Actor;
}

/** The context of a signed-in call (after `protectedProcedure`). */
export interface AuthedContext extends Context {
  /** The session, or (#16) the API key with `apiKey` set. */
  auth: Authenticated;
}

const anonymousRequest: RequestInfo = { ip: null, userAgent: null, origin: null, token: null, tokenSource: null };

const ignoreResponse: ResponseControl = { setSessionCookie: () => {}, clearSessionCookie: () => {} };

/**
 * The inner context: services plus whatever of the request is known. The server calls it for
 * each HTTP request; router tests call it directly and go through `createCaller`.
 */
export function createContext(
  services: Services,
  req: Partial<RequestInfo> = {},
  res: ResponseControl = ignoreResponse,
): Context {
  const request = { ...anonymousRequest, ...req };
  return { services, req: request, res, actor: apiActor(request) };
}

/** A ResponseControl that remembers the last cookie operation, for tests. */
export function recordingResponse(): ResponseControl & {
  cookie: { token: string; expiresAt: Date } | 'cleared' | null;
  deviceCookie: { value: string; expiresAt: Date } | null;
} {
  const recorder = {
    cookie: null as { token: string; expiresAt: Date } | 'cleared' | null,
    deviceCookie: null as { value: string; expiresAt: Date } | null,
    setDeviceCookie(value: string, expiresAt: Date) {
      recorder.deviceCookie = { value, expiresAt };
    },
    setSessionCookie(token: string, expiresAt: Date) {
      recorder.cookie = { token, expiresAt };
    },
    clearSessionCookie() {
      recorder.cookie = 'cleared';
    },
  };
  return recorder;
}

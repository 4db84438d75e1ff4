/**
 * Who is asking: one value per request, built once (in the tRPC context for API calls, by the CLI
 * for its commands, by the server for background work) and passed to every service as
 * `(deps, actor, input)`. The audit log, throttling and sessions read ip/userAgent from here.
 */
import type { AuditEventInput, AuditEventType } from './audit/types.js';

export interface Actor {
  /** The signed-in user making the call; null before sign-in and for system work. */
  readonly userId: string | null;
  readonly ip: string | null;
  readonly userAgent: string | null;
  readonly via: 'api' | 'cli' | 'system';
}

/** An API caller as the transport saw it (the user is filled in once the session validates). */
export function apiActor(
  request: { ip: string | null; userAgent: string | null },
  userId: string | null = null,
): Actor {
  return { userId, ip: request.ip, userAgent: request.userAgent, via: 'api' };
}

/** The operator at a terminal (the `gatehouse` CLI): no address, no session. */
export function cliActor(userId: string | null = null): Actor {
  return { userId, ip: null, userAgent: null, via: 'cli' };
}

/** The same actor, now known to be `userId` (after sign-in or session validation). */
export function asUser(actor: Actor, userId: string): Actor {
  return { ...actor, userId };
}

/**
 * An audit event recorded by `actor`: its address and user agent, and for the CLI `via: 'cli'` in
 * the data. `actorId` differs from the actor's user only where the account itself acts before it
 * is signed in (a reset link followed, an invitation accepted). Never put a token in `data`.
 */
export function recorded(
  actor: Actor,
  targetId: string | null,
  type: AuditEventType,
  data: Record<string, unknown> = {},
  actorId: string | null = actor.userId,
): AuditEventInput {
  return {
    type,
    actorId,
    targetId,
    ip: actor.ip,
    userAgent: actor.userAgent,
    data: actor.via === 'cli' ? { ...data, via: 'cli' } : data,
  };
}

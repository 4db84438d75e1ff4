import type { Actor } from '../actor.js';
import type { AuditEventInput, AuditEventType } from '../audit/types.js';

/** An audit event of the email flows: the actor, the target, and never a token in `data`. */
export function recordedEvent(
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

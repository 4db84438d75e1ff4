/**
 * Invitations (migration 006 `invitations`): an administrator names an address, a name and a role;
 * the invited person follows the link, chooses a password (and optionally a username) and is
 * signed in. A link works once, for 7 days; resending replaces it (the old link stops working),
 * revoking ends it. Without mail an administrator creates the link instead and hands it over.
 * The secret is stored only as SHA-256 (the session token format, `<invitation id>.<secret>`).
 */
import type { InvitationRow, Role } from '@gatehouse/db';
import { forUpdate } from '@gatehouse/db';
import { recorded, type Actor } from '../actor.js';
import { accountLink, invalidToken } from '../account-tokens/tokens.js';
import { assertPasswordPolicy } from '../auth/password-policy.js';
import type { SignInResult } from '../auth/types.js';
import { DomainError, notFound } from '../errors.js';
import { mailNotConfigured } from '../mail/service.js';
import { invitationMail } from '../mail/templates.js';
import type { Services } from '../services.js';
import { generateSessionToken, parseSessionToken, secretMatches } from '../sessions/token.js';
import { transact } from '../unit-of-work.js';
import { requireAdmin } from '../users/authorize.js';
import { identifierKey } from '../users/identifier.js';
import * as users from '../users/repository.js';
import { createUser } from '../users/service.js';

export type InvitationDeps = Pick<
  Services,
  'db' | 'config' | 'clock' | 'passwords' | 'sessions' | 'audit' | 'invalidator' | 'mail' | 'onError'
>;

const INVITATION_TTL_MS = 7 * 24 * 3_600_000;

export type InvitationStatus = 'pending' | 'accepted' | 'revoked' | 'expired';

export interface Invitation {
  id: string;
  email: string;
  name: string;
  role: Role;
  invitedBy: string | null;
  status: InvitationStatus;
  createdAt: Date;
  expiresAt: Date;
  acceptedAt: Date | null;
  acceptedUserId: string | null;
  revokedAt: Date | null;
}

function statusOf(row: InvitationRow, now: Date): InvitationStatus {
  if (row.accepted_at) return 'accepted';
  if (row.revoked_at) return 'revoked';
  return row.expires_at.getTime() <= now.getTime() ? 'expired' : 'pending';
}

function toInvitation(row: InvitationRow, now: Date): Invitation {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    role: row.role,
    invitedBy: row.invited_by,
    status: statusOf(row, now),
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    acceptedAt: row.accepted_at,
    acceptedUserId: row.accepted_user_id,
    revokedAt: row.revoked_at,
  };
}

const invitationNotFound = () => notFound('Invitation');
const notPending = () => new DomainError('CONFLICT', 'invalid_input', 'The invitation was already accepted or revoked');

export interface InviteInput {
  email: string;
  name: string;
  role?: Role | undefined;
}

/**
 * Invites `email`. `deliver: 'mail'` (user.invite) mails the link and needs mail
 * (`mail_not_configured`); `deliver: 'link'` (user.createInvitationLink, the CLI) returns it to the
 * administrator instead. CONFLICT `email_taken` when an account has the address,
 * `invitation_pending` when a pending invitation does.
 */
export async function inviteUser(
  deps: InvitationDeps,
  actor: Actor,
  input: InviteInput,
  deliver: 'mail' | 'link',
): Promise<{ invitation: Invitation; url: string | null }> {
  await requireAdmin(deps, actor);
  if (deliver === 'mail' && !deps.mail.configured) throw mailNotConfigured();
  const email = input.email.trim().toLowerCase();
  const emailKey = identifierKey(email);
  return transact(deps, async (work) => {
    await requireAdmin(deps, actor, work.trx);
    const now = deps.clock.now();
    if (await users.findByIdentifier(work.trx, email)) {
      throw new DomainError('CONFLICT', 'email_taken', 'An account already has this email address', { field: 'email' });
    }
    const pending = await work.trx
      .selectFrom('invitations')
      .selectAll()
      .where('email_key', '=', emailKey)
      .where('accepted_at', 'is', null)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    if (pending) {
      throw new DomainError(
        'CONFLICT',
        'invitation_pending',
        'This address already has a pending invitation: resend or revoke it',
        {
          field: 'email',
        },
      );
    }
    // The token's id part is the invitation's id; only SHA-256 of its secret part is stored.
    const { token, id, secretHash } = generateSessionToken();
    const row: InvitationRow = {
      id,
      email,
      email_key: emailKey,
      name: input.name,
      role: input.role ?? 'member',
      invited_by: actor.userId,
      secret_hash: secretHash,
      created_at: now,
      expires_at: new Date(now.getTime() + INVITATION_TTL_MS),
      accepted_at: null,
      accepted_user_id: null,
      revoked_at: null,
    };
    const link = accountLink(deps.config.publicOrigin, 'accept-invitation', token);
    await work.trx.insertInto('invitations').values(row).execute();
    if (deliver === 'mail') {
      const inviter = actor.userId ? await users.findById(work.trx, actor.userId) : undefined;
      await deps.mail.enqueue(work, invitationMail(email, row.name, inviter?.name ?? null, link, 7));
    }
    await deps.audit.append(
      work.trx,
      recorded(actor, row.id, 'user.invited', { email, name: row.name, role: row.role, delivery: deliver }),
    );
    return { invitation: toInvitation(row, now), url: deliver === 'link' ? link : null };
  });
}

/** Invitations, newest first (at most 200), optionally one status. */
export async function listInvitations(
  deps: InvitationDeps,
  actor: Actor,
  input: { status?: InvitationStatus | undefined } = {},
): Promise<Invitation[]> {
  await requireAdmin(deps, actor);
  const now = deps.clock.now();
  const rows = await deps.db.kysely
    .selectFrom('invitations')
    .selectAll()
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(200)
    .execute();
  return rows.map((row) => toInvitation(row, now)).filter((inv) => !input.status || inv.status === input.status);
}

/**
 * A new link for a pending or expired invitation (7 days from now; the previous link stops
 * working): mailed (`deliver: 'mail'`) or returned to the administrator (`'link'`).
 */
export async function renewInvitation(
  deps: InvitationDeps,
  actor: Actor,
  input: { id: string },
  deliver: 'mail' | 'link',
): Promise<{ invitation: Invitation; url: string | null }> {
  await requireAdmin(deps, actor);
  if (deliver === 'mail' && !deps.mail.configured) throw mailNotConfigured();
  return transact(deps, async (work) => {
    await requireAdmin(deps, actor, work.trx);
    const now = deps.clock.now();
    const row = await work.trx
      .selectFrom('invitations')
      .selectAll()
      .where('id', '=', input.id)
      .$call(forUpdate(deps.db))
      .executeTakeFirst();
    if (!row) throw invitationNotFound();
    if (row.accepted_at || row.revoked_at) throw notPending();
    // A new secret under the same id: the previous link stops working.
    const { secret, secretHash } = newSecret();
    const token = `${row.id}.${secret}`;
    const expiresAt = new Date(now.getTime() + INVITATION_TTL_MS);
    await work.trx
      .updateTable('invitations')
      .set({ secret_hash: secretHash, expires_at: expiresAt })
      .where('id', '=', row.id)
      .execute();
    const link = accountLink(deps.config.publicOrigin, 'accept-invitation', token);
    if (deliver === 'mail') {
      const inviter = actor.userId ? await users.findById(work.trx, actor.userId) : undefined;
      await deps.mail.enqueue(work, invitationMail(row.email, row.name, inviter?.name ?? null, link, 7));
    }
    await deps.audit.append(
      work.trx,
      recorded(actor, row.id, deliver === 'mail' ? 'user.invitation_resent' : 'user.invited', {
        email: row.email,
        delivery: deliver,
        renewed: true,
      }),
    );
    return {
      invitation: toInvitation({ ...row, secret_hash: secretHash, expires_at: expiresAt }, now),
      url: deliver === 'link' ? link : null,
    };
  });
}

export async function revokeInvitation(deps: InvitationDeps, actor: Actor, input: { id: string }): Promise<Invitation> {
  await requireAdmin(deps, actor);
  return transact(deps, async (work) => {
    await requireAdmin(deps, actor, work.trx);
    const now = deps.clock.now();
    const row = await work.trx
      .selectFrom('invitations')
      .selectAll()
      .where('id', '=', input.id)
      .$call(forUpdate(deps.db))
      .executeTakeFirst();
    if (!row) throw invitationNotFound();
    if (row.accepted_at || row.revoked_at) throw notPending();
    await work.trx.updateTable('invitations').set({ revoked_at: now }).where('id', '=', row.id).execute();
    await deps.audit.append(work.trx, recorded(actor, row.id, 'user.invitation_revoked', { email: row.email }));
    return toInvitation({ ...row, revoked_at: now }, now);
  });
}

/** A fresh secret part in the session token format (sessions/token.ts) and its hash. */
function newSecret(): { secret: string; secretHash: Uint8Array } {
  const fresh = generateSessionToken();
  const secret = fresh.token.slice(fresh.token.indexOf('.') + 1);
  return { secret, secretHash: fresh.secretHash };
}

/**
 * Accepts an invitation: the account is created (users `createUser`, kind `invitation`: the
 * invited role, the address verified) and signed in, and the invitation is used up in the same
 * transaction (of two concurrent acceptances exactly one wins). `invalid_token` for an unknown,
 * expired, revoked or used link.
 */
export async function acceptInvitation(
  deps: InvitationDeps,
  actor: Actor,
  input: { token: string; password: string; username?: string | undefined },
): Promise<SignInResult> {
  const parsed = parseSessionToken(input.token);
  if (!parsed) throw invalidToken();
  const usable = (row: InvitationRow | undefined, now: Date): row is InvitationRow =>
    row !== undefined && secretMatches(parsed.secret, row.secret_hash) && statusOf(row, now) === 'pending';
  const row = await deps.db.kysely.selectFrom('invitations').selectAll().where('id', '=', parsed.id).executeTakeFirst();
  if (!usable(row, deps.clock.now())) throw invalidToken();
  await assertPasswordPolicy(input.password, { email: row.email, username: input.username ?? null });
  const { user, session } = await createUser(
    deps,
    actor,
    { email: row.email, name: row.name, role: row.role, username: input.username, password: input.password },
    {
      kind: 'invitation',
      openSession: async (trx, created) => {
        const now = deps.clock.now();
        const locked = await trx
          .selectFrom('invitations')
          .selectAll()
          .where('id', '=', row.id)
          .$call(forUpdate(deps.db))
          .executeTakeFirst();
        if (!usable(locked, now)) throw invalidToken();
        await trx
          .updateTable('invitations')
          .set({ accepted_at: now, accepted_user_id: created.id })
          .where('id', '=', row.id)
          .execute();
        return deps.sessions.create(trx, {
          userId: created.id,
          rememberMe: false,
          ip: actor.ip,
          userAgent: actor.userAgent,
        });
      },
    },
  );
  if (!session) throw new Error('createUser opened no session');
  return { status: 'signed-in', user, token: session.token, expiresAt: session.session.expiresAt };
}

/**
 * #17 ↔ #14: users imported without a usable password hash set one through a one-time reset
 * link — the administrator's `user.createResetLink` facility (account-tokens/service.ts), issued
 * for each such user once the import is written, as the operator running it: handed back to be
 * printed (`print`), or mailed to the user (`mail`, when mail is configured). Deactivated users
 * get none (a reset link could not be used). Each link is its own transaction with its
 * `user.reset_link_created` event; the link itself is never audited or logged.
 */
import type { Actor } from '../actor.js';
import { createResetLink, mailResetLink, type AccountTokenDeps } from '../account-tokens/service.js';
import type { ImportReport } from './service.js';

export type ResetLinkDelivery = 'print' | 'mail';

export interface ImportResetLink {
  row: number;
  email: string;
  userId: string;
  /** `print`: the link (30 minutes, once); null when mailed or not issued. */
  url: string | null;
  expiresAt: Date | null;
  mailed: boolean;
  /** Why no link was issued: the user was imported deactivated. */
  skipped?: 'deactivated';
}

export async function issueImportResetLinks(
  deps: AccountTokenDeps,
  actor: Actor,
  report: Pick<ImportReport, 'written' | 'withoutPassword'>,
  delivery: ResetLinkDelivery,
): Promise<ImportResetLink[]> {
  if (!report.written) return [];
  const links: ImportResetLink[] = [];
  for (const u of report.withoutPassword) {
    if (u.userId === null) continue;
    const base = { row: u.row, email: u.email, userId: u.userId };
    if (!u.isActive) {
      links.push({ ...base, url: null, expiresAt: null, mailed: false, skipped: 'deactivated' });
    } else if (delivery === 'mail') {
      const { expiresAt } = await mailResetLink(deps, actor, { id: u.userId });
      links.push({ ...base, url: null, expiresAt, mailed: true });
    } else {
      const { url, expiresAt } = await createResetLink(deps, actor, { id: u.userId });
      links.push({ ...base, url, expiresAt, mailed: false });
    }
  }
  return links;
}

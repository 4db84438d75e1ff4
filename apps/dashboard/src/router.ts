import { useEffect, useMemo, useState } from 'react';

/** The dashboard's screens, addressed by the URL hash (`#/users/<id>`), so reloads and links work anywhere. */
export type Route =
  | { name: 'home' }
  | { name: 'users' }
  | { name: 'user'; id: string }
  | { name: 'sessions' }
  | { name: 'audit' }
  | { name: 'profile' }
  | { name: 'not-found'; path: string }
  | { name: 'security' } // issue 15
  // #16 bridges
  | { name: 'api-keys' }
  // #19 webhooks
  | { name: 'webhooks' }
  // #19 receipts
  | { name: 'security-history' }
  // ---- email flows: the links mails carry (the token stays in the fragment), and forgot-password ----
  | { name: 'reset-password'; token: string }
  | { name: 'accept-invitation'; token: string }
  | { name: 'verify-email'; token: string }
  | { name: 'confirm-email'; token: string }
  | { name: 'forgot-password' };

/** The screens shown whether or not anyone is signed in (a link from a mail, forgot-password). */
export type LinkRoute = Extract<
  Route,
  { name: 'reset-password' | 'accept-invitation' | 'verify-email' | 'confirm-email' | 'forgot-password' }
>;

const LINK_SCREENS = new Set(['reset-password', 'accept-invitation', 'verify-email', 'confirm-email']);

export function isLinkRoute(route: Route): route is LinkRoute {
  return LINK_SCREENS.has(route.name) || route.name === 'forgot-password';
}

function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '') || '/';
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return { name: 'home' };
  const [first, second] = parts;
  if (first === 'users' && parts.length === 1) return { name: 'users' };
  if (first === 'users' && second && parts.length === 2) return { name: 'user', id: second };
  if (first === 'sessions' && parts.length === 1) return { name: 'sessions' };
  if (first === 'audit' && parts.length === 1) return { name: 'audit' };
  if (first === 'profile' && parts.length === 1) return { name: 'profile' };
  // ---- email flows ----
  if (first === 'forgot-password' && parts.length === 1) return { name: 'forgot-password' };
  if (first && second && parts.length === 2 && LINK_SCREENS.has(first)) {
    return { name: first as 'reset-password' | 'accept-invitation' | 'verify-email' | 'confirm-email', token: second };
  }
  if (first === 'security' && parts.length === 1) return { name: 'security' }; // issue 15
  // #16 bridges
  if (first === 'api-keys' && parts.length === 1) return { name: 'api-keys' };
  // #19 charts: the audit screen with its filter in the query (`#/audit?type=…`, see auditFilterFromHash)
  if (first?.startsWith('audit?') && parts.length === 1) return { name: 'audit' };
  // #19 webhooks
  if (first === 'webhooks' && parts.length === 1) return { name: 'webhooks' };
  // #19 receipts
  if (first === 'security-history' && parts.length === 1) return { name: 'security-history' };
  return { name: 'not-found', path };
}

export function href(route: Exclude<Route, { name: 'not-found' }>): string {
  switch (route.name) {
    case 'home':
      return '#/';
    case 'user':
      return `#/users/${encodeURIComponent(route.id)}`;
    // ---- email flows ----
    case 'reset-password':
    case 'accept-invitation':
    case 'verify-email':
    case 'confirm-email':
      return `#/${route.name}/${encodeURIComponent(route.token)}`;
    default:
      return `#/${route.name}`;
  }
}

export function navigate(to: string): void {
  window.location.hash = to.replace(/^#/, '');
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

// #19 charts
/**
 * The audit screen's filter, kept in the URL hash so a filtered view can be linked, bookmarked
 * and reloaded: `#/audit?type=auth.sign_in_failed,auth.mfa_failed&since=<ISO>&until=<ISO>&actor=<id>`
 * (types comma-separated; times ISO 8601, `until` exclusive, as audit.list takes them).
 */
export interface AuditFilter {
  types?: string[];
  actorId?: string;
  since?: Date;
  until?: Date;
}

function parseDate(value: string | null): Date | undefined {
  if (value === null || value === '') return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function auditFilterFromHash(hash: string): AuditFilter {
  const query = hash.indexOf('?');
  if (query < 0) return {};
  const params = new URLSearchParams(hash.slice(query + 1));
  const types = (params.get('type') ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  const actorId = params.get('actor')?.trim();
  const since = parseDate(params.get('since'));
  const until = parseDate(params.get('until'));
  return {
    ...(types.length > 0 ? { types } : {}),
    ...(actorId ? { actorId } : {}),
    ...(since ? { since } : {}),
    ...(until ? { until } : {}),
  };
}

/** The audit screen's address for a filter (`#/audit` for none). */
export function auditHref(filter: AuditFilter): string {
  const params = new URLSearchParams();
  if (filter.types && filter.types.length > 0) params.set('type', filter.types.join(','));
  if (filter.actorId) params.set('actor', filter.actorId);
  if (filter.since) params.set('since', filter.since.toISOString());
  if (filter.until) params.set('until', filter.until.toISOString());
  const query = params.toString();
  return query ? `#/audit?${query}` : '#/audit';
}

/** The filter in the current hash, following it as it changes (links, back and forward). */
export function useAuditFilter(): AuditFilter {
  const [hash, setHash] = useState(() => window.location.hash);
  useEffect(() => {
    const onChange = () => setHash(window.location.hash);
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return useMemo(() => auditFilterFromHash(hash), [hash]);
}

import { useEffect, useState } from 'react';

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

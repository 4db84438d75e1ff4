import { useEffect, useState } from 'react';

/** The dashboard's screens, addressed by the URL hash (`#/users/<id>`), so reloads and links work anywhere. */
export type Route =
  | { name: 'home' }
  | { name: 'users' }
  | { name: 'user'; id: string }
  | { name: 'sessions' }
  | { name: 'audit' }
  | { name: 'profile' }
  // #16 bridges
  | { name: 'api-keys' }
  | { name: 'not-found'; path: string };

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
  // #16 bridges
  if (first === 'api-keys' && parts.length === 1) return { name: 'api-keys' };
  return { name: 'not-found', path };
}

export function href(route: Exclude<Route, { name: 'not-found' }>): string {
  switch (route.name) {
    case 'home':
      return '#/';
    case 'user':
      return `#/users/${encodeURIComponent(route.id)}`;
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

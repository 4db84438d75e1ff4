import { useEffect, useRef, useState, type ReactNode } from 'react';
import { useMutation, useQuery, useQueryClient, type QueryClient } from '@tanstack/react-query';
import { isGatehouseError, type RouterOutputs } from '@gatehouse/client';
import { useTRPC } from '@gatehouse/client/react';
import { onSessionEnded } from './api.js';
import { Loading, Logo, Page, ROLE_LABEL } from './components.js';
import { errorMessage } from './errors.js';
import { ErrorNote } from './forms.js';
import { href, navigate, useRoute, type Route } from './router.js';
import { AuditScreen } from './screens/audit.js';
// #19 receipts
import { SecurityHistoryScreen } from './screens/security-history.js';
import { HomeScreen } from './screens/home.js';
import { ProfileScreen } from './screens/profile.js';
import { SessionsScreen } from './screens/sessions.js';
// #16 bridges
import { ApiKeysScreen } from './screens/api-keys.js';
import { SetupScreen } from './screens/setup.js';
import { SignInScreen } from './screens/sign-in.js';
import { UserScreen } from './screens/user.js';
import { UsersScreen } from './screens/users.js';
// ---- email flows ----
import { isLinkRoute } from './router.js';
import { AccountLinkScreen } from './screens/account-links.js';
import { SecurityScreen } from './mfa/security.js'; // issue 15
import { StepUpNote } from './mfa/step-up-note.js'; // issue 15
import { StepUpNoteContext } from './forms.js'; // issue 15
// #19 webhooks
import { WebhooksScreen } from './screens/webhooks.js';

/** issue 15: the step-up prompt error notes show (forms.tsx StepUpNoteContext). */
const renderStepUpNote = () => <StepUpNote />;

/** The signed-in user and their session, as `auth.me` answers. */
type Me = RouterOutputs['auth']['me'];

const KEEP_ON_SIGN_OUT = new Set(['auth.setupStatus', 'auth.me']);

/** Forgets everything the previous user could see (only setup status and the session check stay). */
function forgetUserData(queryClient: QueryClient): void {
  queryClient.removeQueries({
    predicate: (query) => {
      const first = query.queryKey[0];
      return !(Array.isArray(first) && KEEP_ON_SIGN_OUT.has(first.join('.')));
    },
  });
}

export function App() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [notice, setNotice] = useState<string | null>(null);
  const setup = useQuery(trpc.auth.setupStatus.queryOptions(undefined, { staleTime: Infinity }));
  const needsSetup = setup.data?.needsSetup;
  const me = useQuery(
    trpc.auth.me.queryOptions(undefined, { enabled: needsSetup === false, retry: false, refetchOnWindowFocus: true }),
  );
  // ---- email flows: a link from a mail opens its screen, signed in or not ----
  const route = useRoute();

  useEffect(
    () =>
      onSessionEnded(() => {
        setNotice('Your session has ended. Sign in again to continue.');
        void queryClient.resetQueries({ queryKey: trpc.auth.me.queryKey() });
        forgetUserData(queryClient);
      }),
    [queryClient, trpc],
  );

  if (setup.isPending)
    return (
      <Centered>
        <Loading label="Connecting to Gatehouse…" />
      </Centered>
    );
  if (setup.isError) {
    return (
      <Centered>
        <h1>Gatehouse</h1>
        <ErrorNote error={setup.error} />
        <button type="button" onClick={() => void setup.refetch()}>
          Try again
        </button>
      </Centered>
    );
  }
  if (isLinkRoute(route) && needsSetup === false) {
    return (
      <AccountLinkScreen
        route={route}
        onSignedIn={async () => {
          setNotice(null);
          forgetUserData(queryClient);
          await queryClient.resetQueries({ queryKey: trpc.auth.me.queryKey() });
        }}
      />
    );
  }
  if (needsSetup) {
    return (
      <SetupScreen
        onDone={async () => {
          queryClient.setQueryData(trpc.auth.setupStatus.queryKey(), { needsSetup: false });
          await queryClient.resetQueries({ queryKey: trpc.auth.me.queryKey() });
        }}
        onAlreadySetUp={() => {
          setNotice('Gatehouse has already been set up. Sign in with your account.');
          queryClient.setQueryData(trpc.auth.setupStatus.queryKey(), { needsSetup: false });
        }}
      />
    );
  }
  if (me.isPending)
    return (
      <Centered>
        <Loading label="Checking your session…" />
      </Centered>
    );
  const signedOut = me.isError && isGatehouseError(me.error, 'UNAUTHORIZED', 'unauthenticated');
  // A failed re-check for another reason (the network) keeps the screens: the next call will tell.
  if (me.data && !signedOut) {
    return (
      // issue 15: error notes offer "Confirm it is you" for a step-up refusal.
      <StepUpNoteContext.Provider value={renderStepUpNote}>
        <Shell me={me.data} onSignedOut={() => setNotice('You have signed out.')} />
      </StepUpNoteContext.Provider>
    );
  }
  if (me.isError) {
    if (signedOut) {
      return (
        <SignInScreen
          notice={notice}
          onSignedIn={async () => {
            // #16 forward auth: back to the app behind the proxy; the server checks the origin again.
            const returnTo = new URLSearchParams(window.location.search).get('return_to');
            if (returnTo) {
              window.location.assign(`/auth/sign-in?rd=${encodeURIComponent(returnTo)}`);
              return;
            }
            setNotice(null);
            forgetUserData(queryClient);
            await queryClient.resetQueries({ queryKey: trpc.auth.me.queryKey() });
          }}
        />
      );
    }
    return (
      <Centered>
        <h1>Gatehouse</h1>
        <ErrorNote>{errorMessage(me.error)}</ErrorNote>
        <button type="button" onClick={() => void me.refetch()}>
          Try again
        </button>
      </Centered>
    );
  }
  return (
    <Centered>
      <Loading label="Checking your session…" />
    </Centered>
  );
}

function Centered({ children }: { children: ReactNode }) {
  return <main className="centered">{children}</main>;
}

interface NavItem {
  route: Exclude<Route, { name: 'not-found' }>;
  label: string;
  admin: boolean;
  matches: Route['name'][];
}

const NAV: NavItem[] = [
  { route: { name: 'home' }, label: 'Home', admin: false, matches: ['home'] },
  { route: { name: 'users' }, label: 'Users', admin: true, matches: ['users', 'user'] },
  { route: { name: 'audit' }, label: 'Audit log', admin: true, matches: ['audit'] },
  { route: { name: 'sessions' }, label: 'My sessions', admin: false, matches: ['sessions'] },
  { route: { name: 'profile' }, label: 'Profile', admin: false, matches: ['profile'] },
  // issue 15
  { route: { name: 'security' }, label: 'Security', admin: false, matches: ['security'] },
  // #16 bridges
  { route: { name: 'api-keys' }, label: 'API keys', admin: false, matches: ['api-keys'] },
  // #19 webhooks
  { route: { name: 'webhooks' }, label: 'Webhooks', admin: true, matches: ['webhooks'] },
  // #19 receipts
  { route: { name: 'security-history' }, label: 'My security history', admin: false, matches: ['security-history'] },
];

function Shell({ me, onSignedOut }: { me: Me; onSignedOut: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const route = useRoute();
  const isAdmin = me.user.role === 'admin';
  // The menu (on a phone) is open for the screen it was opened on: moving to another one folds it.
  const [menuOpenOn, setMenuOpenOn] = useState<Route | null>(null);
  const menuOpen = menuOpenOn === route;
  const first = useRef(true);

  // Every move to another screen re-checks the session, so a revoked one ends at the next click.
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    void queryClient.invalidateQueries({ queryKey: trpc.auth.me.queryKey() });
  }, [route, queryClient, trpc]);

  const signOut = useMutation(
    trpc.auth.signOut.mutationOptions({
      onSettled: async () => {
        onSignedOut();
        forgetUserData(queryClient);
        await queryClient.resetQueries({ queryKey: trpc.auth.me.queryKey() });
        navigate(href({ name: 'home' }));
      },
    }),
  );

  return (
    <div className="shell">
      <a
        className="skip"
        href="#main"
        onClick={(e) => {
          e.preventDefault();
          document.getElementById('main')?.focus();
        }}
      >
        Skip to content
      </a>
      <header className="topbar">
        <a className="brand" href={href({ name: 'home' })}>
          <Logo /> Gatehouse
        </a>
        <button
          type="button"
          className="menu-toggle secondary"
          aria-expanded={menuOpen}
          aria-controls="main-nav"
          onClick={() => setMenuOpenOn(menuOpen ? null : route)}
        >
          Menu
        </button>
        <nav id="main-nav" aria-label="Main" className={menuOpen ? 'nav nav-open' : 'nav'}>
          <ul>
            {NAV.filter((item) => isAdmin || !item.admin).map((item) => (
              <li key={item.label}>
                <a href={href(item.route)} aria-current={item.matches.includes(route.name) ? 'page' : undefined}>
                  {item.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div className="whoami">
          <span className="whoami-name" title={me.user.email}>
            {me.user.name}
            <span className="whoami-role">{ROLE_LABEL[me.user.role]}</span>
          </span>
          <button type="button" className="secondary" onClick={() => signOut.mutate()} disabled={signOut.isPending}>
            {signOut.isPending ? 'Signing out…' : 'Sign out'}
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Screen route={route} me={me} />
      </main>
    </div>
  );
}

function AdminOnly({ title }: { title: string }) {
  return (
    <Page title={title}>
      <p className="note note-error" role="alert">
        This screen is for administrators. Your account is a member account; ask an administrator if you need access.
      </p>
      <p>
        <a href={href({ name: 'home' })}>Back to your home screen</a>
      </p>
    </Page>
  );
}

function Screen({ route, me }: { route: Route; me: Me }) {
  const isAdmin = me.user.role === 'admin';
  // issue 15: MFA_REQUIRED covers this account and it has no factor yet: enrolment only.
  if (me.mfaEnrolmentRequired) return <SecurityScreen enrolmentRequired />;
  switch (route.name) {
    case 'home':
      return <HomeScreen user={me.user} />;
    case 'users':
      return isAdmin ? <UsersScreen /> : <AdminOnly title="Users" />;
    case 'user':
      return isAdmin ? <UserScreen id={route.id} viewer={me.user} /> : <AdminOnly title="User" />;
    case 'audit':
      return isAdmin ? <AuditScreen /> : <AdminOnly title="Audit log" />;
    case 'sessions':
      return <SessionsScreen />;
    case 'profile':
      return <ProfileScreen user={me.user} />;
    case 'security':
      return <SecurityScreen enrolmentRequired={false} />;
    case 'api-keys':
      return <ApiKeysScreen user={me.user} />;
    // #19 webhooks
    case 'webhooks':
      return isAdmin ? <WebhooksScreen /> : <AdminOnly title="Webhooks" />;
    // #19 receipts
    case 'security-history':
      return <SecurityHistoryScreen />;
    case 'not-found':
      return (
        <Page title="Page not found">
          <p>
            There is no screen at “{route.path}”. <a href={href({ name: 'home' })}>Go to the home screen</a>.
          </p>
        </Page>
      );
  }
}

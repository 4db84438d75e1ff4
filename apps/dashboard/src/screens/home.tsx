import { useQuery } from '@tanstack/react-query';
import type { User } from '@gatehouse/client';
import { useTRPC } from '@gatehouse/client/react';
import { Badge, Loading, Page, UserBadge } from '../components.js';
import { describeAgent, formatDate, formatRelative } from '../format.js';
import { ErrorNote } from '../forms.js';
import { href } from '../router.js';
import { CheckpointSummary, VerifyPanel } from './audit-integrity.js';
// #19 charts: the chart library comes with this chunk only (vite splits a dynamic import)
import { lazy, Suspense } from 'react';
const ActivityCharts = lazy(() => import('./activity-charts.js'));

/** `user`: the signed-in user. */
export function HomeScreen({ user: u }: { user: User }) {
  const trpc = useTRPC();
  const isAdmin = u.role === 'admin';
  const sessions = useQuery(trpc.session.list.queryOptions());
  const stats = useQuery({ ...trpc.session.stats.queryOptions(), enabled: isAdmin });
  return (
    <Page title={`Welcome, ${u.name}`}>
      <div className="cards">
        <section className="card" aria-labelledby="who">
          <h2 id="who">Who you are</h2>
          <dl className="facts">
            <div>
              <dt>Name</dt>
              <dd>{u.name}</dd>
            </div>
            <div>
              <dt>Email</dt>
              <dd>{u.email}</dd>
            </div>
            <div>
              <dt>Username</dt>
              <dd>{u.username ?? '—'}</dd>
            </div>
            <div>
              <dt>Role</dt>
              <dd>
                <UserBadge user={u} show="role" />
              </dd>
            </div>
            <div>
              <dt>Member since</dt>
              <dd>{formatDate(u.createdAt)}</dd>
            </div>
          </dl>
          <p>
            <a href={href({ name: 'profile' })}>Edit your profile or change your password</a>
          </p>
        </section>

        <section className="card" aria-labelledby="active-sessions">
          <h2 id="active-sessions">Your active sessions</h2>
          {sessions.isPending ? <Loading /> : null}
          {sessions.isError ? <ErrorNote error={sessions.error} /> : null}
          {sessions.data ? (
            <>
              <p className="big-number" data-testid="my-session-count">
                {sessions.data.length}
              </p>
              <ul className="plain">
                {sessions.data.slice(0, 4).map((s) => (
                  <li key={s.id}>
                    {describeAgent(s.userAgent)} · last active {formatRelative(s.lastSeenAt)}{' '}
                    {s.current ? <Badge tone="ok">This device</Badge> : null}
                  </li>
                ))}
              </ul>
              <p>
                <a href={href({ name: 'sessions' })}>Manage your sessions</a>
              </p>
            </>
          ) : null}
        </section>

        {isAdmin ? (
          <Suspense fallback={<Loading label="Loading the activity charts…" />}>
            <ActivityCharts />
          </Suspense>
        ) : null}

        {isAdmin ? (
          <section className="card card-wide" aria-labelledby="integrity">
            <h2 id="integrity">Audit log integrity</h2>
            <CheckpointSummary />
            {stats.data ? (
              <p className="muted">
                {stats.data.active} active session{stats.data.active === 1 ? '' : 's'} across all users (
                {stats.data.cached} cached in this server).
              </p>
            ) : null}
            {stats.isError ? <ErrorNote error={stats.error} /> : null}
            <VerifyPanel />
            <p>
              <a href={href({ name: 'audit' })}>Open the audit log</a>
            </p>
          </section>
        ) : null}
      </div>
    </Page>
  );
}

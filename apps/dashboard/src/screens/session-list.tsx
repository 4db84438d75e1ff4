import type { ReactNode } from 'react';
import type { Session } from '@gatehouse/client';
import { Badge, Empty } from '../components.js';
import { describeAgent, formatDate, formatRelative } from '../format.js';

/** Sessions as a list of cards (readable at 375 px), each with its own action. */
export function SessionList({
  sessions,
  action,
  emptyText,
}: {
  sessions: Session[];
  action: (session: Session) => ReactNode;
  emptyText: string;
}) {
  if (sessions.length === 0) return <Empty>{emptyText}</Empty>;
  return (
    <ul className="session-list" aria-label="Sessions">
      {sessions.map((s) => (
        <li key={s.id} className={s.current ? 'session session-current' : 'session'} data-testid="session">
          <div className="session-main">
            <p className="session-title">
              {describeAgent(s.userAgent)} {s.current ? <Badge tone="ok">This device</Badge> : null}{' '}
              {s.rememberMe ? <Badge>Remembered</Badge> : null}
            </p>
            <p className="muted">
              {s.ip ? `From ${s.ip} · ` : ''}signed in {formatDate(s.createdAt)} · last active{' '}
              <time dateTime={s.lastSeenAt.toISOString()}>{formatRelative(s.lastSeenAt)}</time> · expires{' '}
              {formatDate(s.expiresAt)}
            </p>
          </div>
          <div className="session-action">{action(s)}</div>
        </li>
      ))}
    </ul>
  );
}

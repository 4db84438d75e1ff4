import { Component, useEffect, useRef, useState, type ReactNode } from 'react';
import type { User } from '@gatehouse/client';

/** A screen: its heading takes keyboard focus when it opens, so screen readers announce it. */
export function Page({
  title,
  intro,
  actions,
  children,
}: {
  title: string;
  intro?: ReactNode;
  actions?: ReactNode;
  children: ReactNode;
}) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    heading.current?.focus();
    document.title = `${title} · Gatehouse`;
  }, [title]);
  return (
    <>
      <div className="page-head">
        <h1 ref={heading} tabIndex={-1}>
          {title}
        </h1>
        {actions ? <div className="page-actions">{actions}</div> : null}
      </div>
      {intro ? <p className="intro">{intro}</p> : null}
      {children}
    </>
  );
}

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <p className="loading" role="status">
      <span className="spinner" aria-hidden="true" /> {label}
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

type Tone = 'neutral' | 'ok' | 'warn' | 'bad' | 'info';

export function Badge({ tone = 'neutral', children }: { tone?: Tone; children: ReactNode }) {
  return <span className={`badge badge-${tone}`}>{children}</span>;
}

/** How a role reads everywhere: badges, the role picker, the top bar. */
export const ROLE_LABEL: Record<User['role'], string> = { admin: 'Administrator', member: 'Member' };

const ROLE_TONE: Record<User['role'], Tone> = { admin: 'info', member: 'neutral' };

/** A user's role or status: the same words and colours on every screen. */
export function UserBadge({ user, show }: { user: Pick<User, 'role' | 'isActive'>; show: 'role' | 'status' }) {
  if (show === 'role') return <Badge tone={ROLE_TONE[user.role]}>{ROLE_LABEL[user.role]}</Badge>;
  return user.isActive ? <Badge tone="ok">Active</Badge> : <Badge tone="warn">Deactivated</Badge>;
}

/** Keyset pagination: a stack of the cursors that opened each page seen so far. */
export function usePager() {
  const [stack, setStack] = useState<Array<string | null>>([null]);
  const page = stack.length;
  return {
    cursor: stack[stack.length - 1] ?? null,
    page,
    next: (cursor: string) => setStack((s) => [...s, cursor]),
    previous: () => setStack((s) => (s.length > 1 ? s.slice(0, -1) : s)),
    reset: () => setStack([null]),
  };
}

export function Pager({
  page,
  hasNext,
  onPrevious,
  onNext,
  summary,
  label,
}: {
  page: number;
  hasNext: boolean;
  onPrevious: () => void;
  onNext: () => void;
  summary?: ReactNode;
  label: string;
}) {
  return (
    <nav className="pager" aria-label={label}>
      <button type="button" className="secondary" onClick={onPrevious} disabled={page <= 1}>
        ← Previous
      </button>
      <span className="pager-summary" aria-live="polite">
        {summary ?? `Page ${page}`}
      </span>
      <button type="button" className="secondary" onClick={onNext} disabled={!hasNext}>
        Next →
      </button>
    </nav>
  );
}

/**
 * A button that asks first: the question replaces it, and focus moves to "Cancel" so a stray
 * Enter never confirms a destructive action.
 */
export function ConfirmButton({
  label,
  question,
  confirmLabel,
  onConfirm,
  busy,
  tone = 'danger',
  disabled,
}: {
  label: string;
  question: ReactNode;
  confirmLabel: string;
  onConfirm: () => void;
  busy?: boolean;
  tone?: 'danger' | 'secondary';
  disabled?: boolean;
}) {
  const [asking, setAsking] = useState(false);
  const cancel = useRef<HTMLButtonElement>(null);
  const trigger = useRef<HTMLButtonElement>(null);
  const wasAsking = useRef(false);
  useEffect(() => {
    if (asking) cancel.current?.focus();
    else if (wasAsking.current) trigger.current?.focus();
    wasAsking.current = asking;
  }, [asking]);
  if (!asking) {
    return (
      <button ref={trigger} type="button" className={tone} onClick={() => setAsking(true)} disabled={disabled || busy}>
        {label}
      </button>
    );
  }
  return (
    <div className="confirm" role="alertdialog" aria-label={label}>
      <p>{question}</p>
      <div className="row">
        <button
          type="button"
          className="danger"
          disabled={busy}
          onClick={() => {
            onConfirm();
            setAsking(false);
          }}
        >
          {busy ? 'Working…' : confirmLabel}
        </button>
        <button ref={cancel} type="button" className="secondary" onClick={() => setAsking(false)}>
          Cancel
        </button>
      </div>
    </div>
  );
}

export function useDebounced<T>(value: T, ms: number): T {
  const [debounced, setDebounced] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setDebounced(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return debounced;
}

/** The Gatehouse mark (a shield with a check), drawn inline: no font or image request needed. */
/** The page of a signed-out screen (setup, sign-in): the brand above a card with the screen's title. */
export function AuthPage({ title, children }: { title: string; children: ReactNode }) {
  return (
    <main className="auth-page">
      <div className="auth-card">
        <p className="brand-large" aria-hidden="true">
          <Logo size={28} /> Gatehouse
        </p>
        <h1>{title}</h1>
        {children}
      </div>
    </main>
  );
}

export function Logo({ size = 22 }: { size?: number }) {
  return (
    <svg className="logo" aria-hidden="true" focusable="false" viewBox="0 0 24 24" width={size} height={size}>
      <path d="M12 2 4 5v6c0 5.2 3.4 9.6 8 11 4.6-1.4 8-5.8 8-11V5l-8-3Z" fill="currentColor" />
      <path
        d="m8.5 12.2 2.4 2.4 4.6-5"
        fill="none"
        stroke="#fff"
        strokeWidth="2"
        strokeLinecap="round"
        strokeLinejoin="round"
      />
    </svg>
  );
}

/** A screen that fails to render says so in words, instead of leaving a blank page. */
export class ErrorBoundary extends Component<{ children: ReactNode }, { failed: boolean }> {
  override state = { failed: false };

  static getDerivedStateFromError(): { failed: boolean } {
    return { failed: true };
  }

  override componentDidCatch(error: unknown): void {
    console.error('The dashboard failed to render', error);
  }

  override render(): ReactNode {
    if (!this.state.failed) return this.props.children;
    return (
      <main className="centered">
        <h1>Something went wrong</h1>
        <p role="alert">This page could not be shown. Reloading usually helps; your data is safe on the server.</p>
        <button type="button" onClick={() => window.location.reload()}>
          Reload
        </button>
      </main>
    );
  }
}

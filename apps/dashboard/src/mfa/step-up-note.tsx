/**
 * issue 15: what ErrorNote shows for `reauthentication_required` anywhere in the dashboard: the
 * sentence, and the prompt to confirm it is you (password, code or passkey). Once confirmed, the
 * person repeats the action (it is allowed for the next 10 minutes).
 */
import { useState } from 'react';
import { ReauthenticatePrompt } from './security.js';

export function StepUpNote() {
  const [state, setState] = useState<'asking' | 'confirmed' | 'cancelled'>('asking');
  return (
    <div className="note note-error" role="alert">
      <p>For your security, confirm it is you before doing that.</p>
      {state === 'asking' ? (
        <ReauthenticatePrompt embedded onDone={() => setState('confirmed')} onCancel={() => setState('cancelled')} />
      ) : state === 'confirmed' ? (
        <p>Confirmed. Now try again.</p>
      ) : null}
    </div>
  );
}

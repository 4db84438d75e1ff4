import { createContext, useContext, useId, useState, type InputHTMLAttributes, type ReactNode } from 'react';
import type { z } from 'zod';
import { errorMessage, serverFieldErrors, type FieldErrors } from './errors.js';
import { isGatehouseError } from '@gatehouse/client';

export type Parsed<T> = { ok: true; data: T } | { ok: false; errors: FieldErrors };

/** Validates with the API's own schema (`@gatehouse/api/schemas`): one message per field. */
function parseWith<S extends z.ZodType>(schema: S, values: unknown): Parsed<z.output<S>> {
  const result = schema.safeParse(values);
  if (result.success) return { ok: true, data: result.data };
  const errors: FieldErrors = {};
  for (const issue of result.error.issues) {
    const key = issue.path.map(String).join('.') || 'form';
    errors[key] ??= issue.message;
  }
  return { ok: false, errors };
}

/** Moves keyboard focus to the first field with a message, so the person lands where to fix it. */
function focusFirstError(form: HTMLFormElement | null, errors: FieldErrors): void {
  if (!form) return;
  for (const element of Array.from(form.elements)) {
    const name = (element as HTMLInputElement).name;
    if (name && errors[name]) {
      (element as HTMLElement).focus();
      return;
    }
  }
}

/** Merges client-side messages with what the server said about each field. */
export function fieldErrorsOf(local: FieldErrors, serverError: unknown): FieldErrors {
  return { ...serverFieldErrors(serverError), ...local };
}

/**
 * What every form here keeps: the values as typed, the messages shown beside the fields, and the
 * form element, so that the first field with a message gets the keyboard focus. `onEdit` runs on
 * every keystroke (forms use it to take back a "Saved." note).
 *
 * `const { setElement, ...form } = useForm(…)` and `<form ref={setElement}>`: the element arrives
 * through a callback ref kept apart from `form`, whose parts (`form.field(…)`) are read while
 * rendering — React's rules forbid reading an object that holds a ref during render.
 */
export function useForm<V extends Record<string, string>>(initial: V | (() => V), onEdit?: () => void) {
  const [element, setElement] = useState<HTMLFormElement | null>(null);
  const [values, setValues] = useState<V>(initial);
  const [errors, setErrors] = useState<FieldErrors>({});
  const set = (key: keyof V) => (value: string) => {
    onEdit?.();
    setValues((v) => ({ ...v, [key]: value }));
  };
  const showErrors = (shown: FieldErrors) => {
    setErrors(shown);
    focusFirstError(element, shown);
  };
  return {
    setElement,
    values,
    setValues,
    errors,
    setErrors,
    /** The change handler of the input for `key`. */
    set,
    /** What ties a `<Field>` or `<SelectField>` to `key`: its name, value, change handler, message. */
    field: (key: keyof V & string) => ({ name: key, value: values[key], onValue: set(key), error: errors[key] }),
    /**
     * Checks `input` with the API's schema, plus `extra` messages of the form's own (a repeated
     * password): the parsed input when all is well, otherwise `undefined` with the messages shown.
     */
    validate<S extends z.ZodType>(schema: S, input: unknown, extra: FieldErrors = {}): z.output<S> | undefined {
      const parsed = parseWith(schema, input);
      const shown = { ...(parsed.ok ? {} : parsed.errors), ...extra };
      if (!parsed.ok || Object.keys(shown).length > 0) {
        showErrors(shown);
        return undefined;
      }
      setErrors({});
      return parsed.data;
    },
    /** A mutation's `onError`: what the server said about each field (a taken email…), beside it. */
    showServerErrors: (error: unknown) => showErrors(fieldErrorsOf({}, error)),
  };
}

interface FieldProps extends Omit<InputHTMLAttributes<HTMLInputElement>, 'onChange' | 'value'> {
  label: string;
  name: string;
  value: string;
  onValue: (value: string) => void;
  error?: string | undefined;
  hint?: ReactNode;
}

export function Field({ label, name, value, onValue, error, hint, type = 'text', ...rest }: FieldProps) {
  const id = useId();
  const hintId = hint ? `${id}-hint` : undefined;
  const errorId = error ? `${id}-error` : undefined;
  const describedBy = [hintId, errorId].filter(Boolean).join(' ') || undefined;
  return (
    <div className={error ? 'field field-invalid' : 'field'}>
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        name={name}
        type={type}
        value={value}
        onChange={(e) => onValue(e.target.value)}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy}
        {...rest}
      />
      {hint ? (
        <p className="hint" id={hintId}>
          {hint}
        </p>
      ) : null}
      {error ? (
        <p className="field-error" id={errorId}>
          {error}
        </p>
      ) : null}
    </div>
  );
}

interface SelectProps {
  label: string;
  name: string;
  value: string;
  onValue: (value: string) => void;
  options: ReadonlyArray<{ value: string; label: string }>;
  error?: string | undefined;
  disabled?: boolean;
}

export function SelectField({ label, name, value, onValue, options, error, disabled }: SelectProps) {
  const id = useId();
  return (
    <div className={error ? 'field field-invalid' : 'field'}>
      <label htmlFor={id}>{label}</label>
      <select
        id={id}
        name={name}
        value={value}
        disabled={disabled}
        onChange={(e) => onValue(e.target.value)}
        aria-invalid={error ? true : undefined}
      >
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
      {error ? <p className="field-error">{error}</p> : null}
    </div>
  );
}

export function Checkbox({
  label,
  name,
  checked,
  onChecked,
}: {
  label: string;
  name: string;
  checked: boolean;
  onChecked: (v: boolean) => void;
}) {
  const id = useId();
  return (
    <div className="field field-check">
      <input id={id} name={name} type="checkbox" checked={checked} onChange={(e) => onChecked(e.target.checked)} />
      <label htmlFor={id}>{label}</label>
    </div>
  );
}

/** The message of a failed call, announced to screen readers. */
/**
 * issue 15: what an error note shows for `reauthentication_required` (the app provides the
 * "Confirm it is you" prompt, mfa/step-up-note.tsx); without a provider, the sentence alone.
 */
export const StepUpNoteContext = createContext<(() => ReactNode) | null>(null);

export function ErrorNote({ error, children }: { error?: unknown; children?: ReactNode }) {
  const stepUpNote = useContext(StepUpNoteContext);
  if (!error && !children) return null;
  // issue 15: a refused sensitive action offers to confirm it is you, right there.
  if (!children && stepUpNote && isGatehouseError(error, 'FORBIDDEN', 'reauthentication_required')) {
    return stepUpNote();
  }
  return (
    <p className="note note-error" role="alert">
      {children ?? errorMessage(error)}
    </p>
  );
}

export function SuccessNote({ children }: { children: ReactNode }) {
  return (
    <p className="note note-ok" role="status">
      {children}
    </p>
  );
}

export interface IdentityValues {
  name: string;
  email: string;
  /** As typed: empty means "no username". */
  username: string;
}

/** The name, email and username fields that differ from the stored account (an update's input). */
export function identityChanges(
  values: IdentityValues,
  current: { name: string; email: string; username: string | null },
): { name?: string; email?: string; username?: string | null } {
  const changes: { name?: string; email?: string; username?: string | null } = {};
  if (values.name !== current.name) changes.name = values.name;
  if (values.email !== current.email) changes.email = values.email;
  const username = values.username.trim() === '' ? null : values.username;
  if (username !== current.username) changes.username = username;
  return changes;
}

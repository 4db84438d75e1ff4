import { isGatehouseError } from '@gatehouse/client';

export type FieldErrors = Record<string, string>;

const FIELD_WORDS: Record<string, string> = {
  email: 'email address',
  username: 'username',
  name: 'name',
  identifier: 'email or username',
};

function seconds(n: number): string {
  if (n < 60) return `${n} second${n === 1 ? '' : 's'}`;
  const minutes = Math.ceil(n / 60);
  return `${minutes} minute${minutes === 1 ? '' : 's'}`;
}

/** A sentence a person understands, for any error a call can end with. */
export function errorMessage(error: unknown): string {
  if (!isGatehouseError(error)) {
    if (error instanceof Error && /fetch|network|load failed/i.test(error.message)) {
      return 'The server could not be reached. Check your connection and try again.';
    }
    return 'Something went wrong. Try again in a moment.';
  }
  const { code, retryAfterSeconds, zodError, field } = error.data;
  const message = error.message;
  switch (code) {
    case 'BAD_REQUEST':
      if (zodError) return 'Some of the details are not valid. Check the highlighted fields.';
      return message || 'Those details were not accepted.';
    case 'UNAUTHORIZED':
      if (message === 'Invalid credentials') return 'That email or username and password do not match.';
      return 'Your session has ended. Sign in again.';
    case 'FORBIDDEN':
      if (/cross-origin/i.test(message))
        return 'The request was refused because it did not come from this dashboard’s own address.';
      if (/sign ?up/i.test(message)) return 'Creating an account yourself is not enabled on this server.';
      return 'You do not have permission to do that.';
    case 'NOT_FOUND':
      return message && message !== 'NOT_FOUND'
        ? `${message}. It may have been removed already.`
        : 'That could not be found. It may have been removed already.';
    case 'CONFLICT':
      if (field) return `That ${FIELD_WORDS[field] ?? field} is already in use.`;
      if (/last active admin/i.test(message)) {
        return 'This is the last active administrator, so that is not possible: make another user an administrator first.';
      }
      return message || 'That conflicts with the current state. Reload and try again.';
    case 'PRECONDITION_FAILED':
      return message || 'That is no longer possible.';
    case 'TOO_MANY_REQUESTS':
      return retryAfterSeconds !== null && retryAfterSeconds !== undefined
        ? `Too many attempts. Wait ${seconds(retryAfterSeconds)} and try again.`
        : 'Too many attempts. Wait a little and try again.';
    case 'INTERNAL_SERVER_ERROR':
      return 'Something went wrong on the server. Try again in a moment.';
    default:
      return message || 'Something went wrong. Try again in a moment.';
  }
}

/** Field-level messages the server sent back (validation issues, or the field a conflict is about). */
export function serverFieldErrors(error: unknown): FieldErrors {
  if (!isGatehouseError(error)) return {};
  const out: FieldErrors = {};
  const fieldErrors = error.data.zodError?.fieldErrors ?? {};
  for (const [key, messages] of Object.entries(fieldErrors)) {
    const first = messages?.[0];
    if (first) out[key] = first;
  }
  const field = error.data.field;
  if (field && !out[field]) {
    out[field] =
      error.data.code === 'CONFLICT' ? `That ${FIELD_WORDS[field] ?? field} is already in use` : error.message;
  }
  return out;
}

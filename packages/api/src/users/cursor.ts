import { DomainError } from '../errors.js';

/** A position in the user list: the (created_at, id) of the last user of the previous page. */
export interface UserCursor {
  createdAt: Date;
  id: string;
}

const invalidCursor = () => new DomainError('BAD_REQUEST', 'invalid_input', 'Invalid cursor');

/** Opaque to clients: base64url of `[createdAt ISO, id]`. */
export function encodeUserCursor(cursor: UserCursor): string {
  return Buffer.from(JSON.stringify([cursor.createdAt.toISOString(), cursor.id]), 'utf8').toString('base64url');
}

/** BAD_REQUEST for anything `encodeUserCursor` did not produce. */
export function decodeUserCursor(text: string): UserCursor {
  if (!/^[A-Za-z0-9_-]+$/.test(text)) throw invalidCursor();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw invalidCursor();
  }
  if (!Array.isArray(parsed) || parsed.length !== 2) throw invalidCursor();
  const [at, id] = parsed as unknown[];
  if (typeof at !== 'string' || typeof id !== 'string' || id.length === 0 || id.length > 128) throw invalidCursor();
  const createdAt = new Date(at);
  if (Number.isNaN(createdAt.getTime()) || createdAt.toISOString() !== at) throw invalidCursor();
  return { createdAt, id };
}

/**
 * The one identifier rule. An account is found by its email or its username, compared in a
 * normalized form that is stored next to each (`users.email_key`, `users.username_key`, unique)
 * and computed here and nowhere else: Unicode NFKC (so look-alike compatibility forms such as
 * full-width letters are the same identifier), surrounding spaces trimmed, lower-cased.
 *
 * Sign-in, the CLI, the admin look-up and uniqueness all go through `identifierKey`, so
 * "Root@Example.com", " root@example.com " and "ｒｏｏｔ@example.com" name the same account everywhere.
 */
export function identifierKey(text: string): string {
  return text.normalize('NFKC').trim().toLowerCase();
}

/** Emails contain '@' and usernames cannot (usernameSchema): one indexed look-up either way. */
export function identifierColumn(key: string): 'email_key' | 'username_key' {
  return key.includes('@') ? 'email_key' : 'username_key';
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A user id as the API issues them (UUID v4 text). Usernames are at most 32 characters: never one. */
export function isUserId(text: string): boolean {
  return UUID.test(text.trim());
}

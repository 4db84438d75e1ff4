/** The escape character of every LIKE pattern built here (`… LIKE ? ESCAPE '\'`). */
const LIKE_ESCAPE = '\\';

/**
 * A LIKE pattern matching `text` anywhere, with the wildcards `%` and `_` (and the escape
 * character itself) in the input matched literally. Lower-cased: compare with `lower(column)`.
 */
export function containsPattern(text: string): string {
  const escaped = text.toLowerCase().replace(/[\\%_]/g, (c) => LIKE_ESCAPE + c);
  return `%${escaped}%`;
}

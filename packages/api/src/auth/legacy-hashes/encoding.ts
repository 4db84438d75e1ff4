/**
 * The encodings legacy hash strings use. Every decoder is strict: a character outside the
 * alphabet, or a length no encoder produces, is a malformed hash (null), never a silent truncation.
 */
const STANDARD = /^[A-Za-z0-9+/]*={0,2}$/;
const PASSLIB = /^[A-Za-z0-9./]*$/;
const HEX = /^(?:[0-9a-f]{2})*$/i;

function decodeBase64(text: string): Buffer | null {
  if (text.replace(/=+$/, '').length % 4 === 1) return null;
  const bytes = Buffer.from(text, 'base64');
  // Re-encoding must give the same text (no stray bits, no skipped characters).
  return bytes.toString('base64').replace(/=+$/, '') === text.replace(/=+$/, '') ? bytes : null;
}

/** Standard base64, padded or not (Django, argon2). */
export function fromBase64(text: string): Buffer | null {
  return STANDARD.test(text) ? decodeBase64(text) : null;
}

/** passlib's "adapted base64" (ab64): standard base64 with `.` for `+`, unpadded. */
export function fromPasslibBase64(text: string): Buffer | null {
  return PASSLIB.test(text) ? decodeBase64(text.replaceAll('.', '+')) : null;
}

export function fromHex(text: string): Buffer | null {
  return text.length > 0 && HEX.test(text) ? Buffer.from(text, 'hex') : null;
}

/** A decimal integer without sign, leading zeros or exponent; null otherwise. */
export function parseCount(text: string | undefined): number | null {
  if (text === undefined || !/^(?:0|[1-9]\d{0,9})$/.test(text)) return null;
  return Number(text);
}

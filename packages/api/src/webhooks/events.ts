/**
 * Which audit events an endpoint receives: a list of exact event types (AUDIT_EVENT_TYPES),
 * prefixes like `auth.*`, or `*` for all.
 */
import { AUDIT_EVENT_TYPES } from '../audit/types.js';
import { DomainError } from '../errors.js';

const MAX_EVENT_PATTERNS = 100;

const prefixes = new Set(AUDIT_EVENT_TYPES.map((t) => t.slice(0, t.indexOf('.'))));
const types = new Set<string>(AUDIT_EVENT_TYPES);

/** Sorted, deduplicated patterns; BAD_REQUEST `invalid_input` (field `events`) for an unknown one. */
export function normalizeEventPatterns(patterns: readonly string[]): string[] {
  const unique = [...new Set(patterns.map((p) => p.trim()))];
  if (unique.length === 0 || unique.length > MAX_EVENT_PATTERNS) {
    throw new DomainError('BAD_REQUEST', 'invalid_input', `Name between 1 and ${MAX_EVENT_PATTERNS} event types`, {
      field: 'events',
    });
  }
  const unknown = unique.filter((p) => {
    if (p === '*') return false;
    if (p.endsWith('.*')) return !prefixes.has(p.slice(0, -2));
    return !types.has(p);
  });
  if (unknown.length > 0) {
    throw new DomainError('BAD_REQUEST', 'invalid_input', `Unknown event types: ${unknown.join(', ')}`, {
      field: 'events',
    });
  }
  return unique.includes('*') ? ['*'] : unique.sort();
}

export function encodeEvents(patterns: readonly string[]): string {
  return patterns.join(' ');
}

export function decodeEvents(text: string): string[] {
  return text.split(' ').filter(Boolean);
}

/** True when `type` is selected by one of `patterns`. */
export function matchesEvent(patterns: readonly string[], type: string): boolean {
  return patterns.some((p) => p === '*' || p === type || (p.endsWith('.*') && type.startsWith(p.slice(0, -1))));
}

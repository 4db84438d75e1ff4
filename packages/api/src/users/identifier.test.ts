import { describe, expect, it } from 'vitest';
import { identifierColumn, identifierKey, isUserId } from './identifier.js';

describe('the identifier rule', () => {
  it('folds case, surrounding spaces and Unicode compatibility forms, and nothing else', () => {
    expect(identifierKey('  Root@Example.COM ')).toBe('root@example.com');
    expect(identifierKey('ＲＯＯＴ.Admin')).toBe('root.admin'); // full-width letters
    expect(identifierKey('ﬁona')).toBe('fiona'); // the "ﬁ" ligature
    expect(identifierKey('ada lovelace')).toBe('ada lovelace'); // inner spaces stay
    expect(identifierKey('ada')).not.toBe(identifierKey('adа')); // Cyrillic "а" is another letter
  });

  it('looks emails up by email and everything else by username', () => {
    expect(identifierColumn('ada@example.com')).toBe('email_key');
    expect(identifierColumn('ada')).toBe('username_key');
  });

  it('knows a user id from a username (usernames are at most 32 characters)', () => {
    expect(isUserId('0f8fad5b-d9cb-469f-a165-70867728950e')).toBe(true);
    expect(isUserId(' 0F8FAD5B-D9CB-469F-A165-70867728950E ')).toBe(true);
    expect(isUserId('0f8fad5b')).toBe(false);
  });
});

import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  checkpointBody,
  defaultOrigin,
  keyId,
  loadOrCreateSigningKey,
  openSignedNote,
  parseCheckpointBody,
  parseVerifierKey,
  signCheckpoint,
  signNote,
  signerFromPrivateKey,
  verifyCheckpointNote,
} from './checkpoint.js';
import { EMPTY_ROOT, hashLeaf } from './merkle.js';
import { leavesExtension, parseLeavesExtension } from './leaf-digests.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-audit-key-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const origin = 'gatehouse/example.com';
const signer = signerFromPrivateKey(origin, generateKeyPairSync('ed25519').privateKey);
const cp = { origin, treeSize: 42, rootHash: hashLeaf(Buffer.from('x')) };

describe('signed checkpoints', () => {
  it('formats the C2SP checkpoint note exactly', () => {
    const note = signCheckpoint(cp, signer);
    const lines = note.split('\n');
    expect(lines.slice(0, 4)).toEqual([origin, '42', cp.rootHash.toString('base64'), '']);
    expect(lines[4]).toMatch(/^\u2014 gatehouse\/example\.com [A-Za-z0-9+/]+={0,2}$/);
    expect(lines[5]).toBe('');
    const sig = Buffer.from((lines[4] as string).split(' ')[2] as string, 'base64');
    expect(sig).toHaveLength(68);
    expect(sig.subarray(0, 4)).toEqual(signer.keyId);
  });

  it('derives the key id and verifier key as the signed-note spec says', () => {
    const raw = Buffer.from(signer.text.slice(origin.length + 10), 'base64').subarray(1);
    expect(keyId(origin, raw)).toEqual(signer.keyId);
    expect(signer.text).toMatch(/^gatehouse\/example\.com\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$/);
    const parsed = parseVerifierKey(signer.text);
    expect(parsed.text).toBe(signer.text);
  });

  it('signs extension lines with the body and returns them, the leaves digests among them', () => {
    const leaves = [Buffer.alloc(32, 1), Buffer.alloc(32, 2)];
    const withLeaves = { ...cp, extensions: [leavesExtension(40, leaves)] };
    const note = signCheckpoint(withLeaves, signer);
    expect(note.split('\n')[3]).toBe(
      `leaves 40 ${Buffer.concat([Buffer.alloc(16, 1), Buffer.alloc(16, 2)]).toString('base64')}`,
    );
    const opened = verifyCheckpointNote(note, parseVerifierKey(signer.text));
    expect(opened).toEqual(withLeaves);
    expect(parseLeavesExtension(opened.extensions, 42)).toEqual({
      from: 40,
      digests: ['01'.repeat(16), '02'.repeat(16)],
    });
    // Digests that do not end at the checkpoint's size are not taken.
    expect(parseLeavesExtension(opened.extensions, 43)).toBeNull();
    expect(() => signCheckpoint({ ...cp, extensions: ['two\nlines'] }, signer)).toThrow(/extension/);
    expect(() => verifyCheckpointNote(note.replace('leaves 40', 'leaves 39'), parseVerifierKey(signer.text))).toThrow(
      /signature/,
    );
  });

  it('verifies a note and rejects tampering', () => {
    const note = signCheckpoint(cp, signer);
    const verifier = parseVerifierKey(signer.text);
    expect(verifyCheckpointNote(note, verifier)).toEqual(cp);
    expect(() => verifyCheckpointNote(note.replace('\n42\n', '\n43\n'), verifier)).toThrow(/signature/);
    const other = signerFromPrivateKey(origin, generateKeyPairSync('ed25519').privateKey);
    expect(() => verifyCheckpointNote(note, parseVerifierKey(other.text))).toThrow(/not signed/);
    expect(() => verifyCheckpointNote(note.trimEnd(), verifier)).toThrow();
    // A cosignature by an unknown key is ignored, ours still counts.
    const cosigned = `${note}\u2014 someone AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n`;
    expect(verifyCheckpointNote(cosigned, verifier).treeSize).toBe(42);
  });

  it('parses checkpoint bodies strictly', () => {
    expect(parseCheckpointBody(checkpointBody({ origin, treeSize: 0, rootHash: EMPTY_ROOT })).treeSize).toBe(0);
    expect(() => parseCheckpointBody(`${origin}\n042\n${EMPTY_ROOT.toString('base64')}\n`)).toThrow();
    expect(() => parseCheckpointBody(`${origin}\n1\nAAAA\n`)).toThrow();
    expect(() => parseCheckpointBody(`${origin}\n1\n${EMPTY_ROOT.toString('base64')}`)).toThrow();
    expect(parseCheckpointBody(`${origin}\n1\n${EMPTY_ROOT.toString('base64')}\next\n`).treeSize).toBe(1);
  });

  it('parses verifier keys whose base64 contains "+"', () => {
    for (let i = 0; i < 200; i++) {
      const s = signerFromPrivateKey(origin, generateKeyPairSync('ed25519').privateKey);
      if (!s.text.slice(origin.length + 10).includes('+')) continue;
      expect(parseVerifierKey(s.text).keyId).toEqual(s.keyId);
      return;
    }
    throw new Error('no key with "+" in 200 tries');
  });

  it('rejects a verifier key whose id does not match', () => {
    const key = signer.text.slice(origin.length + 10);
    expect(() => parseVerifierKey(`${origin}+00000000+${key}`)).toThrow(/key id/);
    expect(() => parseVerifierKey('nope')).toThrow();
  });

  it('builds the default origin from PUBLIC_ORIGIN', () => {
    expect(defaultOrigin('https://auth.example.com')).toBe('gatehouse/auth.example.com');
    expect(defaultOrigin('http://localhost:3000')).toBe('gatehouse/localhost:3000');
  });
});

describe('signing key file', () => {
  it('is created once with mode 0600 and reloaded', () => {
    const file = join(dir, 'nested', 'audit.key');
    const first = loadOrCreateSigningKey(file, origin);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const second = loadOrCreateSigningKey(file, origin);
    expect(second.text).toBe(first.text);
  });

  it('refuses a key file readable by others', () => {
    const file = join(dir, 'loose.key');
    loadOrCreateSigningKey(file, origin);
    chmodSync(file, 0o644);
    expect(() => loadOrCreateSigningKey(file, origin)).toThrow(/chmod 600/);
  });

  it('refuses a file that is not a key', () => {
    const file = join(dir, 'garbage.key');
    writeFileSync(file, 'hello', { mode: 0o600 });
    expect(() => loadOrCreateSigningKey(file, origin)).toThrow(/PEM/);
  });
});

// Known answers from the signed-note specification (c2sp.org/signed-note, "Example") and from the
// documentation of Go's golang.org/x/mod/sumdb/note, the reference implementation.
describe('signed-note known answers', () => {
  const goText =
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
  const goNote = `${goText}\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`;
  const goVerifier = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
  const goSigner = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
  const specNote =
    'This is an example message.\n\n\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n';
  const specVerifier = 'example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k';

  it('derives the published key ids and opens the published notes', () => {
    expect(openSignedNote(goNote, parseVerifierKey(goVerifier))).toBe(goText);
    expect(openSignedNote(specNote, parseVerifierKey(specVerifier))).toBe('This is an example message.\n');
    expect(() => openSignedNote(goNote.replace('problem,', 'problem;'), parseVerifierKey(goVerifier))).toThrow(
      /signature/,
    );
  });

  it('signs exactly as the reference implementation (Ed25519 is deterministic)', () => {
    // The Go private key string carries the 32-byte seed after the 0x01 algorithm byte.
    const seed = Buffer.from(goSigner.slice('PRIVATE+KEY+PeterNeumann+c74f20a3+'.length), 'base64').subarray(1);
    const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
    const signer = signerFromPrivateKey('PeterNeumann', createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }));
    expect(signer.text).toBe(goVerifier);
    expect(signNote(goText, signer)).toBe(goNote);
  });
});
